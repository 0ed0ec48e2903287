// One module's corrector: constants + options + detector description, turning raw module trains into
// corrected ones. The online correction device and the offline command both go through correctTrain,
// so a replayed run is corrected bit for bit as the live data was.
import type { DetectorDescription } from "../detector/index.ts";
import { modulePixels } from "../detector/index.ts";
import type { ModuleConstants } from "./constants.ts";
import { ConstantsError, validateConstants } from "./constants.ts";
import type { CorrectionOptions } from "./kernel.ts";
import { correctFrames, DEFAULT_CORRECTION } from "./kernel.ts";

/** Error for raw data the corrector cannot take (shape, cell ids). */
export class RawDataError extends Error {
  override readonly name = "RawDataError";
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

/** Corrects one module's trains with fixed constants. */
export class ModuleCorrector {
  readonly options: CorrectionOptions;

  /** Validates the constants against the description (throws ConstantsError). */
  constructor(
    readonly detector: DetectorDescription,
    readonly module: number,
    readonly constants: ModuleConstants,
    options: Partial<CorrectionOptions> = {},
  ) {
    validateConstants(constants, detector);
    this.options = { ...DEFAULT_CORRECTION, ...options };
    if (this.options.commonMode && detector.asics.length === 0) {
      throw new ConstantsError(`${detector.name} describes no ASICs; common mode needs them`);
    }
  }

  /** Corrects one train into fresh arrays (or into `into`, if given and large enough). */
  correctTrain(raw: RawFrames, into?: CorrectedModuleTrain): CorrectedModuleTrain {
    checkRawFrames(raw, this.detector, this.constants.cells);
    const n = raw.frames * this.constants.pixels;
    const out =
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
      this.detector.moduleShape[1],
    );
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
