// The DAQ run-control device: STOPPED → ACQUIRING (monitoring: sources matched, nothing written) →
// recording (ACQUIRING with runState RECORDING: a numbered run written to the online store and
// entered in the catalogue). Karabo's state set has no RECORDING, so the device state stays
// ACQUIRING while recording and `runState` tells the two apart.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  defineDevice,
  DeviceClient,
  type DeviceProps,
  el,
  SASE_VERSION,
  SaseError,
  type SchemaSpec,
  type Slots,
  State,
} from "../core/index.ts";
import type { Acquisition } from "./acquisition.ts";
import { Acquisition as AcquisitionImpl, DataSourceError } from "./acquisition.ts";
import { Catalogue, type RunRecord } from "./catalogue.ts";
import { proposalDirName, rawRunDir, resolveDataRoots, runDirName } from "./config.ts";
import { LocalExecutor } from "./executors.ts";
import { SASE_BIN, waitForJobs } from "./jobs.ts";
import { recoverRuns } from "./recover.ts";
import { resolveOutputsThrough } from "../pipeline/index.ts";
import { detectorByName, pulseCapacitorLadder } from "../detector/index.ts";
import type { RecorderOptions } from "./recorder.ts";

const editable = [State.STOPPED, State.ACQUIRING];

/** Different charges per gain stage a pulse-capacitor scan run waits for from every module. */
const MIN_SCAN_CHARGES = 3;
/** A dark or scan run still short of what it waits for stops at this many times its trains. */
const MAX_PROCEDURE_LENGTH = 20;

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
  detectorControl: el.string({
    displayedName: "Detector control device",
    description: "the detector's control device (gain mode, conditions) that takeDarks switches",
    access: "reconfigurable",
    default: "",
    allowedStates: editable,
  }),
  darkTrains: el.uint32({
    displayedName: "Trains per dark run",
    access: "reconfigurable",
    default: 20,
    min: 2,
    allowedStates: editable,
  }),
  constantsStore: el.string({
    displayedName: "Constants store",
    description:
      "where takeDarks stores the constants (default: SASE_CONSTANTS_STORE or <data-dir>/constants)",
    default: "",
  }),
  darkState: el.string({
    displayedName: "Dark runs",
    description: "progress of the dark-run procedure (takeDarks), or how it failed",
    access: "readOnly",
    default: "idle",
  }),
  darkProgress: el.double({
    displayedName: "Dark runs progress",
    access: "readOnly",
    default: 0,
    min: 0,
    max: 1,
  }),
  darkRuns: el.vector("uint32", { displayedName: "Last dark runs", access: "readOnly", default: [] }),
  takeDarks: el.slot({
    displayedName: "Take darks",
    description:
      "fixed high, medium, low gain in turn: one dark run each, characterised in a job; constants stored; back to adaptive gain",
    allowedStates: editable,
  }),
  pcTrains: el.uint32({
    displayedName: "Trains per pulse-capacitor scan",
    description: "the scan steps its charge train by train through the detector's ladder (18 charges)",
    access: "reconfigurable",
    default: 36,
    min: 2,
    allowedStates: editable,
  }),
  pcState: el.string({
    displayedName: "Pulse-capacitor scan",
    description: "progress of the pulse-capacitor scan procedure (takePcScan), or how it failed",
    access: "readOnly",
    default: "idle",
  }),
  pcProgress: el.double({
    displayedName: "Pulse-capacitor scan progress",
    access: "readOnly",
    default: 0,
    min: 0,
    max: 1,
  }),
  pcRun: el.uint32({ displayedName: "Last scan run", access: "readOnly", default: 0 }),
  takePcScan: el.slot({
    displayedName: "Take a pulse-capacitor scan",
    description:
      "the detector in scan mode (adaptive gain): one scan run, characterised in a job into RelativeGain and BadPixelsPC (needs darks of the same conditions); back to photons",
    allowedStates: editable,
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
  #darks: Promise<void> | null = null;
  #pc: Promise<void> | null = null;

  override async onInit(): Promise<void> {
    // Outputs on other servers (another process of a split facility) are found through the broker.
    resolveOutputsThrough(this.broker);
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
    return this.#record({});
  }

  /** Opens the next run and records into it; `onSourceTrain` follows each source's trains as written. */
  async #record(
    watch: Pick<RecorderOptions, "onSourceTrain" | "firstTrain">,
  ): Promise<{ proposal: number; run: number; directory: string }> {
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
      ...watch,
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

  async stopRecording(): Promise<{ run: number; trains: number; unrecorded: string[] }> {
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
    return { run: closed.number, trains: s.trains, unrecorded: [...s.unrecorded] };
  }

  async stop(): Promise<void> {
    if (this.#acq?.recording) await this.stopRecording();
    this.#stopFigures?.();
    this.#publishFigures();
    await this.#acq?.stop();
    this.#acq = null;
    this.setMany({ state: State.STOPPED, runState: "STOPPED", status: "stopped" });
  }

  /**
   * The dark-run procedure: the detector to fixed high, medium and low gain in turn, a dark run of
   * `darkTrains` trains each (catalogued as run type "dark"), then the characterisation as a job and
   * the detector back to adaptive gain. Returns at once; `darkState` and `darkProgress` follow it.
   */
  takeDarks(): { started: string } {
    if (this.#darks) this.refuse(`dark runs are being taken already (${this.get("darkState")})`);
    if (this.#pc) this.refuse(`a pulse-capacitor scan is being taken (${this.get("pcState")})`);
    if (this.get("runState") === "RECORDING")
      this.refuse(`run ${this.get("runNumber")} is being recorded; stop it before taking darks`);
    const control = this.get("detectorControl");
    if (!control) this.refuse("no detector control device configured: set detectorControl first");
    const modules = this.#moduleSources();
    if (modules.length === 0) this.refuse("no detector modules among the data sources");
    this.setMany({ darkState: "starting", darkProgress: 0 });
    this.#darks = this.#takeDarks(control, modules)
      .catch((e: unknown) => {
        const message = e instanceof Error ? e.message : String(e);
        this.setMany({ darkState: `failed: ${message}` });
        this.log.error("dark runs failed", { error: message });
      })
      .finally(() => {
        this.#darks = null;
      });
    return { started: `dark runs with ${this.get("darkTrains")} trains each` };
  }

  async #takeDarks(control: string, modules: string[]): Promise<void> {
    const client = new DeviceClient(this.broker, { user: this.id, accessLevel: "operator" });
    const trains = this.get("darkTrains");
    const stages = ["high", "medium", "low"] as const;
    const runs: RunRecord[] = [];
    // Modules that sent nothing to a dark run get no constants: said at the end, not hidden.
    const silent = new Set<string>();
    const saved = { runType: this.get("runType"), sample: this.get("sample") };
    const step = (done: number, text: string) =>
      this.setMany({ darkState: text, darkProgress: Math.min(1, done / (stages.length + 1)) });
    try {
      for (const [i, stage] of stages.entries()) {
        step(i, `${stage} gain: switching the detector to fixed ${stage} gain`);
        await client.set(control, "gainModeIndex", i + 1);
        // Recording starts once every module sends trains taken in the fixed gain.
        for (const m of modules) {
          await client.waitFor(m, "lastTrainGain", (g) => g === stage, 120_000);
        }
        // Trains sent before the switch may still be on their way (a loaded host): none of them goes in.
        const firstTrain = await lastTrainOf(client, modules);
        this.setMany({ runType: "dark", sample: `dark, fixed ${stage} gain` });
        // darkTrains trains from every module: one backed off to every n-th train takes n times longer.
        const perModule = new Map(modules.map((m) => [m, 0]));
        const onSourceTrain = (source: string) => {
          const m = source.split(":")[0]!;
          const n = perModule.get(m);
          if (n !== undefined) perModule.set(m, n + 1);
        };
        const { run } = await this.#record({ onSourceTrain, firstTrain });
        step(i, `${stage} gain: recording dark run ${run}`);
        await this.#recordUntil(run, trains, () => [...perModule.values()].every((n) => n >= trains));
        const closed = await this.stopRecording();
        for (const src of closed.unrecorded) if (modules.includes(src)) silent.add(src);
        runs.push(this.#cat!.findRun(this.get("proposal"), run)!);
      }
    } finally {
      this.setMany(saved);
      // Whatever happened, the detector goes back to adaptive gain.
      await client.set(control, "gainModeIndex", 0).catch(() => undefined);
    }
    this.set(
      "darkRuns",
      runs.map((r) => r.number),
    );
    const numbers = runs.map((r) => r.number).join(", ");
    if (silent.size === modules.length) {
      throw new SaseError(
        "RUN_STOPPED",
        `no module sent data to every dark run (${numbers}): the detector did not keep up (see problems)`,
      );
    }
    step(3, `characterising dark runs ${numbers} (job)`);
    const job = await this.#characterise("dark", runs, modules[0]!, client);
    const without = [...silent].map((src) => src.split("/").pop()!.split(":")[0]!);
    step(
      4,
      `done: constants from dark runs ${numbers} stored (job ${job})` +
        (without.length
          ? `; ${without.length} of ${modules.length} modules sent no dark data to a run and have none: ${without.join(", ")}`
          : ""),
    );
  }

  /**
   * The pulse-capacitor scan: the detector's modules to scan mode (the control device's `pcScan`), a
   * scan run of `pcTrains` trains (catalogued as run type "pc"), the detector back to photons, then
   * `sase calibrate pc` as a job, storing RelativeGain and BadPixelsPC. Returns at once; `pcState` and
   * `pcProgress` follow it.
   */
  takePcScan(): { started: string } {
    if (this.#pc) this.refuse(`a pulse-capacitor scan is being taken already (${this.get("pcState")})`);
    if (this.#darks) this.refuse(`dark runs are being taken (${this.get("darkState")})`);
    if (this.get("runState") === "RECORDING")
      this.refuse(`run ${this.get("runNumber")} is being recorded; stop it before a pulse-capacitor scan`);
    const control = this.get("detectorControl");
    if (!control) this.refuse("no detector control device configured: set detectorControl first");
    const modules = this.#moduleSources();
    if (modules.length === 0) this.refuse("no detector modules among the data sources");
    this.setMany({ pcState: "starting", pcProgress: 0 });
    this.#pc = this.#takePcScan(control, modules)
      .catch((e: unknown) => {
        const message = e instanceof Error ? e.message : String(e);
        this.setMany({ pcState: `failed: ${message}` });
        this.log.error("pulse-capacitor scan failed", { error: message });
      })
      .finally(() => {
        this.#pc = null;
      });
    return { started: `pulse-capacitor scan of ${this.get("pcTrains")} trains` };
  }

  #moduleSources(): string[] {
    return this.get("dataSources")
      .filter((s) => s.endsWith(":xtdf"))
      .map((s) => s.split(":")[0]!);
  }

  async #takePcScan(control: string, modules: string[]): Promise<void> {
    const client = new DeviceClient(this.broker, { user: this.id, accessLevel: "operator" });
    const trains = this.get("pcTrains");
    const saved = { runType: this.get("runType"), sample: this.get("sample") };
    let run: RunRecord;
    try {
      this.setMany({ pcState: "switching the detector to its pulse-capacitor scan", pcProgress: 0 });
      if (Number(await client.get(control, "gainModeIndex")) !== 0)
        await client.set(control, "gainModeIndex", 0);
      await client.set(control, "pcScan", true);
      for (const m of modules) await client.waitFor(m, "lastTrainScan", (v) => v === true, 120_000);
      const firstTrain = await lastTrainOf(client, modules);
      // The charge steps with the train ID (pulseCapacitorCharge), so a module that skips trains (a
      // loaded host, a producer backed off to every 2nd or 4th train) may miss steps: the run goes
      // on until every module has sent MIN_SCAN_CHARGES different charges in every gain stage (a line
      // per stage needs two), or until MAX_PROCEDURE_LENGTH times pcTrains trains.
      const detector = detectorByName(String(await client.get(modules[0]!, "detector")));
      const steps = pulseCapacitorLadder(detector).charges.length;
      const perStage = steps / detector.gainStages;
      const wanted = Math.min(perStage, MIN_SCAN_CHARGES);
      // Per module, the charges seen in each stage (the ladder runs through the stages in order).
      const seen = new Map(
        modules.map((m) => [m, Array.from({ length: detector.gainStages }, () => new Set<number>())]),
      );
      const onSourceTrain = (source: string, trainId: number) => {
        const step = trainId % steps;
        seen.get(source.split(":")[0]!)?.[Math.floor(step / perStage)]?.add(step);
      };
      const short = () => modules.filter((m) => seen.get(m)!.some((stage) => stage.size < wanted));
      const covered = () => {
        const sets = [...seen.values()].flat();
        return sets.reduce((n, stage) => n + Math.min(stage.size, wanted), 0) / (sets.length * wanted);
      };
      this.setMany({ runType: "pc", sample: "pulse-capacitor scan" });
      const { run: number } = await this.#record({ onSourceTrain, firstTrain });
      this.setMany({ pcState: `recording scan run ${number}`, pcProgress: 0.1 });
      await this.#recordUntil(
        number,
        trains,
        () => short().length === 0,
        (written) => this.set("pcProgress", 0.1 + 0.4 * Math.min(written / trains, covered())),
      );
      const closed = await this.stopRecording();
      const few = short().filter((m) => seen.get(m)!.some((stage) => stage.size > 0));
      if (few.length) {
        this.log.warn("modules sent too few scan charges", {
          run: number,
          wanted: `${wanted} per gain stage`,
          modules: few.map(
            (m) =>
              `${m}: ${seen
                .get(m)!
                .map((stage) => stage.size)
                .join("/")}`,
          ),
        });
      }
      const silent = closed.unrecorded.filter((s) => modules.includes(s));
      if (silent.length === modules.length)
        throw new SaseError(
          "RUN_STOPPED",
          `no module sent data to scan run ${number}: the detector did not keep up`,
        );
      run = this.#cat!.findRun(this.get("proposal"), number)!;
    } finally {
      this.setMany(saved);
      // Whatever happened, the detector goes back to photons.
      await client.set(control, "pcScan", false).catch(() => undefined);
    }
    this.setMany({
      pcRun: run.number,
      pcState: `characterising scan run ${run.number} (job)`,
      pcProgress: 0.5,
    });
    const job = await this.#characterise("pc", [run], modules[0]!, client);
    this.setMany({
      pcState: `done: RelativeGain and BadPixelsPC from scan run ${run.number} stored (job ${job})`,
      pcProgress: 1,
    });
  }

  /**
   * Waits while run `run` records: at least `trains` trains and until `enough()`, but no longer than
   * MAX_PROCEDURE_LENGTH times `trains` (what is then missing is reported by the caller).
   */
  async #recordUntil(
    run: number,
    trains: number,
    enough: () => boolean,
    progress?: (written: number) => void,
  ): Promise<void> {
    for (;;) {
      const written = this.#acq?.recording?.trainsWritten;
      if (written === undefined)
        throw new SaseError("RUN_STOPPED", `run ${run} stopped before ${trains} trains`);
      if ((written >= trains && enough()) || written >= MAX_PROCEDURE_LENGTH * trains) return;
      progress?.(written);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Runs `sase calibrate dark|pc` on the runs as a job; resolves with the job id once it is done. */
  async #characterise(
    kind: "dark" | "pc",
    runs: RunRecord[],
    someModule: string,
    client: DeviceClient,
  ): Promise<number> {
    const roots = this.#roots();
    const store = this.get("constantsStore") || roots.constants;
    const rows = Number(await client.get(someModule, "rows").catch(() => 0));
    const first = runs[0]!;
    const logs = join(roots.dataDir, "logs", proposalDirName(first.proposal));
    mkdirSync(logs, { recursive: true });
    const command = [
      process.execPath,
      SASE_BIN,
      "calibrate",
      kind,
      ...runs.map((r) => r.onlinePath),
      "--store",
      store,
      ...(kind === "dark" ? ["--create"] : []),
      ...(rows > 0 ? ["--rows", String(rows)] : []),
    ];
    const job = this.#cat!.addJob({
      runId: first.id,
      kind,
      executor: "local",
      command,
      logPath: join(logs, `${kind}-${runDirName(first.number)}-${Date.now().toString(36)}.log`),
    });
    const executor = new LocalExecutor(1);
    const jobs = await waitForJobs(this.#cat!, executor, { intervalMs: 500 });
    const done = jobs.find((j) => j.id === job.id);
    if (done?.state !== "done") {
      throw new SaseError(
        "JOB_FAILED",
        `characterisation job ${job.id} ${done?.state ?? "vanished"}: ${done?.error ?? ""} (log ${job.logPath})`,
      );
    }
    return job.id;
  }

  override async onShutdown(): Promise<void> {
    if (this.#acq) await this.stop().catch(() => undefined);
    this.#cat?.close();
  }
}

/** The latest train any of `modules` has sent (their lastTrainId). */
async function lastTrainOf(client: DeviceClient, modules: readonly string[]): Promise<number> {
  const ids = await Promise.all(modules.map((m) => client.get(m, "lastTrainId").then(Number)));
  return Math.max(0, ...ids);
}
