// Online correction: one device per detector module (as the facility's calng correction devices),
// fed raw trains by a pipeline input, sending corrected trains on its output. It finds its constants
// in the constants store for the conditions it is configured with and corrects through the same
// ModuleCorrector as the offline command, so both give the same bits. Several devices may share one
// module's output (input dataDistribution "shared") to spread the trains over more cores.
import { el, Hash, ndarray, type NDArray, type SchemaSpec, type Slots, State } from "../core/index.ts";
import type { DetectorDescription } from "../detector/index.ts";
import { DETECTORS, decodeRaw, detectorByName, reducedDetector } from "../detector/index.ts";
import { definePipelineDevice, inputChannel, outputChannel } from "../pipeline/index.ts";
import type { CorrectedModuleTrain, RawFrames } from "./corrector.ts";
import { ModuleCorrector, RawDataError } from "./corrector.ts";
import type { GainMode } from "./kernel.ts";
import { loadModuleConstants } from "./module-constants.ts";
import { agipdConditions, ConstantStore } from "./store.ts";

/** Data schema of a corrected module train (keys as in CORR files). */
export const CORRECTED_TRAIN_SCHEMA = {
  image: el.node({
    data: el.ndarray({ dtype: "float32", description: "(frames, ss, fs) corrected signal" }),
    gain: el.ndarray({ dtype: "uint8", description: "gain stage per pixel" }),
    mask: el.ndarray({ dtype: "uint32", description: "bad-pixel bits" }),
    cellId: el.ndarray({ dtype: "uint16" }),
    pulseId: el.ndarray({ dtype: "uint64" }),
    trainId: el.ndarray({ dtype: "uint64" }),
  }),
} satisfies SchemaSpec;

const ro = { access: "readOnly" } as const;

const schema = {
  input: inputChannel({ displayedName: "Raw module data", onSlowness: "wait" }),
  output: outputChannel({ displayedName: "Corrected module data", dataSchema: CORRECTED_TRAIN_SCHEMA }),
  detector: el.string({ displayedName: "Detector", options: Object.keys(DETECTORS), default: "AGIPD1M" }),
  module: el.uint32({ displayedName: "Module", default: 0, max: 15 }),
  rows: el.uint32({ displayedName: "Rows", description: "0 = the whole module", default: 0 }),
  constantsStore: el.string({ displayedName: "Constants store", description: "directory of the store" }),
  memoryCells: el.uint32({ displayedName: "Memory cells", default: 352 }),
  acquisitionRate: el.double({ displayedName: "Acquisition rate", unit: "hertz", default: 4.5 }),
  biasVoltage: el.double({ displayedName: "Sensor bias voltage", default: 300 }),
  gainSetting: el.uint32({ displayedName: "Gain setting", default: 0, max: 1 }),
  gainMode: el.string({
    displayedName: "Gain mode",
    options: ["adaptive", "fixed-high", "fixed-medium", "fixed-low"],
    default: "adaptive",
  }),
  integrationTime: el.uint32({ displayedName: "Integration time", default: 12 }),
  commonMode: el.bool({ displayedName: "Common-mode correction", default: false }),
  relativeGain: el.bool({ displayedName: "Relative gain", default: true }),
  maskNaN: el.bool({ displayedName: "NaN where masked", default: false }),
  trainsCorrected: el.uint64({ displayedName: "Trains corrected", ...ro, default: 0n }),
  trainsRejected: el.uint64({ displayedName: "Trains rejected", ...ro, default: 0n }),
  lastTrainId: el.uint64({ displayedName: "Last train", ...ro, default: 0n }),
  processingMs: el.double({ displayedName: "Correction time per train", unit: "second", ...ro, default: 0 }),
  constantIds: el.string({ displayedName: "Constant versions used", ...ro, default: "" }),
  loadConstants: el.slot({ displayedName: "Reload constants", allowedStates: [State.ON, State.ERROR] }),
} satisfies SchemaSpec;

/** A corrected train as a pipeline token. */
export function correctedTrainHash(out: CorrectedModuleTrain, det: DetectorDescription): Hash {
  const [ns, nf] = det.moduleShape;
  const shape = [out.frames, ns, nf];
  return new Hash({
    image: {
      data: ndarray(out.data, shape),
      gain: ndarray(out.gain, shape),
      mask: ndarray(out.mask, shape),
      cellId: ndarray(out.cellId, [out.frames]),
      pulseId: ndarray(out.pulseId, [out.frames]),
      trainId: ndarray(new BigUint64Array(out.frames).fill(out.trainId), [out.frames]),
    },
  });
}

/** Raw frames of a pipeline token (throws RawDataError naming what is missing). */
export function rawFramesOf(data: Hash, trainId: number, det: DetectorDescription): RawFrames {
  const arr = (key: string): NDArray => {
    const v = data.get(key);
    if (typeof v !== "object" || v === null || !("data" in v))
      throw new RawDataError(`train ${trainId}: no ${key}`);
    return v as NDArray;
  };
  const image = arr("image.data");
  const cellId = arr("image.cellId");
  const pulseId = arr("image.pulseId");
  if (image.dtype !== "uint16")
    throw new RawDataError(`train ${trainId}: image.data is ${image.dtype}, not uint16`);
  return {
    trainId: BigInt(trainId),
    frames: image.shape[0] ?? 0,
    data: decodeRaw(det, image.data as Uint16Array, image.shape[0] ?? 0),
    cellId: cellId.data as Uint16Array,
    pulseId: pulseId.data as BigUint64Array,
  };
}

/** Corrects one module's raw trains online; ON once its constants are loaded, ERROR without them. */
export class CorrectionDevice
  extends definePipelineDevice({
    classId: "ModuleCorrection",
    description: "Corrects one detector module's raw trains (offset, gain, relative gain, mask)",
    schema,
  })
  implements Slots<typeof schema>
{
  #corrector: ModuleCorrector | undefined;
  #det: DetectorDescription | undefined;
  #done = 0;
  #rejected = 0;

  override async onInit(): Promise<void> {
    let det = detectorByName(this.get("detector"));
    if (this.get("rows") > 0) det = reducedDetector(det, { rows: this.get("rows") });
    this.#det = det;
    await this.loadConstants();
    this.input("input").onData(async (token) => {
      const corrector = this.#corrector;
      if (!corrector) return;
      const trainId = token.meta.timestamp.trainId;
      const t0 = performance.now();
      let out: CorrectedModuleTrain;
      try {
        out = corrector.correctTrain(rawFramesOf(token.data, trainId, det));
      } catch (e) {
        // A bad train is dropped and counted; the device keeps correcting the next ones.
        this.log.warn("train rejected", { trainId, error: e instanceof Error ? e.message : String(e) });
        this.set("trainsRejected", BigInt(++this.#rejected));
        return;
      }
      await this.output("output").write(correctedTrainHash(out, det), { trainId });
      this.setMany({
        trainsCorrected: BigInt(++this.#done),
        lastTrainId: BigInt(trainId),
        processingMs: performance.now() - t0,
      });
    });
  }

  async loadConstants(): Promise<void> {
    const det = this.#det!;
    const root = this.get("constantsStore");
    if (!root) {
      this.fault("no constants store configured");
      return;
    }
    const conditions = agipdConditions({
      memoryCells: this.get("memoryCells"),
      acquisitionRate: this.get("acquisitionRate"),
      biasVoltage: this.get("biasVoltage"),
      gainSetting: this.get("gainSetting"),
      gainMode: ["adaptive", "fixed-high", "fixed-medium", "fixed-low"].indexOf(this.get("gainMode")),
      integrationTime: this.get("integrationTime"),
      pixelsX: det.moduleShape[0],
      pixelsY: det.moduleShape[1],
    });
    const store = await ConstantStore.open(root);
    try {
      const { constants, provenance } = loadModuleConstants(
        store,
        det,
        this.get("module"),
        conditions,
        new Date(),
      );
      this.#corrector = new ModuleCorrector(det, this.get("module"), constants, {
        gainMode: this.get("gainMode") as GainMode,
        commonMode: this.get("commonMode"),
        relativeGain: this.get("relativeGain"),
        maskedValue: this.get("maskNaN") ? Number.NaN : null,
      });
      const ids = [provenance.offset, provenance.thresholds, provenance.badPixels, provenance.relativeGain];
      this.set("constantIds", ids.flatMap((r) => (r ? [String(r.id)] : [])).join(","));
      this.updateState(State.ON, `correcting with constants from ${root}`);
    } catch (e) {
      this.#corrector = undefined;
      this.fault(e instanceof Error ? e.message : String(e));
    } finally {
      store.close();
    }
  }
}
