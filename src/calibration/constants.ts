// Correction constants of one module, in the memory layout the correction kernel wants: one block
// per memory cell (cells are what frames select), inside it one pixel-contiguous plane per gain
// stage, stages adjacent. A frame of cell c touches only block c; a pixel in stage g reads plane g,
// so for the common case (most pixels in high gain) the kernel streams one plane per constant.
import type { DetectorDescription } from "../detector/index.ts";
import { modulePixels } from "../detector/index.ts";
import { type ErrorDetails, SaseError } from "../core/index.ts";

/** Error for constants that cannot be used: wrong shape, non-finite values, wrong conditions. */
export class ConstantsError extends SaseError {
  override readonly name = "ConstantsError";
  constructor(message: string, details?: ErrorDetails) {
    super("BAD_CONSTANTS", message, details);
  }
}

/** One module's constants, kernel layout. All arrays may sit on SharedArrayBuffers. */
export interface ModuleConstants {
  readonly cells: number;
  readonly stages: number;
  readonly pixels: number;
  /** (cells, stages - 1, pixels): digital value above which a pixel is in the next stage. */
  readonly thresholds: Float32Array;
  /** (cells, stages, pixels): dark offset, ADU. */
  readonly offset: Float32Array;
  /** (cells, stages, pixels): relative gain, HG-equivalent ADU per ADU of the stage. */
  readonly relativeGain: Float32Array;
  /** (cells, stages, pixels): bad-pixel bits. */
  readonly badPixels: Uint32Array;
}

function floats(n: number, shared: boolean): Float32Array {
  return shared ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
}

/** Zeroed constants for `cells` cells of a module of `det` (relative gain 1, thresholds +∞). */
export function allocConstants(det: DetectorDescription, cells: number, shared = false): ModuleConstants {
  const P = modulePixels(det);
  const G = det.gainStages;
  const thresholds = floats(cells * (G - 1) * P, shared).fill(Number.POSITIVE_INFINITY);
  const relativeGain = floats(cells * G * P, shared).fill(1);
  const badPixels = shared
    ? new Uint32Array(new SharedArrayBuffer(cells * G * P * 4))
    : new Uint32Array(cells * G * P);
  return {
    cells,
    stages: G,
    pixels: P,
    thresholds,
    offset: floats(cells * G * P, shared),
    relativeGain,
    badPixels,
  };
}

/** The same constants copied onto SharedArrayBuffers (for worker threads). */
export function shareConstants(c: ModuleConstants): ModuleConstants {
  const f = (a: Float32Array) => {
    const s = floats(a.length, true);
    s.set(a);
    return s;
  };
  const bp = new Uint32Array(new SharedArrayBuffer(c.badPixels.byteLength));
  bp.set(c.badPixels);
  return {
    ...c,
    thresholds: f(c.thresholds),
    offset: f(c.offset),
    relativeGain: f(c.relativeGain),
    badPixels: bp,
  };
}

/**
 * Checks sizes and values: every offset, threshold and relative gain finite (thresholds may be +∞,
 * meaning "never switches"), relative gains positive. Throws a ConstantsError naming the constant,
 * cell, stage and pixel of the first bad value.
 */
export function validateConstants(c: ModuleConstants, det: DetectorDescription): void {
  const P = modulePixels(det);
  if (c.pixels !== P || c.stages !== det.gainStages) {
    throw new ConstantsError(
      `constants are for ${c.stages} gain stages × ${c.pixels} pixels, ${det.name} has ${det.gainStages} × ${P}`,
    );
  }
  const expect = (name: string, a: { length: number }, planes: number) => {
    if (a.length !== c.cells * planes * P) {
      throw new ConstantsError(
        `${name} holds ${a.length} values, expected ${c.cells} cells × ${planes} × ${P} pixels`,
      );
    }
  };
  expect("thresholds", c.thresholds, c.stages - 1);
  expect("offset", c.offset, c.stages);
  expect("relativeGain", c.relativeGain, c.stages);
  expect("badPixels", c.badPixels, c.stages);
  const where = (i: number, planes: number) => {
    const cell = Math.floor(i / (planes * P));
    const stage = Math.floor(i / P) % planes;
    const px = i % P;
    return `cell ${cell}, stage ${stage}, pixel (${Math.floor(px / det.moduleShape[1])}, ${px % det.moduleShape[1]})`;
  };
  for (let i = 0; i < c.offset.length; i++) {
    if (!Number.isFinite(c.offset[i]!))
      throw new ConstantsError(`offset is ${c.offset[i]} at ${where(i, c.stages)}`);
    const g = c.relativeGain[i]!;
    if (!Number.isFinite(g) || g <= 0)
      throw new ConstantsError(`relative gain is ${g} at ${where(i, c.stages)}`);
  }
  for (let i = 0; i < c.thresholds.length; i++) {
    const t = c.thresholds[i]!;
    if (Number.isNaN(t) || t === Number.NEGATIVE_INFINITY) {
      throw new ConstantsError(`gain threshold is ${t} at ${where(i, c.stages - 1)}`);
    }
  }
}

/**
 * Copies a constant stored in the facility's order (fast scan, slow scan, cells, stages) — CalCat's
 * HDF5 layout — into kernel layout (cells, stages, ss·fs). `src` length must be fs·ss·cells·stages.
 */
export function fromCalCatOrder(
  src: ArrayLike<number>,
  dst: Float32Array | Uint32Array,
  shape: readonly [number, number],
  cells: number,
  stages: number,
): void {
  const [ns, nf] = shape;
  const P = ns * nf;
  if (src.length !== nf * ns * cells * stages) {
    throw new ConstantsError(`constant holds ${src.length} values, expected ${nf}×${ns}×${cells}×${stages}`);
  }
  if (dst.length !== cells * stages * P) throw new ConstantsError("destination has the wrong size");
  let i = 0;
  for (let fs = 0; fs < nf; fs++) {
    for (let ss = 0; ss < ns; ss++) {
      const px = ss * nf + fs;
      for (let c = 0; c < cells; c++) {
        const base = c * stages * P + px;
        for (let g = 0; g < stages; g++) dst[base + g * P] = src[i++]!;
      }
    }
  }
}

/** The inverse of fromCalCatOrder: kernel layout (cells, stages, ss·fs) to (fs, ss, cells, stages). */
export function toCalCatOrder(
  src: Float32Array | Uint32Array,
  dst: Float32Array | Uint32Array,
  shape: readonly [number, number],
  cells: number,
  stages: number,
): void {
  const [ns, nf] = shape;
  const P = ns * nf;
  if (src.length !== cells * stages * P || dst.length !== src.length) {
    throw new ConstantsError(`constant has ${src.length} values, expected ${cells}×${stages}×${P}`);
  }
  let i = 0;
  for (let fs = 0; fs < nf; fs++) {
    for (let ss = 0; ss < ns; ss++) {
      const px = ss * nf + fs;
      for (let c = 0; c < cells; c++) {
        const base = c * stages * P + px;
        for (let g = 0; g < stages; g++) dst[i++] = src[base + g * P]!;
      }
    }
  }
}
