// Online correction: one device per detector module (as the facility's calng correction devices),
// fed raw trains by a pipeline input, sending corrected trains on its output. It finds its constants
// in the constants store for the detector's current conditions (its own properties, or those of the
// detector's control device it follows) and corrects through the same ModuleCorrector as the offline
// command, so both give the same bits. The work runs in correction threads shared by the process's
// devices (off the event loop). A newer constant version in the store, or changed conditions, are
// picked up while running; without matching constants the raw signal passes through, flagged, with a
// warning, so the chain downstream keeps running. Several devices may share one module's output
// (input dataDistribution "shared") to spread the trains over more cores.
//
// A correction short of CPU (or held up by a slower consumer that asked to be waited for) backs off on
// the facility's train grid, as the detector modules do: it corrects every 2nd, 4th ... 16th train
// (IDs that are multiples of its `trainStride`) and lets the others go uncorrected (`trainsSkipped`).
// Left to the pipeline's drop policy, each of a detector's corrections would lose whatever train
// arrived while it was busy, so sixteen of them almost never corrected the same train; on one grid of
// powers of two they do (every train of a correction at every 4th is one of a correction at every 2nd
// too), and the assembler gets whole trains at the slowest correction's rate. The grid is the
// detector's, shared with its modules and corrections in every process (core's TrainGrids).
import { el, Hash, ndarray, type NDArray, type SchemaSpec, type Slots, State } from "../core/index.ts";
import type { DetectorDescription } from "../detector/index.ts";
import {
  aggregatorName,
  DETECTORS,
  decodeRaw,
  detectorByName,
  GAIN_MODES,
  modulePixels,
  reducedDetector,
} from "../detector/index.ts";
import { BadPixels } from "./badpixels.ts";
import { ConstantsError } from "./constants.ts";
import {
  type DataToken,
  definePipelineDevice,
  GridBackoff,
  inputChannel,
  outputChannel,
} from "../pipeline/index.ts";
import type { CorrectedModuleTrain, RawFrames } from "./corrector.ts";
import { ModuleCorrector, RawDataError } from "./corrector.ts";
import type { GainMode } from "./kernel.ts";
import { loadModuleConstants } from "./module-constants.ts";
import {
  type ConstantUse,
  CorrectionThreads,
  MissingConstantsError,
  type OnlineSetup,
  USED_CALIBRATIONS,
} from "./online-threads.ts";
import { agipdConditions, type Conditions, ConstantStore, pcConditions } from "./store.ts";

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
/** Operating conditions: set by hand, or followed from the control device. */
const cond = { access: "reconfigurable" } as const;

/** Control-device keys (AGIPD FPGA_COMP) and the condition property each one sets. */
const CONTROL_KEYS = {
  "bunchStructure.nPulses": "memoryCells",
  "bunchStructure.repetitionRate": "acquisitionRate",
  "highVoltage.target": "biasVoltage",
  gain: "gainSetting",
  gainModeIndex: "gainMode",
  integrationTime: "integrationTime",
} as const;

const schema = {
  input: inputChannel({ displayedName: "Raw module data", onSlowness: "wait" }),
  output: outputChannel({ displayedName: "Corrected module data", dataSchema: CORRECTED_TRAIN_SCHEMA }),
  detector: el.string({ displayedName: "Detector", options: Object.keys(DETECTORS), default: "AGIPD1M" }),
  module: el.uint32({ displayedName: "Module", default: 0, max: 15 }),
  rows: el.uint32({ displayedName: "Rows", description: "0 = the whole module", default: 0 }),
  constantsStore: el.string({ displayedName: "Constants store", description: "directory of the store" }),
  control: el.string({
    displayedName: "Control device",
    description:
      "the detector's control device whose operating conditions select the constants; empty: the condition properties below",
    default: "",
  }),
  memoryCells: el.uint32({ displayedName: "Memory cells", default: 352, ...cond }),
  acquisitionRate: el.double({ displayedName: "Acquisition rate", unit: "hertz", default: 4.5, ...cond }),
  biasVoltage: el.double({ displayedName: "Sensor bias voltage", default: 300, ...cond }),
  gainSetting: el.uint32({ displayedName: "Gain setting", default: 0, max: 1, ...cond }),
  gainMode: el.string({
    displayedName: "Gain mode",
    options: ["adaptive", "fixed-high", "fixed-medium", "fixed-low"],
    default: "adaptive",
    ...cond,
  }),
  integrationTime: el.uint32({ displayedName: "Integration time", default: 12, ...cond }),
  commonMode: el.bool({ displayedName: "Common-mode correction", default: false }),
  relativeGain: el.bool({ displayedName: "Relative gain", default: true }),
  maskNaN: el.bool({ displayedName: "NaN where masked", default: false }),
  threaded: el.bool({
    displayedName: "Correct off the event loop",
    description: "in correction threads shared by the process's correction devices",
    default: true,
  }),
  constantsPollMs: el.uint32({
    displayedName: "New-constants check (ms)",
    description: "how often the store is asked for newer constant versions (0 = never)",
    default: 2000,
  }),
  trainsCorrected: el.uint64({ displayedName: "Trains corrected", ...ro, default: 0n }),
  trainsPassedRaw: el.uint64({ displayedName: "Trains passed through raw", ...ro, default: 0n }),
  trainsRejected: el.uint64({ displayedName: "Trains rejected", ...ro, default: 0n }),
  trainsSkipped: el.uint64({
    displayedName: "Trains skipped",
    description:
      "trains received off the grid this correction keeps up with (see trainStride): not corrected",
    ...ro,
    default: 0n,
  }),
  trainStride: el.uint32({
    displayedName: "Correcting every Nth train",
    description:
      "1: every train; a correction whose trains (correction and sending) take longer than their period backs off to every 2nd, 4th ... 16th train of the timing server's IDs; every module and correction of the detector, in every process, applies the largest need among them (the timing server's trainGrids)",
    ...ro,
    default: 1,
  }),
  trainStrideNeeded: el.uint32({
    displayedName: "Own need: every Nth train",
    description: "every how many trains this correction alone could keep up with (its share of trainStride)",
    ...ro,
    default: 1,
  }),
  lastTrainId: el.uint64({ displayedName: "Last train", ...ro, default: 0n }),
  processingMs: el.double({ displayedName: "Correction time per train", unit: "second", ...ro, default: 0 }),
  constantIds: el.string({ displayedName: "Constant versions used", ...ro, default: "" }),
  constants: el.table(
    {
      calibration: el.string({ default: "" }),
      id: el.uint32({ default: 0 }),
      origin: el.string({ default: "" }),
      createdAt: el.string({ default: "" }),
      beginValidity: el.string({ default: "" }),
    },
    { displayedName: "Constants in use", ...ro, default: [] },
  ),
  passThrough: el.bool({
    displayedName: "Passing raw data through",
    description: "no constants match the conditions: the output carries the raw signal, masked NO_DARK_DATA",
    ...ro,
    default: false,
  }),
  warning: el.string({ displayedName: "Warning", ...ro, default: "" }),
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

/** The raw analog signal as a "corrected" train: what passes through when no constants match. */
export function passThroughTrain(raw: RawFrames, det: DetectorDescription): CorrectedModuleTrain {
  const P = modulePixels(det);
  const n = raw.frames * P;
  const data = new Float32Array(n);
  for (let f = 0; f < raw.frames; f++) {
    const from = raw.data.subarray(f * 2 * P, f * 2 * P + P);
    data.set(from, f * P);
  }
  return {
    trainId: raw.trainId,
    frames: raw.frames,
    data,
    gain: new Uint8Array(n),
    mask: new Uint32Array(n).fill(BadPixels.NO_DARK_DATA),
    cellId: Uint16Array.from(raw.cellId),
    pulseId: raw.pulseId.slice(),
  };
}

/** Corrects one module's raw trains online; ON while running (passing raw data through, with a warning, without constants). */
export class CorrectionDevice
  extends definePipelineDevice({
    classId: "ModuleCorrection",
    description: "Corrects one detector module's raw trains (offset, gain, relative gain, mask)",
    schema,
  })
  implements Slots<typeof schema>
{
  #corrector: ModuleCorrector | undefined;
  #threads: CorrectionThreads | null = null;
  /** Constants are loaded (in this thread or the correction thread). */
  #ready = false;
  #used: readonly ConstantUse[] = [];
  #det: DetectorDescription | undefined;
  #store: ConstantStore | null = null;
  #reload: Promise<void> | null = null;
  #reloadAgain = false;
  #done = 0;
  #raw = 0;
  #rejected = 0;
  #skipped = 0;
  /**
   * Which trains it corrects: its own back-off, on the grid shared with the detector's other modules
   * and corrections (those of this process at once, the facility's through the timing server), since
   * the assembler needs every module of a train and a train only some corrected is work for nothing.
   */
  #grid = new GridBackoff();

  override async onInit(): Promise<void> {
    let det = detectorByName(this.get("detector"));
    if (this.get("rows") > 0) det = reducedDetector(det, { rows: this.get("rows") });
    this.#det = det;
    this.#grid.share((need) => this.joinTrainGrid(this.get("detector"), need));
    if (this.get("threaded")) this.#threads = CorrectionThreads.acquire();
    const control = this.get("control");
    if (control) await this.#follow(control);
    await this.loadConstants();
    const poll = this.get("constantsPollMs");
    if (poll > 0) this.every(poll, () => this.#checkForNewConstants());
    this.input("input").onData(async (token) => {
      const trainId = token.meta.timestamp.trainId;
      // Off the grid: taken (the input's accounting stays exact) and let go at once, so the correction
      // is free when the next train on its grid comes.
      if (!this.#grid.admits(trainId)) {
        this.setMany({ trainsSkipped: BigInt(++this.#skipped), trainStride: this.#grid.stride });
        this.#rawRead(token);
        return;
      }
      const t0 = performance.now();
      let out: CorrectedModuleTrain;
      try {
        const raw = rawFramesOf(token.data, trainId, det);
        if (!this.#ready) {
          out = passThroughTrain(raw, det);
          this.set("trainsPassedRaw", BigInt(++this.#raw));
        } else if (this.#threads) {
          out = await this.#threads.correct(this.id, this.get("module"), raw);
          this.#offerForRecycling(out);
        } else {
          out = this.#corrector!.correctTrain(raw);
        }
      } catch (e) {
        // A bad train is dropped and counted; the device keeps correcting the next ones.
        this.log.warn("train rejected", { trainId, error: e instanceof Error ? e.message : String(e) });
        this.set("trainsRejected", BigInt(++this.#rejected));
        return;
      } finally {
        // The raw frames were read (copied to the thread, or corrected here): nothing downstream
        // refers to them (corrected trains have copies of cellId and pulseId).
        this.#rawRead(token);
      }
      // The train keeps the time it left the detector: downstream latency counts from there.
      await this.output("output").write(correctedTrainHash(out, det), { timestamp: token.meta.timestamp });
      // The time a train holds this correction, its wait for a consumer that asked to be waited for
      // included: that is what decides which trains it can keep up with.
      this.#grid.took(performance.now() - t0, trainId);
      this.setMany({
        ...(this.#ready ? { trainsCorrected: BigInt(++this.#done) } : {}),
        lastTrainId: BigInt(trainId),
        processingMs: performance.now() - t0,
        trainStride: this.#grid.stride,
        trainStrideNeeded: this.#grid.ownStride,
      });
    });
    // The module's end of stream goes on downstream after its last corrected train: the inputs there
    // see the stream end, and over TCP the output's final drop count travels with it (Karabo's protocol
    // has no other message for it), so what this device wrote = what they got + what was dropped.
    this.input("input").onEndOfStream(() => this.output("output").endOfStream());
  }

  /**
   * Says that this correction no longer reads a raw train: an in-process maker may reuse its arrays,
   * and memory it was received into over TCP receives a later train (not fresh pages, each a fault).
   * The whole token goes back: nothing of it goes on downstream by reference (the frames are copied
   * to the thread or corrected here into new arrays, cellId and pulseId copied; passThroughTrain too).
   */
  #rawRead(token: DataToken): void {
    this.input("input").release(token);
  }

  /**
   * When this output feeds only inputs in this process (the facility's assembler), they are the only
   * readers of the train's arrays: once each has said it is done (core's recycle), the thread corrects a
   * later train into them instead of into fresh memory.
   */
  #offerForRecycling(out: CorrectedModuleTrain): void {
    const threads = this.#threads!;
    this.output("output").offerToLocalReaders(out.data, () => threads.giveBack(this.id, out));
  }

  /**
   * Takes the operating conditions from the control device, now and whenever they change there. When
   * the control device starts after this one, the constants are looked up again once it answers.
   */
  async #follow(control: string): Promise<void> {
    let loaded = false;
    const apply = (key: string, value: unknown): void => {
      const prop = CONTROL_KEYS[key as keyof typeof CONTROL_KEYS];
      if (!prop || typeof value !== "number") return;
      const det = this.#det!;
      const v =
        prop === "gainMode"
          ? (GAIN_MODES[value] ?? "adaptive")
          : prop === "memoryCells"
            ? Math.min(det.maxCells, Math.max(1, value)) // the run's own count; lookups snap it
            : value;
      if (this.get(prop) === v) return;
      this.set(prop, v as never);
      if (loaded) this.#scheduleReload();
    };
    const first = this.follow(control, Object.keys(CONTROL_KEYS), apply);
    // A control device that answers at once sets the conditions before the first load; a late one
    // changes them afterwards, and each change reloads.
    await Promise.race([first, new Promise((r) => setTimeout(r, 3000).unref())]);
    loaded = true;
  }

  override onReconfigure(changes: Record<string, unknown>): void {
    if (Object.values(CONTROL_KEYS).some((k) => k in changes)) this.after(0, () => this.#scheduleReload());
  }

  /** One reload at a time; changes during a reload load once more afterwards. */
  #scheduleReload(): void {
    if (this.#reload) {
      this.#reloadAgain = true;
      return;
    }
    this.#reload = this.loadConstants().finally(() => {
      this.#reload = null;
      if (this.#reloadAgain) {
        this.#reloadAgain = false;
        this.#scheduleReload();
      }
    });
  }

  #conditions(): Conditions {
    const det = this.#det!;
    return agipdConditions({
      memoryCells: this.get("memoryCells"),
      acquisitionRate: this.get("acquisitionRate"),
      biasVoltage: this.get("biasVoltage"),
      gainSetting: this.get("gainSetting"),
      gainMode: (GAIN_MODES as readonly string[]).indexOf(this.get("gainMode")),
      integrationTime: this.get("integrationTime"),
      pixelsX: det.moduleShape[0],
      pixelsY: det.moduleShape[1],
    });
  }

  /** Reloads when the store holds other versions for the conditions now than those in use. */
  #checkForNewConstants(): void {
    const root = this.get("constantsStore");
    if (!root || this.#reload) return;
    const det = this.#det!;
    const conditions = this.#conditions();
    const eventAt = new Date();
    const store = this.#openStore(root);
    if (!store) return;
    const ids = USED_CALIBRATIONS.map(
      (calibration) =>
        store.find({
          detector: det.karaboId,
          module: this.#aggregator(),
          calibration,
          // Pulse-capacitor constants are found without the gain mode, as loadModuleConstants does.
          conditions:
            calibration === "RelativeGain" || calibration === "BadPixelsPC"
              ? pcConditions(conditions)
              : conditions,
          eventAt,
          cellOptions: det.cellOptions,
        })?.id ?? 0,
    );
    const inUse = USED_CALIBRATIONS.map((c) => this.#used.find((u) => u.calibration === c)?.id ?? 0);
    if (ids.join() !== inUse.join()) this.#scheduleReload();
  }

  #aggregator(): string {
    return aggregatorName(this.#det!, this.get("module"));
  }

  #openStore(root: string): ConstantStore | null {
    if (this.#store && this.#store.root === root) return this.#store;
    this.#store?.close();
    this.#store = null;
    try {
      this.#store = ConstantStore.catalogueOnly(root);
    } catch {
      return null;
    }
    return this.#store;
  }

  async loadConstants(): Promise<void> {
    const det = this.#det!;
    const root = this.get("constantsStore");
    const module = this.get("module");
    const conditions = this.#conditions();
    const options = {
      gainMode: this.get("gainMode") as GainMode,
      commonMode: this.get("commonMode"),
      relativeGain: this.get("relativeGain"),
      maskedValue: this.get("maskNaN") ? Number.NaN : null,
    };
    try {
      if (!root) throw new MissingConstantsError("no constants store configured");
      if (this.#threads) {
        const setup: OnlineSetup = {
          detector: this.get("detector"),
          rows: this.get("rows"),
          module,
          storeRoot: root,
          conditions,
          eventAt: Date.now(),
          options,
        };
        this.#used = await this.#threads.load(this.id, setup);
      } else {
        const store = await ConstantStore.open(root);
        try {
          const { constants, provenance } = loadModuleConstants(store, det, module, conditions, new Date());
          this.#corrector = new ModuleCorrector(det, module, constants, options);
          const recs = [
            provenance.offset,
            provenance.thresholds,
            provenance.badPixels,
            provenance.relativeGain,
          ];
          this.#used = recs.flatMap((r) => (r ? [r] : []));
        } finally {
          store.close();
        }
      }
      this.#ready = true;
      this.setMany({
        constantIds: this.#used.map((r) => String(r.id)).join(","),
        constants: this.#used.map((u) => ({
          calibration: u.calibration,
          id: u.id,
          origin: u.origin,
          createdAt: u.createdAt,
          beginValidity: u.beginValidity,
        })),
        passThrough: false,
        warning: "",
      });
      const origin = this.#used[0]?.origin;
      this.updateState(
        State.ON,
        `correcting with constants ${this.get("constantIds")}${origin ? ` (${origin})` : ""}`,
      );
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!(e instanceof MissingConstantsError) && !(e instanceof ConstantsError)) {
        this.#ready = false;
        this.fault(message);
        return;
      }
      // No constants for these conditions: the chain keeps running on raw data, and says so.
      this.#ready = false;
      this.#corrector = undefined;
      this.#used = [];
      this.setMany({ constantIds: "", constants: [], passThrough: true, warning: message });
      this.updateState(State.ON, `WARNING: passing raw data through: ${message}`);
      this.log.warn("no constants: passing raw data through", { error: message });
    }
  }

  override async onShutdown(): Promise<void> {
    this.#store?.close();
    this.#store = null;
    if (this.#threads) {
      await this.#threads.drop(this.id, this.get("module")).catch(() => undefined);
      await CorrectionThreads.release();
    }
    this.#threads = null;
  }
}
