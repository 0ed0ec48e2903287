// The correction kernel: raw (analog, digital) frames of one module → float32 image, uint8 gain stage
// and uint32 mask. Everything that corrects a module (online device, offline command, workers,
// benchmark) calls correctFrames, so the same constants give bit-identical output everywhere.
//
// The float32 arithmetic is spelled out so that numpy (float32 arrays) computes the same bits:
//   v = f32(analog - offset[g]);  v = f32(v - cm);  out = f32(v * relativeGain[g])
// A difference of two float32 values and a product of two float32 values are exact in float64, so
// rounding once with Math.fround gives exactly the float32 result numpy produces.
import { BadPixels } from "./badpixels.ts";
import type { ModuleConstants } from "./constants.ts";
import type { SimdKernel } from "./simd.ts";

/** How the gain stage is chosen: from the digital value (adaptive) or fixed for the whole run. */
export type GainMode = "adaptive" | "fixed-high" | "fixed-medium" | "fixed-low";

/** Correction switches; defaults in DEFAULT_CORRECTION. */
export interface CorrectionOptions {
  readonly gainMode: GainMode;
  /** Multiply by the relative gain (MG/LG → HG-equivalent ADU). */
  readonly relativeGain: boolean;
  /** Per frame and ASIC, subtract the mean of the high-gain pixels inside the dark window. */
  readonly commonMode: boolean;
  /** Offset-corrected values counted as "no photon" for common mode, ADU [low, high]. */
  readonly commonModeRange: readonly [number, number];
  /** Least fraction of an ASIC's pixels inside the window for common mode to apply. */
  readonly commonModeMinFraction: number;
  /** Raw analog value at which the ADC saturates (flagged VALUE_OUT_OF_RANGE). */
  readonly saturation: number;
  /** Value written where the mask is non-zero; null keeps the corrected value (as offline data does). */
  readonly maskedValue: number | null;
}

/** Default options: adaptive gain, relative gain on, common mode off, values kept under the mask. */
export const DEFAULT_CORRECTION: CorrectionOptions = {
  gainMode: "adaptive",
  relativeGain: true,
  commonMode: false,
  commonModeRange: [-50, 30],
  commonModeMinFraction: 0.66,
  saturation: 16383,
  maskedValue: null,
};

/** A region of the module (an ASIC) as pixel rows/columns. */
export interface AsicRegion {
  readonly ssStart: number;
  readonly ssStop: number;
  readonly fsStart: number;
  readonly fsStop: number;
}

/** Where the kernel writes: per frame `pixels` values each. */
export interface CorrectedFrames {
  readonly data: Float32Array;
  readonly gain: Uint8Array;
  readonly mask: Uint32Array;
}

const FIXED_STAGE: Record<GainMode, number> = {
  adaptive: -1,
  "fixed-high": 0,
  "fixed-medium": 1,
  "fixed-low": 2,
};

/**
 * Corrects frames [first, last) of `raw` ((frames, 2, pixels) uint16) whose memory cells are
 * `cellId`, writing into `out` at the same frame indices. Cell ids must be < constants.cells (the
 * caller checks; see checkCells). `asics` and `fsWidth` are only used for common mode.
 */
export function correctFrames(
  c: ModuleConstants,
  raw: Uint16Array,
  cellId: ArrayLike<number>,
  first: number,
  last: number,
  out: CorrectedFrames,
  opt: CorrectionOptions,
  asics: readonly AsicRegion[],
  fsWidth: number,
  simd?: SimdKernel,
): void {
  const P = c.pixels;
  const fixed = FIXED_STAGE[opt.gainMode];
  if (
    simd &&
    fixed < 0 &&
    c.stages === 3 &&
    opt.relativeGain &&
    !opt.commonMode &&
    simdFits(simd, c, raw, out)
  ) {
    simdFrames(simd, c, raw, cellId, first, last, out, opt);
    return;
  }
  for (let f = first; f < last; f++) {
    const cell = cellId[f]!;
    const a0 = f * 2 * P;
    const o0 = f * P;
    if (!opt.commonMode) {
      fusedFrame(c, raw, a0, o0, cell, out, fixed, opt.relativeGain, opt.saturation);
    } else {
      offsetPass(c, raw, a0, o0, cell, out, fixed, opt.saturation);
      commonModePass(c, out, o0, cell, opt, asics, fsWidth);
    }
    if (opt.maskedValue !== null) {
      const v = opt.maskedValue;
      const data = out.data;
      const mask = out.mask;
      for (let p = 0; p < P; p++) if (mask[o0 + p] !== 0) data[o0 + p] = v;
    }
  }
}

/** One pass: stage, offset, relative gain, mask (no common mode). */
function fusedFrame(
  c: ModuleConstants,
  raw: Uint16Array,
  a0: number,
  o0: number,
  cell: number,
  out: CorrectedFrames,
  fixed: number,
  useGain: boolean,
  saturation: number,
): void {
  const P = c.pixels;
  const G = c.stages;
  if (fixed < 0 && G === 3 && useGain) {
    adaptive3(
      c.thresholds,
      c.offset,
      c.relativeGain,
      c.badPixels,
      raw,
      a0,
      o0,
      cell * 2 * P,
      cell * 3 * P,
      P,
      out,
      saturation,
    );
    return;
  }
  const t0 = cell * (G - 1) * P;
  const k0 = cell * G * P;
  const d0 = a0 + P;
  const thr = c.thresholds;
  const off = c.offset;
  const rg = c.relativeGain;
  const bp = c.badPixels;
  const data = out.data;
  const gain = out.gain;
  const mask = out.mask;
  for (let p = 0; p < P; p++) {
    const a = raw[a0 + p]!;
    const d = raw[d0 + p]!;
    let g = fixed;
    if (g < 0) {
      g = 0;
      while (g < G - 1 && d > thr[t0 + g * P + p]!) g++;
    }
    const k = k0 + g * P + p;
    const v = Math.fround(a - off[k]!);
    data[o0 + p] = useGain ? v * rg[k]! : v;
    gain[o0 + p] = g;
    let m = bp[k]!;
    if (a >= saturation) m |= BadPixels.VALUE_OUT_OF_RANGE;
    if (d >= saturation) m |= BadPixels.WRONG_GAIN_VALUE;
    mask[o0 + p] = m;
  }
}

/**
 * The hot case (adaptive gain, three stages, relative gain on), written so V8 keeps it branch-light:
 * the stage is the count of thresholds the digital value exceeds. A pixel is in low gain only when it
 * also exceeds the first threshold (thresholds are ordered by characterisation).
 */
function adaptive3(
  thr: Float32Array,
  off: Float32Array,
  rg: Float32Array,
  bp: Uint32Array,
  raw: Uint16Array,
  a0: number,
  o0: number,
  t0: number,
  k0: number,
  P: number,
  out: CorrectedFrames,
  saturation: number,
): void {
  const d0 = a0 + P;
  const t1 = t0 + P;
  const data = out.data;
  const gain = out.gain;
  const mask = out.mask;
  for (let p = 0; p < P; p++) {
    const a = raw[a0 + p]!;
    const d = raw[d0 + p]!;
    const above0 = d > thr[t0 + p]! ? 1 : 0;
    const g = above0 + (above0 & (d > thr[t1 + p]! ? 1 : 0));
    const k = k0 + g * P + p;
    data[o0 + p] = Math.fround(a - off[k]!) * rg[k]!;
    gain[o0 + p] = g;
    mask[o0 + p] = bp[k]! | (a >= saturation ? 0x1000 : 0) | (d >= saturation ? 0x200000 : 0);
  }
}

/** First pass with common mode: stage, offset-subtracted value, mask. */
function offsetPass(
  c: ModuleConstants,
  raw: Uint16Array,
  a0: number,
  o0: number,
  cell: number,
  out: CorrectedFrames,
  fixed: number,
  saturation: number,
): void {
  const P = c.pixels;
  const G = c.stages;
  const t0 = cell * (G - 1) * P;
  const k0 = cell * G * P;
  const d0 = a0 + P;
  for (let p = 0; p < P; p++) {
    const a = raw[a0 + p]!;
    const d = raw[d0 + p]!;
    let g = fixed;
    if (g < 0) {
      g = 0;
      while (g < G - 1 && d > c.thresholds[t0 + g * P + p]!) g++;
    }
    const k = k0 + g * P + p;
    out.data[o0 + p] = a - c.offset[k]!;
    out.gain[o0 + p] = g;
    let m = c.badPixels[k]!;
    if (a >= saturation) m |= BadPixels.VALUE_OUT_OF_RANGE;
    if (d >= saturation) m |= BadPixels.WRONG_GAIN_VALUE;
    out.mask[o0 + p] = m;
  }
}

/**
 * Per ASIC: the mean (float64, rounded to float32) of the high-gain, unmasked pixels whose value lies
 * in the dark window is subtracted from every pixel, if enough pixels qualify; then relative gain.
 */
function commonModePass(
  c: ModuleConstants,
  out: CorrectedFrames,
  o0: number,
  cell: number,
  opt: CorrectionOptions,
  asics: readonly AsicRegion[],
  nf: number,
): void {
  const P = c.pixels;
  const k0 = cell * c.stages * P;
  const [lo, hi] = opt.commonModeRange;
  const data = out.data;
  for (const r of asics) {
    let sum = 0;
    let n = 0;
    for (let ss = r.ssStart; ss < r.ssStop; ss++) {
      for (let fs = r.fsStart; fs < r.fsStop; fs++) {
        const i = o0 + ss * nf + fs;
        const v = data[i]!;
        if (out.gain[i] === 0 && out.mask[i] === 0 && v >= lo && v <= hi) {
          sum += v;
          n++;
        }
      }
    }
    const total = (r.ssStop - r.ssStart) * (r.fsStop - r.fsStart);
    const cm = n > 0 && n >= opt.commonModeMinFraction * total ? Math.fround(sum / n) : 0;
    for (let ss = r.ssStart; ss < r.ssStop; ss++) {
      for (let fs = r.fsStart; fs < r.fsStop; fs++) {
        const px = ss * nf + fs;
        const i = o0 + px;
        const v = Math.fround(data[i]! - cm);
        data[i] = opt.relativeGain ? v * c.relativeGain[k0 + out.gain[i]! * P + px]! : v;
      }
    }
  }
}

/** True when every array lives in the SIMD kernel's memory and the module size matches. */
function simdFits(k: SimdKernel, c: ModuleConstants, raw: Uint16Array, out: CorrectedFrames): boolean {
  const a = k.arena;
  return (
    k.pixels === c.pixels &&
    a.holds(raw) &&
    a.holds(c.thresholds) &&
    a.holds(c.offset) &&
    a.holds(c.relativeGain) &&
    a.holds(c.badPixels) &&
    a.holds(out.data) &&
    a.holds(out.gain) &&
    a.holds(out.mask)
  );
}

/** The SIMD path of the hot case, frame by frame (same bits as adaptive3). */
function simdFrames(
  k: SimdKernel,
  c: ModuleConstants,
  raw: Uint16Array,
  cellId: ArrayLike<number>,
  first: number,
  last: number,
  out: CorrectedFrames,
  opt: CorrectionOptions,
): void {
  const P = c.pixels;
  // Raw values are integers: "a >= saturation" is "a >= ceil(saturation)".
  const sat = Math.min(0x7fffffff, Math.max(0, Math.ceil(opt.saturation)));
  for (let f = first; f < last; f++) {
    const cell = cellId[f]!;
    const a = raw.byteOffset + f * 4 * P;
    const blk = cell * 3 * P * 4;
    k.frame(
      a,
      a + 2 * P,
      c.thresholds.byteOffset + cell * 2 * P * 4,
      c.offset.byteOffset + blk,
      c.relativeGain.byteOffset + blk,
      c.badPixels.byteOffset + blk,
      out.data.byteOffset + f * P * 4,
      out.gain.byteOffset + f * P,
      out.mask.byteOffset + f * P * 4,
      sat,
    );
    if (opt.maskedValue !== null) {
      const v = opt.maskedValue;
      for (let p = f * P; p < (f + 1) * P; p++) if (out.mask[p] !== 0) out.data[p] = v;
    }
  }
}
