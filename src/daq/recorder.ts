// The recorder: takes matched trains (slow data per control source, pipeline tokens per instrument
// source) and writes them into an EXDF run folder through the files writer: one aggregator per
// detector module, one for slow data, rolling sequence files, every train flushed as it is written so
// that a killed DAQ loses nothing it reported as recorded. Instrument keys are learnt from the first
// tokens unless given.
import { readdir, stat, writeFile } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import type { Hash, NDArray, Timestamp, TypedArray } from "../core/index.ts";
import { dtypeOf, isNDArray, SASE_VERSION, SaseError, SerialCalls } from "../core/index.ts";
import type { ControlSourceSpec, KeySpec, RunWriter } from "../files/index.ts";
import { createRunWriter } from "../files/index.ts";
import { MAX_TRAIN_STRIDE } from "../pipeline/index.ts";

/**
 * Trains a recording holds by default while it learns its sources' keys: a module backed off to every
 * n-th train (a loaded host, a producer slowed by a consumer connecting) gets two chances to send within
 * them, or the run would go without it. Held only while a source is missing: all present, it starts at once.
 */
export const LEARN_TRAINS = 2 * MAX_TRAIN_STRIDE + 1;

/** A control source to record: its properties as they are written per train. */
export interface RecordedControl {
  readonly name: string;
  /** Aggregator of its files; default "DA01" (the slow-data aggregator). */
  readonly aggregator?: string;
  readonly properties: Readonly<Record<string, KeySpec>>;
  /** Property values at run start (the RUN section). */
  readonly runValues?: ControlSourceSpec["runValues"];
}

/** An instrument (pipeline) source to record, "<device>:<channel>". */
export interface RecordedInstrument {
  readonly name: string;
  /** Aggregator of its files (e.g. "AGIPD00" for module 0). */
  readonly aggregator: string;
  /** Keys with type and entry shape; omitted: learnt from the first token. */
  readonly keys?: Readonly<Record<string, KeySpec>>;
}

/** Values of one control source in one train. */
export type ControlValues = Readonly<Record<string, number | bigint | boolean | TypedArray>>;

/** One train as the recorder takes it; absent sources are recorded with count 0. */
export interface TrainToRecord {
  readonly trainId: number;
  readonly timestamp?: Timestamp;
  readonly control: ReadonlyMap<string, ControlValues>;
  readonly instrument: ReadonlyMap<string, Hash>;
}

/** Options of one recording. */
export interface RecorderOptions {
  /** Run folder (created by the caller). */
  readonly dir: string;
  readonly proposal: number;
  readonly run: number;
  readonly runType?: string;
  readonly sample?: string;
  readonly trainsPerSequence?: number;
  readonly control: readonly RecordedControl[];
  readonly instrument: readonly RecordedInstrument[];
  /** Trains held back while instrument keys are learnt (sources silent that long get no keys); LEARN_TRAINS. */
  readonly learnTrains?: number;
  /** Extra provenance written to provenance.json (device configurations, DAQ settings, lineage). */
  readonly provenance?: Record<string, unknown>;
  /** Trains with lower IDs are not recorded (a procedure's run starts where every module has switched). */
  readonly firstTrain?: number;
  /** Called for every instrument source's data written with a train (a scan follows its coverage). */
  readonly onSourceTrain?: (source: string, trainId: number) => void;
  /**
   * Called once for every train given to `add` (also when `add` fails) once the recorder refers to none
   * of its arrays any more: written to disk, or not recorded. The caller may then reuse their memory.
   */
  readonly onTrainDone?: (train: TrainToRecord) => void;
}

/** What a finished recording holds. */
export interface RecordingSummary {
  readonly dir: string;
  readonly trains: number;
  readonly firstTrain: number | null;
  readonly lastTrain: number | null;
  readonly sizeBytes: number;
  readonly sources: string[];
  readonly files: string[];
  /** Instrument sources that never sent a token before keys had to be fixed (not in the files). */
  readonly unrecorded: string[];
  /** Tokens left out because they did not match their source's keys: count and last reason. */
  readonly rejected: Record<string, { count: number; last: string }>;
}

/** Key specs of a token: NDArray keys count entries along their first axis, vectors one per element,
 * scalars one per train. */
export function keysOfToken(token: Hash): Record<string, KeySpec> {
  const keys: Record<string, KeySpec> = {};
  for (const path of token.paths()) {
    if (!path.includes(".")) continue; // instrument keys live in index groups ("image.data")
    const v = token.get(path);
    if (isNDArray(v)) keys[path] = { dtype: v.dtype, entryShape: v.shape.slice(1) };
    else if (ArrayBuffer.isView(v)) keys[path] = { dtype: dtypeOf(v as TypedArray), entryShape: [] };
    else if (typeof v === "number") keys[path] = { dtype: Number.isInteger(v) ? "int64" : "float64" };
    else if (typeof v === "bigint") keys[path] = { dtype: "int64" };
    else if (typeof v === "boolean") keys[path] = { dtype: "bool" };
  }
  return keys;
}

type KeyValue = number | bigint | boolean | TypedArray | NDArray;

// A token's values for the learnt keys, or the reason it cannot be written as this source's entries
// (a key missing, another dtype or entry shape): such a token is left out of its train (count 0)
// rather than stopping the recording.
function tokenValues(
  token: Hash,
  keys: Readonly<Record<string, KeySpec>>,
): { values: Record<string, KeyValue> } | { problem: string } {
  const values: Record<string, KeyValue> = {};
  for (const [k, spec] of Object.entries(keys)) {
    if (!token.has(k)) return { problem: `key ${k} missing` };
    const v = token.get(k) as KeyValue;
    if (isNDArray(v)) {
      const shape = v.shape.slice(1);
      const want = spec.entryShape ?? [];
      if (v.dtype !== spec.dtype || shape.length !== want.length || shape.some((d, i) => d !== want[i])) {
        return { problem: `${k} is ${v.dtype} [${v.shape}], recorded as ${spec.dtype} [n,${want}]` };
      }
    }
    values[k] = v;
  }
  return { values };
}

/** Records trains into one run folder. Use `add(train)` per train, then `close()`. */
export class RunRecorder {
  private writer: RunWriter | null = null;
  private readonly held: TrainToRecord[] = [];
  /** Trains given to the writer that it may still buffer (referring to their arrays). */
  private readonly unflushed: TrainToRecord[] = [];
  private readonly learnt = new Map<string, Readonly<Record<string, KeySpec>>>();
  private readonly unrecorded: string[] = [];
  private readonly rejected = new Map<string, { count: number; last: string }>();
  private count = 0;
  private first: number | null = null;
  private last: number | null = null;
  private closed = false;
  /** add's calls, one after another. */
  private readonly calls = new SerialCalls();

  constructor(readonly options: RecorderOptions) {
    for (const s of options.instrument) if (s.keys) this.learnt.set(s.name, s.keys);
  }

  /** Trains written to disk so far (flushed: they survive the process being killed). */
  get trainsWritten(): number {
    return this.count;
  }

  /**
   * Records one train (train IDs must increase). Calls are taken one at a time in the order made; a
   * train's detector data goes to its modules' files several at a time (the writer's writeTrainAsync),
   * and the event loop is free meanwhile.
   */
  add(train: TrainToRecord): Promise<void> {
    return this.calls.run(() => this.addNow(train));
  }

  private async addNow(train: TrainToRecord): Promise<void> {
    if (this.closed) {
      this.options.onTrainDone?.(train);
      throw new SaseError("CLOSED", "recorder is closed");
    }
    if (train.trainId < (this.options.firstTrain ?? 0)) {
      this.options.onTrainDone?.(train);
      return;
    }
    if (!this.writer) {
      for (const [name, token] of train.instrument)
        if (!this.learnt.has(name)) this.learnt.set(name, keysOfToken(token));
      this.held.push(train);
      const everyKnown = this.options.instrument.every((s) => this.learnt.has(s.name));
      if (!everyKnown && this.held.length < (this.options.learnTrains ?? LEARN_TRAINS)) return;
      await this.open();
      for (const t of this.held.splice(0)) await this.write(t);
      return;
    }
    await this.write(train);
  }

  private async open(): Promise<void> {
    const o = this.options;
    const w = await createRunWriter(o.dir, {
      proposal: o.proposal,
      run: o.run,
      runType: o.runType,
      sample: o.sample,
      trainsPerSequence: o.trainsPerSequence,
      daqLibrary: `sase-${SASE_VERSION}`,
      karaboFramework: `sase-${SASE_VERSION}`,
    });
    for (const c of o.control) {
      w.addControlSource(c.name, {
        aggregator: c.aggregator ?? "DA01",
        properties: c.properties,
        runValues: c.runValues,
      });
    }
    for (const s of o.instrument) {
      const keys = this.learnt.get(s.name);
      if (!keys || Object.keys(keys).length === 0) {
        this.unrecorded.push(s.name);
        continue;
      }
      w.addInstrumentSource(s.name, { aggregator: s.aggregator, keys });
    }
    this.writer = w;
  }

  private async write(t: TrainToRecord): Promise<void> {
    try {
      await this.writeNow(t);
    } finally {
      // Written, or refused (a refused train leaves nothing in the writer's buffers).
      this.unflushed.push(t);
      if (this.writer!.bufferedTrains === 0) this.settle();
    }
  }

  /** Hands every train given to the writer to onTrainDone (the caller knows that none is buffered). */
  private settle(): void {
    const done = this.options.onTrainDone;
    for (const t of this.unflushed.splice(0)) done?.(t);
  }

  private async writeNow(t: TrainToRecord): Promise<void> {
    const data: Record<string, Record<string, KeyValue>> = {};
    for (const [name, values] of t.control) data[name] = values as Record<string, KeyValue>;
    for (const [name, token] of t.instrument) {
      const keys = this.learnt.get(name);
      if (!keys || this.unrecorded.includes(name)) continue;
      const got = tokenValues(token, keys);
      if ("values" in got) data[name] = got.values;
      else this.rejected.set(name, { count: (this.rejected.get(name)?.count ?? 0) + 1, last: got.problem });
    }
    await this.writer!.writeTrainAsync(t.trainId, data, { timestamp: t.timestamp });
    const onSource = this.options.onSourceTrain;
    if (onSource) for (const name of t.instrument.keys()) if (name in data) onSource(name, t.trainId);
    this.count++;
    this.first ??= t.trainId;
    this.last = t.trainId;
  }

  /** Writes held trains, closes the files and writes provenance.json; returns what was recorded. */
  async close(): Promise<RecordingSummary> {
    // Trains given before close are written first.
    await this.calls.idle();
    try {
      if (!this.closed && !this.writer && this.held.length) {
        await this.open();
        for (const t of this.held.splice(0)) await this.write(t);
      }
      this.closed = true;
      await this.writer?.close();
    } finally {
      this.closed = true;
      this.unflushed.push(...this.held.splice(0));
      this.settle();
    }
    const o = this.options;
    await writeFile(
      join(o.dir, "provenance.json"),
      `${JSON.stringify(
        {
          sase: SASE_VERSION,
          node: process.version,
          host: hostname(),
          user: userInfo().username,
          proposal: o.proposal,
          run: o.run,
          runType: o.runType ?? "",
          sample: o.sample ?? "",
          closedAt: new Date().toISOString(),
          sources: {
            control: o.control.map((c) => c.name),
            instrument: o.instrument.map((s) => ({
              name: s.name,
              aggregator: s.aggregator,
              keys: this.learnt.get(s.name),
            })),
            unrecorded: this.unrecorded,
          },
          ...o.provenance,
        },
        (_k, v) => (typeof v === "bigint" ? v.toString() : v),
        2,
      )}\n`,
    );
    return this.summary();
  }

  /** What is in the run folder now. */
  async summary(): Promise<RecordingSummary> {
    const files = (await readdir(this.options.dir)).filter((f) => f.endsWith(".h5")).sort();
    let size = 0;
    for (const f of files) size += (await stat(join(this.options.dir, f))).size;
    const recorded = this.options.instrument.map((s) => s.name).filter((n) => !this.unrecorded.includes(n));
    return {
      dir: this.options.dir,
      trains: this.count,
      firstTrain: this.first,
      lastTrain: this.last,
      sizeBytes: size,
      sources: [...this.options.control.map((c) => c.name), ...recorded],
      files,
      unrecorded: [...this.unrecorded],
      rejected: Object.fromEntries(this.rejected),
    };
  }
}

/** Records every train of `trains` into one run folder and closes it. */
export async function recordTrains(
  options: RecorderOptions,
  trains: AsyncIterable<TrainToRecord>,
  onTrain?: (written: number, trainId: number) => void,
): Promise<RecordingSummary> {
  const rec = new RunRecorder(options);
  try {
    for await (const t of trains) {
      await rec.add(t);
      onTrain?.(rec.trainsWritten, t.trainId);
    }
  } finally {
    await rec.close();
  }
  return rec.summary();
}
