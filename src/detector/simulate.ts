// The simulated sensor of one module: seeded per-pixel and per-cell offsets and noise for every gain
// stage, digital (gain) levels, relative gains, adaptive gain switching, a few dead and noisy pixels,
// and photons from a pattern scaled by the pulse energy. Produces raw trains laid out as the DAQ
// records them: image.data uint16 (frames, 2, ss, fs), analog plane then digital plane.
import type { DetectorDescription } from "./description.ts";
import { modulePixels } from "./description.ts";
import { hash32, Rng } from "./random.ts";
import { SaseError, showValue } from "../core/index.ts";

/** One module's share of one train, as the detector sends it. */
export interface RawModuleTrain {
  readonly trainId: bigint;
  /** Number of frames (memory cells read out). */
  readonly frames: number;
  /** Raw values in the detector's encoding: (frames, 2, ss, fs) analog then digital plane, or (frames, 1, ss, fs) with gain bits. */
  readonly data: Uint16Array;
  /** Memory cell of each frame. */
  readonly cellId: Uint16Array;
  /** Bunch index of each frame within the train. */
  readonly pulseId: BigUint64Array;
  /** Bytes of each frame as sent. */
  readonly length: Uint32Array;
  /** Per-frame status word (0 = fine). */
  readonly status: Uint16Array;
}

/** Options of one module's simulated sensor. */
export interface ModuleSimOptions {
  /** Seed of everything random; same seed, same detector. */
  readonly seed: number;
  /** Memory cells the sensor has (constants exist for this many). */
  readonly cells: number;
  /** Fraction of dead pixels (read 0, no noise). Default 0.0005. */
  readonly deadFraction?: number;
  /** Fraction of noisy pixels (noise × 8). Default 0.001. */
  readonly noisyFraction?: number;
}

/** Amplitude (ADU) of the per-pixel-and-cell part of the offset (uniform in ±amp). */
const CELL_PIXEL_AMP = 6;

/**
 * Standard-normal draws shared by every simulated module of a thread (4 MiB). A frame's noise is a
 * stretch of it starting at a random place: a fresh-looking Gaussian per pixel and frame for the cost
 * of one load, instead of a generator step and a table lookup per pixel.
 */
const NOISE_POOL_SIZE = 1 << 20;
let noisePool: Float32Array | null = null;

/** The shared noise pool, at least `pixels` long plus room for many starts (seeded: always the same). */
export function sharedNoisePool(pixels: number): Float32Array {
  if (!noisePool || noisePool.length < 4 * pixels) {
    const rng = new Rng(0x0a19d);
    const pool = new Float32Array(Math.max(NOISE_POOL_SIZE, 4 * pixels));
    for (let i = 0; i < pool.length; i++) pool[i] = rng.normal();
    noisePool = pool;
  }
  return noisePool;
}

/**
 * The seeded truth of one module: what characterisation must recover. Offsets are built from a
 * per-pixel term, a per-cell term and a per-(pixel, cell) term taken from one table of the module at
 * a hashed rotation per cell and stage, so that 352 cells × 3 stages need no gigabyte of truth tables
 * and a frame needs no hash per pixel.
 */
export class ModuleSensor {
  readonly pixels: number;
  readonly stages: number;
  /** Per stage, per pixel: offset base (ADU). Index stage * pixels + px. */
  readonly pixelOffset: Float32Array;
  /** Per stage, per cell: offset shift (ADU). Index stage * cells + cell. */
  readonly cellOffset: Float32Array;
  /** Per stage, per pixel: read noise (ADU). */
  readonly noise: Float32Array;
  /** Per stage, per pixel: mean digital value (ADU). */
  readonly digital: Float32Array;
  /** Per stage, per pixel: relative gain (HG ADU per stage ADU), before the cell's factor. */
  readonly relativeGain: Float32Array;
  /** Per stage, per cell: factor on the pixel's relative gain (memory cells differ slightly). */
  readonly cellGain: Float32Array;
  /** 1 where a pixel is dead. */
  readonly dead: Uint8Array;
  /** 1 where a pixel is noisy. */
  readonly noisy: Uint8Array;
  readonly #salt: number;
  /** 1 / relativeGain, so a frame multiplies instead of dividing. */
  readonly #invGain: Float32Array;
  /** The per-(pixel, cell) offset table, written twice in a row so a rotation is one contiguous read. */
  readonly #cellPixel: Float32Array;
  /** Per stage, per cell: rotation of the per-(pixel, cell) table, in 0..pixels-1. */
  readonly #rotation: Int32Array;
  /** The dead pixels' indices (they read 0 whatever happens). */
  readonly #deadList: Int32Array;

  constructor(
    readonly detector: DetectorDescription,
    readonly module: number,
    readonly options: ModuleSimOptions,
  ) {
    const s = detector.sensor;
    const P = modulePixels(detector);
    const G = detector.gainStages;
    if (!Number.isInteger(options.cells) || options.cells < 1 || options.cells > detector.maxCells) {
      throw new SaseError(
        "BAD_OPTION",
        `${detector.name}: memory cells must be 1..${detector.maxCells}, got ${options.cells}`,
        { value: showValue(options.cells) },
      );
    }
    this.pixels = P;
    this.stages = G;
    this.#salt = hash32(options.seed, module + 1);
    const rng = new Rng(this.#salt);
    this.pixelOffset = new Float32Array(G * P);
    this.noise = new Float32Array(G * P);
    this.digital = new Float32Array(G * P);
    this.relativeGain = new Float32Array(G * P);
    this.cellOffset = new Float32Array(G * options.cells);
    this.cellGain = new Float32Array(G * options.cells);
    for (let g = 0; g < G; g++) {
      for (let p = 0; p < P; p++) {
        const i = g * P + p;
        this.pixelOffset[i] = s.offset[g]! + s.offsetSpread[g]! * rng.normal();
        this.noise[i] = s.noise[g]! * (1 + 0.1 * rng.normal());
        this.digital[i] = s.digitalLevel[g]! + s.digitalSpread * rng.normal();
        this.relativeGain[i] = s.relativeGain[g]! * (g === 0 ? 1 : 1 + s.relativeGainSpread * rng.normal());
      }
      for (let c = 0; c < options.cells; c++)
        this.cellOffset[g * options.cells + c] = s.cellOffsetSpread * rng.normal();
    }
    // High-gain and per-cell gain spreads come from a stream of their own, so the rest of the sensor
    // (offsets, noise, dead pixels) stays what the same seed always gave.
    const gainRng = new Rng(hash32(this.#salt, 0x6a1e));
    const hgSpread = s.highGainSpread ?? s.relativeGainSpread;
    for (let p = 0; p < P; p++) this.relativeGain[p]! *= 1 + hgSpread * gainRng.normal();
    for (let i = 0; i < this.cellGain.length; i++)
      this.cellGain[i] = 1 + (s.cellGainSpread ?? 0.01) * gainRng.normal();
    this.dead = new Uint8Array(P);
    this.noisy = new Uint8Array(P);
    const nDead = Math.round((options.deadFraction ?? 0.0005) * P);
    const nNoisy = Math.round((options.noisyFraction ?? 0.001) * P);
    for (let i = 0; i < nDead; i++) this.dead[rng.next() % P] = 1;
    for (let i = 0; i < nNoisy; i++) {
      const p = rng.next() % P;
      if (!this.dead[p]) this.noisy[p] = 1;
    }
    for (let p = 0; p < P; p++) if (this.noisy[p]) for (let g = 0; g < G; g++) this.noise[g * P + p]! *= 8;
    const deadList: number[] = [];
    for (let p = 0; p < P; p++) if (this.dead[p]) deadList.push(p);
    this.#deadList = Int32Array.from(deadList);
    this.#invGain = new Float32Array(G * P);
    for (let i = 0; i < G * P; i++) this.#invGain[i] = 1 / this.relativeGain[i]!;
    this.#cellPixel = new Float32Array(2 * P);
    for (let p = 0; p < P; p++) {
      const v = CELL_PIXEL_AMP * (hash32(this.#salt ^ 0x3c6ef372, p) / 2147483648 - 1);
      this.#cellPixel[p] = v;
      this.#cellPixel[P + p] = v;
    }
    this.#rotation = new Int32Array(G * options.cells);
    for (let g = 0; g < G; g++)
      for (let c = 0; c < options.cells; c++)
        this.#rotation[g * options.cells + c] = hash32(this.#key(g, c), 0x51ed) % P;
  }

  /** Bytes of this module's tables (truth, rotations, noise scales), not counting the shared noise pool. */
  get bytes(): number {
    let n = this.dead.byteLength + this.noisy.byteLength + this.#rotation.byteLength;
    for (const a of [
      this.pixelOffset,
      this.cellOffset,
      this.noise,
      this.digital,
      this.relativeGain,
      this.cellGain,
      this.#invGain,
      this.#cellPixel,
    ])
      n += a.byteLength;
    return n;
  }

  /** The true dark offset of a pixel in one stage and cell (ADU). */
  trueOffset(stage: number, cell: number, px: number): number {
    return (
      this.pixelOffset[stage * this.pixels + px]! +
      this.cellOffset[stage * this.options.cells + cell]! +
      this.#cellPixel[this.#rotation[stage * this.options.cells + cell]! + px]!
    );
  }

  /** The true noise of a pixel in one stage (ADU; 0 for dead pixels). */
  trueNoise(stage: number, px: number): number {
    return this.dead[px] ? 0 : this.noise[stage * this.pixels + px]!;
  }

  /** The true relative gain of a pixel in one stage and cell (HG-equivalent ADU per ADU of the stage). */
  trueRelativeGain(stage: number, cell: number, px: number): number {
    return this.relativeGain[stage * this.pixels + px]! * this.cellGain[stage * this.options.cells + cell]!;
  }

  /** Hash key of one stage and cell: int32 arithmetic only (large doubles make V8 slow here). */
  #key(stage: number, cell: number): number {
    return this.#salt ^ (Math.imul(stage, 0x1000193) + Math.imul(cell, 0x9e3779b1));
  }

  /**
   * Writes one frame: `analog` and `digital` receive the module's pixels for memory cell `cell`.
   * `signal` is the HG-equivalent signal per pixel in ADU (null = dark); `forcedStage` fixes the
   * gain stage (dark characterisation runs), otherwise the stage follows the signal. The noise of
   * the frame is read from the shared pool at two places the generator picks (analog, digital).
   */
  frame(
    analog: Uint16Array,
    digital: Uint16Array,
    cell: number,
    signal: Float32Array | null,
    forcedStage: number | null,
    rng: Rng,
  ): void {
    const P = this.pixels;
    const sens = this.detector.sensor;
    const sw0 = sens.switchPoint[0] ?? Number.POSITIVE_INFINITY;
    const sw1 = sens.switchPoint[1] ?? Number.POSITIVE_INFINITY;
    const adcMax = sens.adcMax;
    const dNoise = sens.digitalNoise;
    const cells = this.options.cells;
    const G = this.stages;
    const pool = sharedNoisePool(P);
    const starts = pool.length - P;
    const a0 = rng.next() % starts;
    const d0 = rng.next() % starts;
    const cellPixel = this.#cellPixel;
    if (signal === null || forcedStage !== null) {
      // One stage for every pixel (dark runs; a scan's or photon frame's signal in a fixed gain).
      const g = Math.min(forcedStage ?? 0, G - 1);
      const shift = this.cellOffset[g * cells + cell] ?? 0;
      const gain = 1 / (this.cellGain[g * cells + cell] ?? 1);
      const rot = this.#rotation[g * cells + cell]!;
      const off = this.pixelOffset.subarray(g * P, (g + 1) * P);
      const noise = this.noise.subarray(g * P, (g + 1) * P);
      const dig = this.digital.subarray(g * P, (g + 1) * P);
      const inv = this.#invGain.subarray(g * P, (g + 1) * P);
      for (let p = 0; p < P; p++) {
        const s = signal === null ? 0 : signal[p]! * gain * inv[p]!;
        const a = off[p]! + shift + cellPixel[rot + p]! + s + noise[p]! * pool[a0 + p]!;
        const d = dig[p]! + dNoise * pool[d0 + p]!;
        // Uint16 stores truncate: +0.5 rounds the (positive, clamped) value.
        analog[p] = a <= 0 ? 0 : a >= adcMax ? adcMax : a + 0.5;
        digital[p] = d <= 0 ? 0 : d >= adcMax ? adcMax : d + 0.5;
      }
    } else {
      const shift = new Float64Array(G);
      const gain = new Float64Array(G);
      const rot = new Int32Array(G);
      for (let g = 0; g < G; g++) {
        shift[g] = this.cellOffset[g * cells + cell] ?? 0;
        gain[g] = 1 / (this.cellGain[g * cells + cell] ?? 1);
        rot[g] = this.#rotation[g * cells + cell]!;
      }
      const pixelOffset = this.pixelOffset;
      const noise = this.noise;
      const dig = this.digital;
      const inv = this.#invGain;
      const top = G - 1;
      for (let p = 0; p < P; p++) {
        const s = signal[p]!;
        let g = s > sw1 ? 2 : s > sw0 ? 1 : 0;
        if (g > top) g = top;
        const i = g * P + p;
        const a =
          pixelOffset[i]! +
          shift[g]! +
          cellPixel[rot[g]! + p]! +
          s * gain[g]! * inv[i]! +
          noise[i]! * pool[a0 + p]!;
        const d = dig[i]! + dNoise * pool[d0 + p]!;
        analog[p] = a <= 0 ? 0 : a >= adcMax ? adcMax : a + 0.5;
        digital[p] = d <= 0 ? 0 : d >= adcMax ? adcMax : d + 0.5;
      }
    }
    for (const p of this.#deadList) {
      analog[p] = 0;
      digital[p] = 0;
    }
  }
}
