// One acquisition: the DAQ listening to its data sources, matching their trains, and (while a run is
// being recorded) handing every matched train to a run recorder. Monitoring and recording differ only
// in whether a recorder is attached, so the live figures are the same in both.
import type { DeviceClient, Hash, Timestamp } from "../core/index.ts";
import { type ErrorDetails, SaseError, timestampNow } from "../core/index.ts";
import type { DataToken } from "../pipeline/index.ts";
import { channelRegistry } from "../pipeline/index.ts";
import { closest, type MatchedTrain, type SourceProblem, TrainMatcher } from "../pipeline/index.ts";
import type { ControlValues, RecorderOptions, RecordingSummary, TrainToRecord } from "./recorder.ts";
import { RunRecorder } from "./recorder.ts";
import { aggregatorFor, ControlSource, InstrumentSource, sourceKind } from "./sources.ts";

/** Options of an acquisition. */
export interface AcquisitionOptions {
  readonly client: DeviceClient;
  /** Device ids (control) and "<device>:<channel>" outputs (instrument). */
  readonly sources: readonly string[];
  /** How long a train waits for missing instrument sources (default 500 ms). */
  readonly trainTimeoutMs?: number;
  /** Prefix of the DAQ's input channel ids. */
  readonly daqId: string;
  /** The facility's current train (drives trains when only control sources are configured). */
  readonly currentTrain: () => number;
  /** Called when writing a train fails (the recording stops). */
  readonly onError?: (e: Error) => void;
}

/** Thrown when the configured data sources cannot be used, with what to change. */
export class DataSourceError extends SaseError {
  override readonly name = "DataSourceError";
  constructor(message: string, details?: ErrorDetails) {
    super("BAD_SOURCE", message, details);
  }
}

/** A source's token of a train; `release` hands its memory back to the input once nothing reads it. */
type Piece = { data: Hash; timestamp: Timestamp; release?: () => void };

/** A running acquisition. Start with `Acquisition.start`. */
export class Acquisition {
  private recorder: RunRecorder | null = null;
  private writing: Promise<void> = Promise.resolve();
  private ticker: NodeJS.Timeout | null = null;
  private loop: Promise<void> = Promise.resolve();
  private failed: Error | null = null;
  private knownDevices: string[] = [];
  /** The matched pieces of each train handed to the recorder, until it is done with them. */
  private readonly pieces = new WeakMap<TrainToRecord, MatchedTrain<Piece>>();

  private constructor(
    readonly options: AcquisitionOptions,
    readonly control: ControlSource[],
    readonly instrument: InstrumentSource[],
    readonly matcher: TrainMatcher<Piece>,
  ) {}

  /** Opens every source (control devices must exist) and starts matching trains. */
  static async start(options: AcquisitionOptions): Promise<Acquisition> {
    if (options.sources.length === 0)
      throw new DataSourceError("no data sources configured: add device ids or outputs");
    const topo = await options.client.topology();
    const devices = [...topo.devices.keys()].filter((d) => d !== options.daqId);
    const control: ControlSource[] = [];
    try {
      for (const name of options.sources.filter((s) => sourceKind(s) === "control")) {
        if (!devices.includes(name)) {
          const near = closest(name, devices);
          throw new DataSourceError(
            `data source ${name} is not a running device${near ? `: did you mean ${near}?` : ""} (fix dataSources)`,
          );
        }
        control.push(await ControlSource.open(options.client, name));
      }
    } catch (e) {
      for (const c of control) c.close();
      throw e;
    }
    const instrumentNames = options.sources.filter((s) => sourceKind(s) === "instrument");
    // Control-only acquisitions are driven by the train clock: one pseudo-source ticks each train.
    const matcherSources = instrumentNames.length ? instrumentNames : ["<train clock>"];
    const known = () => [...channelRegistry.ids(), ...devices];
    const matcher = new TrainMatcher<Piece>(matcherSources, {
      timeoutMs: options.trainTimeoutMs,
      knownSources: instrumentNames.length ? known : undefined,
      // A piece the matcher does not keep (late, or a second one) is never written.
      onDropped: (piece) => piece.release?.(),
    });
    const push = (t: DataToken, name: string, release: () => void) =>
      matcher.push(name, t.meta.timestamp.trainId, { data: t.data, timestamp: t.meta.timestamp, release });
    const instrument = instrumentNames.map(
      (name, i) =>
        new InstrumentSource(name, `${options.daqId}:input${i}`, (t, release) => push(t, name, release)),
    );
    const acq = new Acquisition(options, control, instrument, matcher);
    acq.knownDevices = devices;
    if (!instrumentNames.length) acq.startTicker();
    acq.loop = acq.run();
    return acq;
  }

  private startTicker(): void {
    let last = this.options.currentTrain();
    this.ticker = setInterval(() => {
      const now = this.options.currentTrain();
      if (now > last) {
        last = now;
        this.matcher.push("<train clock>", now, {
          data: undefined as unknown as Hash,
          timestamp: timestampNow(now),
        });
      }
    }, 10);
    this.ticker.unref();
  }

  private async run(): Promise<void> {
    for await (const m of this.matcher) {
      const rec = this.recorder;
      if (!rec || this.failed) {
        releasePieces(m);
        continue;
      }
      const train = this.trainOf(m);
      // The recorder says when its files hold the train (onTrainDone): its tokens' memory goes back then.
      this.pieces.set(train, m);
      this.writing = this.writing.then(() =>
        rec.add(train).catch((e: Error) => {
          this.failed = e;
          this.options.onError?.(e);
        }),
      );
    }
  }

  private trainOf(m: MatchedTrain<Piece>): TrainToRecord {
    const control = new Map<string, ControlValues>();
    for (const c of this.control) control.set(c.name, c.values());
    const instrument = new Map<string, Hash>();
    let timestamp: Timestamp | undefined;
    for (const [name, piece] of m.data) {
      timestamp ??= piece.timestamp;
      if (name !== "<train clock>") instrument.set(name, piece.data);
    }
    return { trainId: m.trainId, timestamp, control, instrument };
  }

  /** Starts recording into a run folder: trains matched from now on are written. */
  startRecording(run: Omit<RecorderOptions, "control" | "instrument">): RunRecorder {
    if (this.recorder) throw new SaseError("WRONG_STATE", "already recording");
    this.failed = null;
    this.recorder = new RunRecorder({
      ...run,
      control: this.control.map((c) => ({
        name: c.name,
        properties: c.properties,
        runValues: c.runValues(),
      })),
      instrument: this.instrument.map((s) => ({ name: s.name, aggregator: aggregatorFor(s.name) })),
      onTrainDone: (train) => {
        const m = this.pieces.get(train);
        this.pieces.delete(train);
        if (m) releasePieces(m);
      },
      provenance: {
        ...run.provenance,
        devices: Object.fromEntries(this.control.map((c) => [c.name, c.configuration])),
        daq: { sources: this.options.sources, trainTimeoutMs: this.matcher.timeoutMs },
      },
    });
    return this.recorder;
  }

  /** Stops recording: writes what is queued, closes the files. */
  async stopRecording(): Promise<RecordingSummary> {
    const rec = this.recorder;
    if (!rec) throw new SaseError("WRONG_STATE", "not recording");
    this.recorder = null;
    await this.writing;
    return rec.close();
  }

  /** The recorder of the run being recorded, if any. */
  get recording(): RunRecorder | null {
    return this.recorder;
  }

  /** Why the last recording failed, if it did. */
  get error(): Error | null {
    return this.failed;
  }

  /** Problems of the sources, with fixes. */
  problems(): SourceProblem[] {
    const out = this.matcher.problems().filter((p) => p.source !== "<train clock>");
    const stuck = this.instrument.filter(
      (s) => !s.connected && !this.knownDevices.includes(s.name.split(":")[0]!),
    );
    for (const s of stuck) {
      if (out.some((p) => p.source === s.name)) continue;
      const near = closest(s.name, channelRegistry.ids());
      out.push({
        source: s.name,
        problem: "unknown-name",
        message: `output ${s.name} is not connected: no such output is known`,
        fix: near
          ? `did you mean ${near}? fix dataSources`
          : "check the output's name and that its device runs",
      });
    }
    return out;
  }

  /** Stops listening (and recording). */
  async stop(): Promise<RecordingSummary | undefined> {
    if (this.ticker) clearInterval(this.ticker);
    const summary = this.recorder ? await this.stopRecording() : undefined;
    for (const c of this.control) c.close();
    await Promise.all(this.instrument.map((s) => s.close()));
    this.matcher.end();
    await this.loop;
    return summary;
  }
}

/** Hands the memory of a matched train's tokens back to their inputs (nothing reads them any more). */
function releasePieces(m: MatchedTrain<Piece>): void {
  for (const piece of m.data.values()) piece.release?.();
}
