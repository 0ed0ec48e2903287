// The simulated detector online: one device per module, as the facility's XTDF receivers are
// (SPB_DET_AGIPD1M-1/DET/{m}CH0), each sending its module's raw train on output channel `xtdf`
// (source SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf). Data depend only on seed, module and train id, so any
// number of module devices stay consistent without talking to each other.
import { el, Hash, ndarray, type SchemaSpec, type Slots, State } from "../core/index.ts";
import { definePipelineDevice, outputChannel, TrainProducer } from "../pipeline/index.ts";
import type { DetectorDescription, GainStageName } from "./description.ts";
import { DETECTORS, detectorByName, GAIN_STAGE_NAMES, rawPlanes, reducedDetector } from "./description.ts";
import { fixedStage } from "./control-device.ts";
import { pulseCapacitorLadder, SimulatedDetector } from "./detector.ts";
import { type SimulationKey, SimulationThreads } from "./sim-threads.ts";
import type { RawModuleTrain } from "./simulate.ts";

/** Data schema of a raw module train on the `xtdf` channel (keys as in raw EXDF files). */
export const RAW_TRAIN_SCHEMA = {
  image: el.node({
    data: el.ndarray({
      dtype: "uint16",
      description: "(frames, planes, ss, fs): analog and digital planes, or values with gain bits",
    }),
    cellId: el.ndarray({ dtype: "uint16" }),
    pulseId: el.ndarray({ dtype: "uint64" }),
    trainId: el.ndarray({ dtype: "uint64" }),
    length: el.ndarray({ dtype: "uint32" }),
    status: el.ndarray({ dtype: "uint16" }),
  }),
  header: el.node({ trainId: el.uint64(), pulseCount: el.uint64() }),
} satisfies SchemaSpec;

const schema = {
  xtdf: outputChannel({ displayedName: "Raw module data", dataSchema: RAW_TRAIN_SCHEMA }),
  detector: el.string({ displayedName: "Detector", options: Object.keys(DETECTORS), default: "AGIPD1M" }),
  module: el.uint32({ displayedName: "Module", default: 0, max: 15 }),
  rows: el.uint32({ displayedName: "Rows simulated", description: "0 = the whole module", default: 0 }),
  cells: el.uint32({
    displayedName: "Memory cells per train",
    default: 352,
    min: 1,
    max: 4096,
    access: "reconfigurable",
  }),
  seed: el.uint32({ displayedName: "Seed", default: 1 }),
  dark: el.string({
    displayedName: "Dark run gain",
    description: "a gain stage: no photons, every pixel fixed in that stage; empty: photons, adaptive gain",
    options: ["", ...GAIN_STAGE_NAMES],
    default: "",
    access: "reconfigurable",
  }),
  pcScan: el.bool({
    displayedName: "Pulse-capacitor scan",
    description:
      "the detector's stepped pulse-capacitor charge in every pixel instead of photons (adaptive gain)",
    default: false,
    access: "reconfigurable",
  }),
  control: el.string({
    displayedName: "Control device",
    description:
      "the detector's control device to follow (memory cells from bunchStructure.nPulses, fixed gain from gainModeIndex); empty: none",
    default: "",
  }),
  threaded: el.bool({
    displayedName: "Simulate off the event loop",
    description: "simulate trains in worker threads shared by the process's module devices",
    default: true,
  }),
  rate: el.double({ displayedName: "Train rate", unit: "hertz", default: 10, minExc: 0, max: 100 }),
  autoStart: el.bool({ displayedName: "Start on init", default: true }),
  trainsSent: el.uint64({ displayedName: "Trains sent", access: "readOnly", default: 0n }),
  trainsSkipped: el.uint64({
    displayedName: "Trains skipped",
    description:
      "trains of the timing server (or periods of the rate) that went by while the previous train was still being simulated or sent: never sent",
    access: "readOnly",
    default: 0n,
  }),
  lastTrainId: el.uint64({ displayedName: "Last train sent", access: "readOnly", default: 0n }),
  trainStride: el.uint32({
    displayedName: "Sending every Nth train",
    description:
      "1 at the full rate; a module whose trains take longer than their period backs off to every 2nd, 4th, ... train of the timing server; every module and correction of the detector, in every process, applies the largest need among them (the timing server's trainGrids), so they all take the same trains",
    access: "readOnly",
    default: 1,
  }),
  trainStrideNeeded: el.uint32({
    displayedName: "Own need: every Nth train",
    description: "every how many trains this module alone could keep up with (its share of trainStride)",
    access: "readOnly",
    default: 1,
  }),
  simulationMs: el.double({
    displayedName: "Simulation time per train",
    description: "the last train's, from asking for it to having it (waiting for a thread included)",
    unit: "second",
    prefix: "milli",
    access: "readOnly",
    default: 0,
  }),
  lastTrainGain: el.string({
    displayedName: "Gain of the last train",
    description:
      "the fixed gain stage of the last train sent (a dark train), or empty for adaptive gain with photons",
    access: "readOnly",
    default: "",
  }),
  lastTrainScan: el.bool({
    displayedName: "Last train a scan",
    description: "whether the last train sent was a pulse-capacitor scan train",
    access: "readOnly",
    default: false,
  }),
  start: el.slot({ displayedName: "Start", allowedStates: [State.STOPPED] }),
  stop: el.slot({ displayedName: "Stop (ends the stream)", allowedStates: [State.ACQUIRING] }),
} satisfies SchemaSpec;

/** A raw module train as a pipeline token. */
export function rawTrainHash(tr: RawModuleTrain, det: DetectorDescription): Hash {
  const [ns, nf] = det.moduleShape;
  return new Hash({
    image: {
      data: ndarray(tr.data, [tr.frames, rawPlanes(det), ns, nf]),
      cellId: ndarray(tr.cellId, [tr.frames]),
      pulseId: ndarray(tr.pulseId, [tr.frames]),
      trainId: ndarray(new BigUint64Array(tr.frames).fill(tr.trainId), [tr.frames]),
      length: ndarray(tr.length, [tr.frames]),
      status: ndarray(tr.status, [tr.frames]),
    },
    header: { trainId: tr.trainId, pulseCount: BigInt(tr.frames) },
  });
}

/** One simulated detector module sending raw trains at the train rate; ACQUIRING while it sends. */
export class DetectorModuleDevice
  extends definePipelineDevice({
    classId: "DetectorModule",
    description: "Simulated AGIPD-like detector module: raw trains on output channel xtdf",
    schema,
  })
  implements Slots<typeof schema>
{
  #sim: SimulatedDetector | undefined;
  #threads: SimulationThreads | null = null;
  #det: DetectorDescription | undefined;
  readonly #producer = new TrainProducer(this, async (trainId, sent) => {
    const key = this.#key();
    const t0 = performance.now();
    const tr = await this.#simulate(BigInt(trainId), key);
    const simulationMs = performance.now() - t0;
    this.#offerForRecycling(tr);
    await this.output("xtdf").write(rawTrainHash(tr, this.#det!), { trainId });
    this.setMany({
      trainsSent: sent,
      trainsSkipped: this.#producer.skipped,
      lastTrainId: BigInt(trainId),
      trainStride: this.#producer.stride,
      trainStrideNeeded: this.#producer.ownStride,
      simulationMs,
      lastTrainGain: key.dark ?? "",
      lastTrainScan: key.pcScan === true,
    });
  });

  override async onInit(): Promise<void> {
    let det = detectorByName(this.get("detector"));
    if (this.get("rows") > 0) det = reducedDetector(det, { rows: this.get("rows") });
    if (this.get("module") >= det.nModules) this.refuse(`${det.name} has modules 0..${det.nModules - 1}`);
    this.#det = det;
    this.#producer.shareGrid((need) => this.joinTrainGrid(this.get("detector"), need));
    if (this.get("threaded")) this.#threads = SimulationThreads.acquire();
    const control = this.get("control");
    if (!control) {
      this.updateState(State.STOPPED, "stopped");
      if (this.get("autoStart")) this.start();
      return;
    }
    const followed = this.#follow(control);
    // A control device that answers at once gives the conditions before the first train; one on a
    // server not started yet is waited for in the background, the module STOPPED until then.
    let answered = false;
    await Promise.race([
      followed.then(() => {
        answered = true;
      }),
      new Promise((r) => setTimeout(r, 3000).unref()),
    ]);
    const ready = () => {
      this.updateState(State.STOPPED, "stopped");
      if (this.get("autoStart")) this.start();
    };
    if (answered) return ready();
    this.updateState(State.STOPPED, `stopped; waiting for the control device ${control}`);
    this.background("following the control device", async () => {
      await followed;
      if (this.state === State.STOPPED) ready();
    });
  }

  /**
   * Takes memory cells and fixed gain from the control device now and whenever they change there. The
   * control device may start after this one (another server of the facility): the module then waits,
   * STOPPED, and starts sending once it knows the conditions, never trains of the wrong shape.
   */
  #follow(control: string): Promise<void> {
    const apply = (key: string, value: unknown) => {
      if (key === "bunchStructure.nPulses" && typeof value === "number" && value !== this.get("cells")) {
        this.set("cells", value);
      } else if (key === "gainModeIndex" && typeof value === "number") {
        const dark = fixedStage(value) ?? "";
        if (dark !== this.get("dark")) this.set("dark", dark);
      } else if (key === "pcScan" && typeof value === "boolean" && value !== this.get("pcScan")) {
        this.set("pcScan", value);
      }
    };
    return this.follow(control, ["bunchStructure.nPulses", "gainModeIndex", "pcScan"], apply);
  }

  /** What the simulation is now (cells and dark gain may change while the device runs). */
  #key(): SimulationKey {
    const dark = this.get("dark");
    return {
      detector: this.get("detector"),
      rows: this.get("rows"),
      seed: this.get("seed"),
      cells: this.get("cells"),
      dark: dark === "" ? null : (dark as GainStageName),
      // A scan runs in adaptive gain: a fixed gain (dark run) wins.
      pcScan: dark === "" && this.get("pcScan"),
    };
  }

  /**
   * When the output feeds only inputs in this process, they are the only readers of the train's frames:
   * once each has said it is done (core's recycle), the simulation thread writes a later train into
   * them instead of into fresh memory. A reader that never says so keeps them from being reused.
   */
  #offerForRecycling(tr: RawModuleTrain): void {
    const threads = this.#threads;
    if (!threads) return;
    const module = this.get("module");
    this.output("xtdf").offerToLocalReaders(tr.data, () => threads.giveBack(module, tr.data));
  }

  /** One train, simulated in this thread (threaded = false) or in the shared simulation threads. */
  async #simulate(trainId: bigint, key: SimulationKey): Promise<RawModuleTrain> {
    if (this.#threads) return this.#threads.moduleTrain(key, this.get("module"), trainId);
    const o = this.#sim?.options;
    if (
      !this.#sim ||
      o?.cells !== key.cells ||
      (o.dark ?? null) !== key.dark ||
      !!o.pulseCapacitor !== key.pcScan
    ) {
      this.#sim = new SimulatedDetector(this.#det!, {
        seed: key.seed,
        cells: key.cells,
        modules: this.get("module") + 1,
        dark: key.dark,
        pulseCapacitor: key.pcScan ? pulseCapacitorLadder(this.#det!) : undefined,
      });
    }
    return this.#sim.moduleTrain(this.get("module"), trainId);
  }

  start(): void {
    this.updateState(
      State.ACQUIRING,
      `sending ${this.get("cells")} frames per train at ${this.get("rate")} Hz`,
    );
    this.#producer.start(this.get("rate"));
  }

  async stop(): Promise<void> {
    await this.#producer.stop();
    await this.output("xtdf").endOfStream();
    this.updateState(State.STOPPED, "stopped; stream ended");
  }

  override async onShutdown(): Promise<void> {
    await this.#producer.stop();
    if (this.#threads) await SimulationThreads.release();
    this.#threads = null;
  }
}
