// One module's corrector: constants + options + detector description, turning raw module trains into
// corrected ones. The online correction device and the offline command both go through correctTrain,
// so a replayed run is corrected bit for bit as the live data was.
import type { DetectorDescription } from "../detector/index.ts";
import { modulePixels } from "../detector/index.ts";
import type { ModuleConstants } from "./constants.ts";
import { ConstantsError, validateConstants } from "./constants.ts";
import type { CorrectionOptions } from "./kernel.ts";
import { correctFrames, DEFAULT_CORRECTION } from "./kernel.ts";
import { Arena, constantsInArena, SimdKernel, simdAvailable } from "./simd.ts";
import { type ErrorDetails, SaseError } from "../core/index.ts";

/** Error for raw data the corrector cannot take (shape, cell ids). */
export class RawDataError extends SaseError {
  override readonly name = "RawDataError";
  constructor(message: string, details?: ErrorDetails) {
    super("BAD_RAW_DATA", message, details);
  }
}

/** The image part of a raw module train. */
export interface RawFrames {
  readonly trainId: bigint;
  readonly frames: number;
  /** (frames, 2, ss, fs) uint16. */
  readonly data: Uint16Array;
  readonly cellId: ArrayLike<number>;
  readonly pulseId: BigUint64Array;
}

/** A corrected module train. */
export interface CorrectedModuleTrain {
  readonly trainId: bigint;
  readonly frames: number;
  /** (frames, ss, fs) float32. */
  readonly data: Float32Array;
  /** (frames, ss, fs) gain stage 0/1/2. */
  readonly gain: Uint8Array;
  /** (frames, ss, fs) bad-pixel bits. */
  readonly mask: Uint32Array;
  readonly cellId: Uint16Array;
  readonly pulseId: BigUint64Array;
}

/** The per-pixel arrays of a corrected train, which a caller may hand in to be written again. */
export type CorrectedArrays = Pick<CorrectedModuleTrain, "data" | "gain" | "mask">;

/** Throws a RawDataError unless `raw` has (frames, 2, pixels) values and every cell id < `cells`. */
export function checkRawFrames(raw: RawFrames, det: DetectorDescription, cells: number): void {
  const P = modulePixels(det);
  if (raw.data.length !== raw.frames * 2 * P) {
    throw new RawDataError(
      `train ${raw.trainId}: image.data holds ${raw.data.length} values, expected ${raw.frames} frames × 2 × ${det.moduleShape.join(" × ")}`,
    );
  }
  if (raw.cellId.length !== raw.frames) {
    throw new RawDataError(`train ${raw.trainId}: ${raw.cellId.length} cell ids for ${raw.frames} frames`);
  }
  for (let f = 0; f < raw.frames; f++) {
    const cell = raw.cellId[f]!;
    if (!(cell < cells)) {
      throw new RawDataError(
        `train ${raw.trainId}: frame ${f} is from memory cell ${cell}, the constants cover ${cells} cells`,
      );
    }
  }
}

/** Options of a ModuleCorrector beyond the correction switches. */
export interface CorrectorOptions extends Partial<CorrectionOptions> {
  /**
   * Run the WebAssembly SIMD kernel where it applies (default: when the engine supports it). Results
   * are the same bits either way; the constants are then copied into the kernel's memory.
   */
  readonly simd?: boolean;
}

/** The SIMD kernel with its memory: constants, and one train's raw frames and outputs. */
interface SimdState {
  readonly kernel: SimdKernel;
  readonly constants: ModuleConstants;
  readonly raw: Uint16Array;
  readonly out: { data: Float32Array; gain: Uint8Array; mask: Uint32Array };
}

/** Corrects one module's trains with fixed constants. */
export class ModuleCorrector {
  readonly options: CorrectionOptions;
  /** The constants in use (in the SIMD kernel's memory when it runs; the caller's copy can go). */
  readonly constants: ModuleConstants;
  readonly #simd: SimdState | null;

  /** Validates the constants against the description (throws ConstantsError). */
  constructor(
    readonly detector: DetectorDescription,
    readonly module: number,
    constants: ModuleConstants,
    options: CorrectorOptions = {},
  ) {
    validateConstants(constants, detector);
    const { simd, ...correction } = options;
    this.options = { ...DEFAULT_CORRECTION, saturation: detector.sensor.adcMax, ...correction };
    if (this.options.commonMode && detector.asics.length === 0) {
      throw new ConstantsError(`${detector.name} describes no ASICs; common mode needs them`);
    }
    const useSimd = (simd ?? true) && constants.pixels % 4 === 0 && constants.stages === 3 && simdAvailable();
    this.#simd = useSimd ? simdState(constants) : null;
    this.constants = this.#simd?.constants ?? constants;
  }

  /** True when trains go through the WebAssembly SIMD kernel. */
  get usesSimd(): boolean {
    return this.#simd !== null;
  }

  /** Corrects one train into fresh arrays (or into `into`, if given and large enough). */
  correctTrain(raw: RawFrames, into?: CorrectedArrays): CorrectedModuleTrain {
    checkRawFrames(raw, this.detector, this.constants.cells);
    const n = raw.frames * this.constants.pixels;
    const s = this.#simd;
    let out: { data: Float32Array; gain: Uint8Array; mask: Uint32Array };
    const fsWidth = this.detector.moduleShape[1];
    if (s && raw.frames <= this.constants.cells) {
      // Frames are copied into the kernel's memory and the results out of it (memcpy speed).
      s.raw.set(raw.data);
      correctFrames(
        s.constants,
        s.raw,
        raw.cellId,
        0,
        raw.frames,
        s.out,
        this.options,
        this.detector.asics,
        fsWidth,
        s.kernel,
      );
      out =
        into && into.data.length >= n
          ? into
          : { data: new Float32Array(n), gain: new Uint8Array(n), mask: new Uint32Array(n) };
      out.data.set(s.out.data.subarray(0, n));
      out.gain.set(s.out.gain.subarray(0, n));
      out.mask.set(s.out.mask.subarray(0, n));
    } else {
      out =
        into && into.data.length >= n
          ? into
          : { data: new Float32Array(n), gain: new Uint8Array(n), mask: new Uint32Array(n) };
      correctFrames(
        this.constants,
        raw.data,
        raw.cellId,
        0,
        raw.frames,
        out,
        this.options,
        this.detector.asics,
        fsWidth,
      );
    }
    return {
      trainId: raw.trainId,
      frames: raw.frames,
      data: out.data.subarray(0, n),
      gain: out.gain.subarray(0, n),
      mask: out.mask.subarray(0, n),
      cellId: Uint16Array.from(raw.cellId),
      pulseId: raw.pulseId.slice(),
    };
  }
}

/** Copies constants into an arena sized for them plus one train of `cells` frames. */
function simdState(c: ModuleConstants): SimdState {
  const frames = c.cells;
  const P = c.pixels;
  const arena = new Arena(
    4 * (c.thresholds.length + c.offset.length + c.relativeGain.length + c.badPixels.length) +
      frames * P * 13 +
      4096,
  );
  const constants = constantsInArena(arena, c);
  return {
    kernel: SimdKernel.create(arena, P),
    constants,
    raw: arena.uint16(frames * 2 * P),
    out: { data: arena.floats(frames * P), gain: arena.uint8(frames * P), mask: arena.uint32(frames * P) },
  };
}
