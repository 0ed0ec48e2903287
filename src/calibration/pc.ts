// Relative gain from a pulse-capacitor scan, as the facility calibrates AGIPD: the detector injects the
// same, stepped charge into every pixel; per pixel, memory cell and gain stage a straight line is
// fitted to the analog value against the charge; the relative gain of a stage is the module's typical
// high-gain slope over the pixel's slope in that stage. Multiplying by it turns any stage's ADU into
// the high-gain ADU of a typical pixel, so pixels and cells with different gains read alike.
import type { DetectorDescription } from "../detector/index.ts";
import { modulePixels } from "../detector/index.ts";
import { BadPixels } from "./badpixels.ts";
import type { RawFrames } from "./corrector.ts";
import { checkRawFrames, RawDataError } from "./corrector.ts";
import { SaseError, showValue } from "../core/index.ts";

/** Least and most accepted relative gain, as a fraction of its cell and stage's median (the facility's 0.8–1.2). */
export const PC_GAIN_WINDOW: readonly [number, number] = [0.8, 1.2];

/**
 * Streaming least-squares sums of one module's scan, per (cell, stage, pixel). The stage of each value
 * comes from its digital value and the dark thresholds. Memory: 5 × 8 bytes × cells × stages × pixels.
 */
export class PcAccumulator {
  readonly pixels: number;
  readonly stages: number;
  readonly n: Float64Array;
  readonly sx: Float64Array;
  readonly sy: Float64Array;
  readonly sxx: Float64Array;
  readonly sxy: Float64Array;

  /** `thresholds`: (cells, stages − 1, pixels) digital switching thresholds (kernel layout, from darks). */
  constructor(
    readonly detector: DetectorDescription,
    readonly cells: number,
    readonly thresholds: Float32Array,
  ) {
    const P = modulePixels(detector);
    const G = detector.gainStages;
    if (thresholds.length !== cells * (G - 1) * P) {
      throw new SaseError(
        "BAD_CONSTANTS",
        `thresholds hold ${thresholds.length} values, expected ${cells}×${G - 1}×${P}`,
        { value: showValue(thresholds) },
      );
    }
    this.pixels = P;
    this.stages = G;
    const n = cells * G * P;
    this.n = new Float64Array(n);
    this.sx = new Float64Array(n);
    this.sy = new Float64Array(n);
    this.sxx = new Float64Array(n);
    this.sxy = new Float64Array(n);
  }

  /** Adds every frame of one train that injected `charge` (HG-equivalent ADU); saturated values are left out. */
  add(raw: RawFrames, charge: number): void {
    checkRawFrames(raw, this.detector, this.cells);
    const P = this.pixels;
    const G = this.stages;
    const sat = this.detector.sensor.adcMax;
    const thr = this.thresholds;
    for (let f = 0; f < raw.frames; f++) {
      const cell = raw.cellId[f]!;
      const a0 = f * 2 * P;
      const d0 = a0 + P;
      const t0 = cell * (G - 1) * P;
      for (let p = 0; p < P; p++) {
        const a = raw.data[a0 + p]!;
        if (a === 0 || a >= sat) continue;
        const d = raw.data[d0 + p]!;
        let g = 0;
        while (g < G - 1 && d > thr[t0 + g * P + p]!) g++;
        const k = (cell * G + g) * P + p;
        this.n[k]!++;
        this.sx[k]! += charge;
        this.sy[k]! += a;
        this.sxx[k]! += charge * charge;
        this.sxy[k]! += charge * a;
      }
    }
  }
}

/** What a scan gives, kernel layout (cells, stages, pixels). */
export interface PcConstants {
  readonly cells: number;
  readonly stages: number;
  readonly pixels: number;
  /** Fitted ADU per HG-equivalent ADU of charge (NaN where the fit failed). */
  readonly slope: Float32Array;
  /** Relative gain: the module's median high-gain slope over this slope (failed or outlying fits get their cell's median). */
  readonly relativeGain: Float32Array;
  /** CI_EVAL_ERROR (no fit; nominal gain where a whole cell and stage has none), CI_GAIN_OF_OF_THRESHOLD (outside PC_GAIN_WINDOW of the median). */
  readonly badPixels: Uint32Array;
}

function median(values: Float32Array): number {
  const finite = values.filter((v) => Number.isFinite(v) && v > 0).sort();
  const n = finite.length;
  if (n === 0) return Number.NaN;
  return n % 2 ? finite[(n - 1) / 2]! : 0.5 * (finite[n / 2 - 1]! + finite[n / 2]!);
}

/** Fits every pixel, cell and stage of a scan and derives relative gains and their bad-pixel flags. */
export function characterisePc(acc: PcAccumulator): PcConstants {
  const { cells, stages: G, pixels: P } = acc;
  const slope = new Float32Array(cells * G * P);
  for (let k = 0; k < slope.length; k++) {
    const n = acc.n[k]!;
    const den = n * acc.sxx[k]! - acc.sx[k]! * acc.sx[k]!;
    // Two distinct charges at least; otherwise the line is undetermined.
    slope[k] =
      n >= 2 && den > 1e-9 * n * acc.sxx[k]! ? (n * acc.sxy[k]! - acc.sx[k]! * acc.sy[k]!) / den : Number.NaN;
  }
  const highGain = new Float32Array(cells * P);
  for (let c = 0; c < cells; c++) highGain.set(slope.subarray(c * G * P, c * G * P + P), c * P);
  const reference = median(highGain);
  // A typical pixel gives about 1/nominal-gain ADU per injected ADU; far off, this is no scan (a dark).
  const nominal = 1 / acc.detector.sensor.relativeGain[0]!;
  if (!(reference > 0.5 * nominal && reference < 2 * nominal)) {
    throw new RawDataError(
      `pulse-capacitor scan: median high-gain slope ${reference.toPrecision(3)} ADU per injected ADU, expected about ${nominal}: is this a scan run?`,
    );
  }
  for (let g = 1; g < G; g++) {
    let fitted = 0;
    let reached = 0;
    for (let c = 0; c < cells; c++) {
      for (let p = 0; p < P; p++) {
        const k = (c * G + g) * P + p;
        if (Number.isFinite(slope[k]!)) fitted++;
        if (acc.n[k]! > 0) reached++;
      }
    }
    if (fitted < 0.5 * cells * P) {
      throw new RawDataError(
        `pulse-capacitor scan: only ${fitted} of ${cells * P} pixel-cells have a fit in gain stage ${g} ` +
          `(${reached} reached it; a fit needs two different charges in the stage): the scan's trains must step through every stage`,
      );
    }
  }
  const relativeGain = new Float32Array(cells * G * P);
  const badPixels = new Uint32Array(cells * G * P);
  const [lo, hi] = PC_GAIN_WINDOW;
  for (let c = 0; c < cells; c++) {
    for (let g = 0; g < G; g++) {
      const base = (c * G + g) * P;
      const rg = relativeGain.subarray(base, base + P);
      for (let p = 0; p < P; p++) rg[p] = reference / slope[base + p]!;
      const m = median(rg);
      for (let p = 0; p < P; p++) {
        const v = rg[p]!;
        if (!(Number.isFinite(v) && v > 0)) {
          badPixels[base + p] = BadPixels.CI_EVAL_ERROR;
          rg[p] = Number.isFinite(m) ? m : acc.detector.sensor.relativeGain[g]!;
        } else if (v < lo * m || v > hi * m) {
          badPixels[base + p] = BadPixels.CI_GAIN_OF_OF_THRESHOLD;
          rg[p] = m;
        }
      }
    }
  }
  return { cells, stages: G, pixels: P, slope, relativeGain, badPixels };
}
