// The simulated detector online: one device per module, as the facility's XTDF receivers are
// (SPB_DET_AGIPD1M-1/DET/{m}CH0), each sending its module's raw train on output channel `xtdf`
// (source SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf). Data depend only on seed, module and train id, so any
// number of module devices stay consistent without talking to each other.
import { el, Hash, ndarray, type SchemaSpec, type Slots, State } from "../core/index.ts";
import { definePipelineDevice, outputChannel, TrainProducer } from "../pipeline/index.ts";
import type { DetectorDescription, GainStageName } from "./description.ts";
import { DETECTORS, detectorByName, GAIN_STAGE_NAMES, rawPlanes, reducedDetector } from "./description.ts";
import { SimulatedDetector } from "./detector.ts";
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
  cells: el.uint32({ displayedName: "Memory cells per train", default: 352, min: 1, max: 4096 }),
  seed: el.uint32({ displayedName: "Seed", default: 1 }),
  dark: el.string({ displayedName: "Dark run gain", options: ["", ...GAIN_STAGE_NAMES], default: "" }),
  rate: el.double({ displayedName: "Train rate", unit: "hertz", default: 10, minExc: 0, max: 100 }),
  autoStart: el.bool({ displayedName: "Start on init", default: true }),
  trainsSent: el.uint64({ displayedName: "Trains sent", access: "readOnly", default: 0n }),
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
  #det: DetectorDescription | undefined;
  readonly #producer = new TrainProducer(this, async (trainId, sent) => {
    const tr = this.#sim!.moduleTrain(this.get("module"), BigInt(trainId));
    await this.output("xtdf").write(rawTrainHash(tr, this.#det!), { trainId });
    this.set("trainsSent", sent);
  });

  override onInit(): void {
    let det = detectorByName(this.get("detector"));
    if (this.get("rows") > 0) det = reducedDetector(det, { rows: this.get("rows") });
    if (this.get("module") >= det.nModules) this.refuse(`${det.name} has modules 0..${det.nModules - 1}`);
    this.#det = det;
    const dark = this.get("dark");
    this.#sim = new SimulatedDetector(det, {
      seed: this.get("seed"),
      cells: this.get("cells"),
      modules: this.get("module") + 1,
      dark: dark === "" ? null : (dark as GainStageName),
    });
    this.updateState(State.STOPPED, "stopped");
    if (this.get("autoStart")) this.start();
  }

  start(): void {
    this.updateState(
      State.ACQUIRING,
      `sending ${this.get("cells")} frames per train at ${this.get("rate")} Hz`,
    );
    this.#producer.start(this.get("rate"));
  }

  async stop(): Promise<void> {
    this.#producer.stop();
    await this.output("xtdf").endOfStream();
    this.updateState(State.STOPPED, "stopped; stream ended");
  }
}
