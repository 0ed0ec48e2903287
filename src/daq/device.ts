// The DAQ run-control device: STOPPED → ACQUIRING (monitoring: sources matched, nothing written) →
// recording (ACQUIRING with runState RECORDING: a numbered run written to the online store and
// entered in the catalogue). Karabo's state set has no RECORDING, so the device state stays
// ACQUIRING while recording and `runState` tells the two apart.
import { mkdirSync } from "node:fs";
import {
  DeviceClient,
  defineDevice,
  type DeviceProps,
  el,
  SASE_VERSION,
  type SchemaSpec,
  type Slots,
  State,
} from "../core/index.ts";
import type { Acquisition } from "./acquisition.ts";
import { Acquisition as AcquisitionImpl, DataSourceError } from "./acquisition.ts";
import { Catalogue, type RunRecord } from "./catalogue.ts";
import { rawRunDir, resolveDataRoots } from "./config.ts";
import { recoverRuns } from "./recover.ts";

const editable = [State.STOPPED, State.ACQUIRING];

const schema = {
  proposal: el.uint32({
    displayedName: "Proposal",
    description: "Proposal the next run belongs to",
    access: "reconfigurable",
    default: 900001,
    min: 1,
    allowedStates: editable,
  }),
  runType: el.string({
    displayedName: "Run type",
    access: "reconfigurable",
    default: "",
    allowedStates: editable,
  }),
  sample: el.string({
    displayedName: "Sample",
    access: "reconfigurable",
    default: "",
    allowedStates: editable,
  }),
  dataSources: el.vector("string", {
    displayedName: "Data sources",
    description:
      "Device ids (slow data of every numeric property) and <device>:<channel> outputs (fast data)",
    access: "reconfigurable",
    default: [],
    allowedStates: [State.STOPPED],
  }),
  trainTimeoutMs: el.uint32({
    displayedName: "Train timeout",
    description: "How long a train waits for missing sources before it is written without them",
    unit: "second",
    prefix: "milli",
    access: "reconfigurable",
    default: 500,
    min: 1,
    allowedStates: [State.STOPPED],
  }),
  trainsPerSequence: el.uint32({ displayedName: "Trains per sequence file", default: 256, min: 1 }),
  onlineRoot: el.string({
    displayedName: "Online store",
    description: "Default: SASE_ONLINE_ROOT",
    default: "",
  }),
  cataloguePath: el.string({
    displayedName: "Catalogue",
    description: "Default: SASE_CATALOGUE",
    default: "",
  }),
  runState: el.string({
    displayedName: "Run state",
    access: "readOnly",
    default: "STOPPED",
    options: ["STOPPED", "ACQUIRING", "RECORDING"],
  }),
  runNumber: el.uint32({ displayedName: "Run number", access: "readOnly", default: 0 }),
  runDirectory: el.string({ displayedName: "Run directory", access: "readOnly", default: "" }),
  trainsRecorded: el.uint32({ displayedName: "Trains recorded", access: "readOnly", default: 0 }),
  trainsMatched: el.uint32({ displayedName: "Trains matched", access: "readOnly", default: 0 }),
  matchRatio: el.double({
    displayedName: "Match ratio",
    description: "Share of trains in which every source delivered",
    access: "readOnly",
    default: 1,
  }),
  sourceStats: el.table(
    {
      source: el.string({ default: "" }),
      received: el.uint32({ default: 0 }),
      missing: el.uint32({ default: 0 }),
      late: el.uint32({ default: 0 }),
      latencyMs: el.double({ default: 0 }),
      maxLatencyMs: el.double({ default: 0 }),
    },
    { displayedName: "Per-source figures", access: "readOnly", default: [] },
  ),
  problems: el.vector("string", {
    displayedName: "Problems",
    description: "Sources that do not deliver, each with the fix",
    access: "readOnly",
    default: [],
  }),
  monitor: el.slot({
    displayedName: "Monitor",
    description: "Start acquiring without writing",
    allowedStates: [State.STOPPED],
  }),
  record: el.slot({ displayedName: "Record", description: "Start a new run", allowedStates: editable }),
  stopRecording: el.slot({
    displayedName: "Stop recording",
    description: "Close the run, keep acquiring",
    allowedStates: [State.ACQUIRING],
  }),
  stop: el.slot({
    displayedName: "Stop",
    description: "Stop acquiring (closes a run being recorded)",
    allowedStates: [State.ACQUIRING, State.ERROR],
  }),
} satisfies SchemaSpec;

/** Run control + data aggregation of the embedded facility. */
export class DaqController
  extends defineDevice({ classId: "DaqController", description: "Run control and DAQ recording", schema })
  implements Slots<typeof schema>
{
  #acq: Acquisition | null = null;
  #run: RunRecord | null = null;
  #cat: Catalogue | null = null;
  #stopFigures: (() => void) | null = null;

  override async onInit(): Promise<void> {
    const roots = this.#roots();
    this.#cat = Catalogue.open(roots.catalogue);
    // Runs a killed DAQ left open are closed from what reached the disk.
    const recovered = await recoverRuns(this.#cat, roots.online);
    const note = recovered.length ? ` (recovered runs ${recovered.map((r) => r.number).join(", ")})` : "";
    this.updateState(State.STOPPED, `stopped${note}`);
  }

  override onReconfigure(changes: Partial<DeviceProps<typeof schema>>): void {
    const sources = changes.dataSources;
    if (sources) {
      const dup = sources.find((s, i) => sources.indexOf(s) !== i);
      if (dup) this.refuse(`data source ${dup} is listed twice`);
    }
  }

  #roots() {
    const online = this.get("onlineRoot") || undefined;
    const catalogue = this.get("cataloguePath") || undefined;
    return resolveDataRoots({ online, catalogue });
  }

  async #startAcquisition(): Promise<void> {
    const sources = this.get("dataSources");
    if (sources.length === 0) this.refuse("no data sources configured: set dataSources first");
    try {
      this.#acq = await AcquisitionImpl.start({
        client: new DeviceClient(this.broker, { user: this.id, accessLevel: "operator" }),
        sources,
        trainTimeoutMs: this.get("trainTimeoutMs"),
        daqId: this.id,
        currentTrain: () => this.trainId,
        onError: (e) => this.fault(`recording run ${this.get("runNumber")} failed: ${e.message}`),
      });
    } catch (e) {
      // Bad configuration refuses the command (the device stays usable); anything else is a fault.
      if (e instanceof DataSourceError) this.refuse(e.message);
      throw e;
    }
    this.#stopFigures = this.every(500, () => this.#publishFigures());
    this.setMany({
      state: State.ACQUIRING,
      runState: "ACQUIRING",
      status: `acquiring ${sources.length} source(s)`,
    });
  }

  #publishFigures(): void {
    const acq = this.#acq;
    if (!acq) return;
    const counts = acq.matcher.counts;
    this.setMany({
      trainsRecorded: acq.recording?.trainsWritten ?? this.get("trainsRecorded"),
      trainsMatched: counts.trains,
      matchRatio: counts.matchRatio,
      sourceStats: acq.matcher
        .stats()
        .filter((s) => s.source !== "<train clock>")
        .map((s) => ({
          source: s.source,
          received: s.received,
          missing: s.missing,
          late: s.late,
          latencyMs: s.latencyMs.mean,
          maxLatencyMs: s.latencyMs.max,
        })),
      problems: acq.problems().map((p) => `${p.message}: ${p.fix}`),
    });
  }

  async monitor(): Promise<void> {
    await this.#startAcquisition();
  }

  async record(): Promise<{ proposal: number; run: number; directory: string }> {
    if (this.get("runState") === "RECORDING")
      this.refuse(`run ${this.get("runNumber")} is being recorded already`);
    if (!this.#acq) await this.#startAcquisition();
    const roots = this.#roots();
    const proposal = this.get("proposal");
    const run = this.#cat!.openRun({
      proposal,
      onlinePath: (n) => rawRunDir(roots.online, proposal, n),
      runType: this.get("runType"),
      sample: this.get("sample"),
    });
    mkdirSync(run.onlinePath, { recursive: true });
    this.#run = run;
    this.#acq!.startRecording({
      dir: run.onlinePath,
      proposal,
      run: run.number,
      runType: run.runType,
      sample: run.sample,
      trainsPerSequence: this.get("trainsPerSequence"),
      provenance: { recordedBy: { device: this.id, classId: this.classId, sase: SASE_VERSION }, lineage: [] },
    });
    this.setMany({
      runState: "RECORDING",
      runNumber: run.number,
      runDirectory: run.onlinePath,
      trainsRecorded: 0,
      status: `recording run ${run.number} of proposal ${proposal}`,
    });
    return { proposal, run: run.number, directory: run.onlinePath };
  }

  async stopRecording(): Promise<{ run: number; trains: number }> {
    if (!this.#acq?.recording || !this.#run) this.refuse("no run is being recorded");
    const s = await this.#acq!.stopRecording();
    const closed = this.#cat!.closeRun(this.#run!.id, {
      firstTrain: s.firstTrain,
      lastTrain: s.lastTrain,
      trains: s.trains,
      sizeBytes: s.sizeBytes,
      sources: s.sources,
    });
    this.#run = null;
    this.setMany({
      runState: "ACQUIRING",
      trainsRecorded: s.trains,
      status: `run ${closed.number} closed: ${s.trains} trains${s.unrecorded.length ? `; never sent data: ${s.unrecorded.join(", ")}` : ""}${Object.entries(
        s.rejected,
      )
        .map(([src, r]) => `; ${r.count} token(s) of ${src} left out (${r.last})`)
        .join("")}`,
    });
    return { run: closed.number, trains: s.trains };
  }

  async stop(): Promise<void> {
    if (this.#acq?.recording) await this.stopRecording();
    this.#stopFigures?.();
    this.#publishFigures();
    await this.#acq?.stop();
    this.#acq = null;
    this.setMany({ state: State.STOPPED, runState: "STOPPED", status: "stopped" });
  }

  override async onShutdown(): Promise<void> {
    if (this.#acq) await this.stop().catch(() => undefined);
    this.#cat?.close();
  }
}
