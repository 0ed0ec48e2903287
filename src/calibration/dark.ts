// Dark characterisation of one module from three dark runs (gain forced high, medium, low): per pixel
// and memory cell the offset (mean) and noise (standard deviation) of the analog value and the mean
// digital value per gain stage, gain-switching thresholds halfway between adjacent digital levels,
// and a bad-pixel mask with named reasons.
import type { DetectorDescription } from "../detector/index.ts";
import { modulePixels } from "../detector/index.ts";
import { BadPixels } from "./badpixels.ts";
import type { RawFrames } from "./corrector.ts";
import { checkRawFrames } from "./corrector.ts";
import type { ModuleConstants } from "./constants.ts";
import { ConstantsError } from "./constants.ts";
import { SaseError, showValue } from "../core/index.ts";

/** Streaming sums of one dark run of one module, per (cell, pixel). Memory: 4 × 8 bytes × cells × pixels. */
export class DarkAccumulator {
  readonly pixels: number;
  readonly count: Float64Array;
  readonly analogSum: Float64Array;
  readonly analogSq: Float64Array;
  readonly digitalSum: Float64Array;
  readonly digitalSq: Float64Array;

  constructor(
    readonly detector: DetectorDescription,
    readonly cells: number,
  ) {
    const n = cells * modulePixels(detector);
    this.pixels = modulePixels(detector);
    this.count = new Float64Array(cells);
    this.analogSum = new Float64Array(n);
    this.analogSq = new Float64Array(n);
    this.digitalSum = new Float64Array(n);
    this.digitalSq = new Float64Array(n);
  }

  /** Adds every frame of one train (cell ids must be < cells). */
  add(raw: RawFrames): void {
    checkRawFrames(raw, this.detector, this.cells);
    const P = this.pixels;
    for (let f = 0; f < raw.frames; f++) {
      const cell = raw.cellId[f]!;
      this.count[cell]!++;
      const a0 = f * 2 * P;
      const d0 = a0 + P;
      const k0 = cell * P;
      for (let p = 0; p < P; p++) {
        const a = raw.data[a0 + p]!;
        const d = raw.data[d0 + p]!;
        this.analogSum[k0 + p]! += a;
        this.analogSq[k0 + p]! += a * a;
        this.digitalSum[k0 + p]! += d;
        this.digitalSq[k0 + p]! += d * d;
      }
    }
  }
}

/** Limits that decide which pixels are bad; per-stage arrays are indexed by gain stage. */
export interface DarkThresholds {
  /** Offset more than this many standard deviations (over the module, per cell) from the median. */
  readonly offsetSigma: number;
  /** Noise more than this many standard deviations from the median. */
  readonly noiseSigma: number;
  /** Offsets outside [low, high] ADU, per stage. */
  readonly offsetHard: readonly (readonly [number, number])[];
  /** Noise outside [low, high] ADU, per stage. */
  readonly noiseHard: readonly (readonly [number, number])[];
  /** Adjacent digital levels closer than this many (summed) standard deviations: thresholding error. */
  readonly gainSigma: number;
}

/** Default limits (the hard limits are AGIPD's; characteriseDarks takes the description's). */
export const DEFAULT_DARK_THRESHOLDS: DarkThresholds = {
  offsetSigma: 5,
  noiseSigma: 5,
  offsetHard: [
    [3000, 7000],
    [5000, 10000],
    [5000, 10000],
  ],
  noiseHard: [
    [1, 40],
    [0.5, 30],
    [0.5, 30],
  ],
  gainSigma: 5,
};

/** Dark constants of one module, kernel layout (cells, planes, pixels). */
export interface DarkConstants {
  readonly cells: number;
  readonly stages: number;
  readonly pixels: number;
  /** (cells, stages, pixels) mean analog value. */
  readonly offset: Float32Array;
  /** (cells, stages, pixels) standard deviation of the analog value. */
  readonly noise: Float32Array;
  /**
   * (cells, 2·stages − 1, pixels): the stages − 1 switching thresholds, then the mean digital level of
   * each stage (the facility's ThresholdsDark holds the same five planes for AGIPD).
   */
  readonly thresholds: Float32Array;
  /** (cells, stages, pixels) bad-pixel bits. */
  readonly badPixels: Uint32Array;
}

function medianStd(values: Float32Array): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return [Number.NaN, Number.NaN];
  finite.sort();
  const n = finite.length;
  const median = n % 2 ? finite[(n - 1) / 2]! : 0.5 * (finite[n / 2 - 1]! + finite[n / 2]!);
  let s = 0;
  let s2 = 0;
  for (const v of finite) {
    s += v;
    s2 += v * v;
  }
  const mean = s / n;
  return [median, Math.sqrt(Math.max(0, s2 / n - mean * mean))];
}

/**
 * Characterises one module from one accumulator per gain stage (high, medium, low). Hard offset and
 * noise limits default to the detector description's.
 */
export function characteriseDarks(
  runs: readonly DarkAccumulator[],
  options: Partial<DarkThresholds> = {},
): DarkConstants {
  const first = runs[0];
  if (!first) throw new SaseError("BAD_OPTION", "characteriseDarks needs one dark run per gain stage");
  const det = first.detector;
  const limits: DarkThresholds = {
    ...DEFAULT_DARK_THRESHOLDS,
    offsetHard: det.darkLimits.offset,
    noiseHard: det.darkLimits.noise,
    ...options,
  };
  const G = det.gainStages;
  if (runs.length !== G)
    throw new SaseError(
      "BAD_OPTION",
      `${det.name} has ${G} gain stages: need ${G} dark runs, got ${runs.length}`,
      { value: showValue(runs.length) },
    );
  const cells = first.cells;
  for (const r of runs) {
    if (r.cells !== cells || r.pixels !== first.pixels)
      throw new SaseError("BAD_RAW_DATA", "dark runs differ in cells or pixels");
  }
  const P = first.pixels;
  const offset = new Float32Array(cells * G * P);
  const noise = new Float32Array(cells * G * P);
  const dMean = new Float32Array(cells * G * P);
  const dStd = new Float32Array(cells * G * P);
  const thresholds = new Float32Array(cells * (2 * G - 1) * P);
  const badPixels = new Uint32Array(cells * G * P);
  for (let g = 0; g < G; g++) {
    const r = runs[g]!;
    for (let c = 0; c < cells; c++) {
      const n = r.count[c]!;
      const base = (c * G + g) * P;
      // Cells no frame came from get finite placeholders (offset 0, never switching); their pixels
      // are flagged NO_DARK_DATA below, and the store only ever holds finite constants.
      if (n === 0) continue;
      for (let p = 0; p < P; p++) {
        const i = c * P + p;
        const mean = r.analogSum[i]! / n;
        const dm = r.digitalSum[i]! / n;
        offset[base + p] = mean;
        noise[base + p] = Math.sqrt(Math.max(0, r.analogSq[i]! / n - mean * mean));
        dMean[base + p] = dm;
        dStd[base + p] = Math.sqrt(Math.max(0, r.digitalSq[i]! / n - dm * dm));
      }
    }
  }
  for (let c = 0; c < cells; c++) {
    const tBase = c * (2 * G - 1) * P;
    for (let g = 0; g < G; g++) {
      const base = (c * G + g) * P;
      const lvl = tBase + (G - 1 + g) * P;
      for (let p = 0; p < P; p++) thresholds[lvl + p] = dMean[base + p]!;
      if (g < G - 1) {
        const next = (c * G + g + 1) * P;
        const missing = runs[g]!.count[c] === 0 || runs[g + 1]!.count[c] === 0;
        for (let p = 0; p < P; p++) {
          thresholds[tBase + g * P + p] = missing
            ? Number.POSITIVE_INFINITY
            : 0.5 * (dMean[base + p]! + dMean[next + p]!);
        }
      }
    }
    for (let g = 0; g < G; g++) {
      const base = (c * G + g) * P;
      const noData = runs[g]!.count[c] === 0;
      const off = offset.subarray(base, base + P);
      const noi = noise.subarray(base, base + P);
      const [oMed, oStd] = medianStd(off);
      const [nMed, nStd] = medianStd(noi);
      const [oLo, oHi] = limits.offsetHard[g] ?? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
      const [nLo, nHi] = limits.noiseHard[g] ?? [0, Number.POSITIVE_INFINITY];
      for (let p = 0; p < P; p++) {
        let m = 0;
        const o = off[p]!;
        const s = noi[p]!;
        if (noData) m |= BadPixels.NO_DARK_DATA;
        else if (!Number.isFinite(o) || !Number.isFinite(s)) m |= BadPixels.OFFSET_NOISE_EVAL_ERROR;
        else {
          if (Math.abs(o - oMed) > limits.offsetSigma * oStd || o < oLo || o > oHi)
            m |= BadPixels.OFFSET_OUT_OF_THRESHOLD;
          if (Math.abs(s - nMed) > limits.noiseSigma * nStd || s < nLo || s > nHi)
            m |= BadPixels.NOISE_OUT_OF_THRESHOLD;
          if (s === 0) m |= BadPixels.DATA_STD_IS_ZERO;
        }
        badPixels[base + p] = m;
      }
    }
    // Gain stages whose digital levels overlap cannot be told apart: every stage of the pixel is bad.
    if (runs.some((r) => r.count[c] === 0)) continue;
    for (let p = 0; p < P; p++) {
      let bad = false;
      for (let g = 0; g < G - 1; g++) {
        const a = (c * G + g) * P + p;
        const b = (c * G + g + 1) * P + p;
        const gap = dMean[b]! - dMean[a]!;
        if (!(gap > limits.gainSigma * (dStd[a]! + dStd[b]!))) bad = true;
      }
      if (bad)
        for (let g = 0; g < G; g++) badPixels[(c * G + g) * P + p]! |= BadPixels.GAIN_THRESHOLDING_ERROR;
    }
  }
  return { cells, stages: G, pixels: P, offset, noise, thresholds, badPixels };
}

/**
 * Kernel constants from dark constants and relative gains ((cells, stages, pixels), or one nominal
 * value per stage). Cells without dark data keep offset 0 and never switch gain; their pixels carry
 * NO_DARK_DATA in the mask.
 */
export function darkToKernel(
  dark: DarkConstants,
  relativeGain: Float32Array | readonly number[],
  shared = false,
): ModuleConstants {
  const { cells, stages: G, pixels: P } = dark;
  const alloc = (n: number) =>
    shared ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
  const offset = alloc(cells * G * P);
  const thresholds = alloc(cells * (G - 1) * P);
  const rg = alloc(cells * G * P);
  const badPixels = shared
    ? new Uint32Array(new SharedArrayBuffer(cells * G * P * 4))
    : new Uint32Array(cells * G * P);
  for (let i = 0; i < offset.length; i++) {
    const o = dark.offset[i]!;
    offset[i] = Number.isFinite(o) ? o : 0;
  }
  for (let c = 0; c < cells; c++) {
    for (let s = 0; s < G - 1; s++) {
      const src = (c * (2 * G - 1) + s) * P;
      const dst = (c * (G - 1) + s) * P;
      for (let p = 0; p < P; p++) {
        const t = dark.thresholds[src + p]!;
        thresholds[dst + p] = Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
      }
    }
  }
  if (relativeGain instanceof Float32Array) {
    if (relativeGain.length !== rg.length) {
      throw new ConstantsError(
        `relative gain holds ${relativeGain.length} values, expected ${cells}×${G}×${P}`,
      );
    }
    rg.set(relativeGain);
  } else {
    if (relativeGain.length !== G)
      throw new ConstantsError(`need ${G} nominal relative gains, got ${relativeGain.length}`);
    for (let c = 0; c < cells; c++)
      for (let g = 0; g < G; g++) rg.fill(relativeGain[g]!, (c * G + g) * P, (c * G + g + 1) * P);
  }
  badPixels.set(dark.badPixels);
  return { cells, stages: G, pixels: P, thresholds, offset, relativeGain: rg, badPixels };
}
