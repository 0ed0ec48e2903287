// The whole simulated detector: one ModuleSensor per module, a photon pattern (rings on a
// background) scaled per pulse by a simulated XGM pulse energy, and raw trains per module.
import type { DetectorDescription, GainStageName } from "./description.ts";
import { GAIN_STAGE_NAMES, modulePixels, rawPlanes } from "./description.ts";
import { encodeRaw } from "./encoding.ts";
import { agipdQuadrantGeometry, GeometryError } from "./geometry.ts";
import { hash32, Rng } from "./random.ts";
import type { RawModuleTrain } from "./simulate.ts";
import { ModuleSensor, sharedNoisePool } from "./simulate.ts";
import { SaseError, showValue } from "../core/index.ts";

/** One diffraction ring: expected photons per pixel at nominal pulse energy on its crest. */
export interface Ring {
  readonly radius: number;
  readonly width: number;
  readonly photons: number;
}

/** The photon pattern: a flat background plus rings around the beam (pixel units). */
export interface PhotonPattern {
  readonly background: number;
  readonly rings: readonly Ring[];
}

/** Default pattern: a bright inner ring (switches to low gain), a medium-gain ring and weaker rings. */
export const DEFAULT_PATTERN: PhotonPattern = {
  background: 0.05,
  rings: [
    { radius: 70, width: 3, photons: 2500 },
    { radius: 150, width: 4, photons: 150 },
    { radius: 300, width: 5, photons: 8 },
    { radius: 450, width: 8, photons: 2 },
  ],
};

/** Options of a simulated detector. */
export interface DetectorSimOptions {
  readonly seed: number;
  /** Memory cells read out per train (frames per train per module). */
  readonly cells: number;
  /** Modules to simulate (default: all of the description). */
  readonly modules?: number;
  /** Dark run with the gain stage forced (no photons); null/undefined = photons, adaptive gain. */
  readonly dark?: GainStageName | null;
  readonly pattern?: PhotonPattern;
  /** Mean XGM pulse energy, µJ. */
  readonly pulseEnergy?: number;
  /** Relative SASE fluctuation of the pulse energy (standard deviation / mean). */
  readonly pulseEnergyJitter?: number;
  /** Pulse-id step between frames (1 = 4.5 MHz). */
  readonly pulseStep?: number;
  /** A pulse-capacitor scan instead of photons: every pixel gets the charge of the train, adaptive gain. */
  readonly pulseCapacitor?: PulseCapacitorScan;
}

/**
 * A pulse-capacitor scan: the detector's own injection capacitor puts the same charge into every
 * pixel, stepped train by train, so each pixel's response in every gain stage can be fitted. The
 * charges are HG-equivalent ADU of a nominal pixel; train t injects charges[t mod length] (the
 * setting the control system would record per train).
 */
export interface PulseCapacitorScan {
  readonly charges: readonly number[];
}

/** The charge (HG-equivalent ADU) a scan injects in train `trainId`. */
export function pulseCapacitorCharge(scan: PulseCapacitorScan, trainId: bigint): number {
  return scan.charges[Number(trainId % BigInt(scan.charges.length))]!;
}

/**
 * A scan ladder for a detector: `perStage` charges spread over the middle 80 % of each gain stage's
 * range (between its switch points; low gain up to 80 % of the ADC's headroom), so every stage gets
 * points on its linear part and none saturates.
 */
export function pulseCapacitorLadder(det: DetectorDescription, perStage = 6): PulseCapacitorScan {
  const s = det.sensor;
  const G = det.gainStages;
  const top = 0.8 * (s.adcMax - s.offset[G - 1]! - 4 * s.offsetSpread[G - 1]!) * s.relativeGain[G - 1]!;
  const charges: number[] = [];
  for (let g = 0; g < G; g++) {
    const lo = g === 0 ? 0 : s.switchPoint[g - 1]!;
    const hi = g === G - 1 ? top : s.switchPoint[g]!;
    for (let k = 0; k < perStage; k++)
      charges.push(lo + (hi - lo) * (0.1 + (0.8 * k) / Math.max(1, perStage - 1)));
  }
  return { charges };
}

/**
 * Lab position (pixels from the beam) of each pixel of a module in an idealised pinwheel layout, for
 * detectors without a geometry model:
 * module m points radially outward at angle 2π(m + ½)/n. Only for placing photons; the real
 * geometry lives in calibration.
 */
function pinwheelRadius(det: DetectorDescription, module: number, nModules: number): Float32Array {
  const [ns, nf] = det.moduleShape;
  const out = new Float32Array(ns * nf);
  const angle = (2 * Math.PI * (module + 0.5)) / nModules;
  const r0 = 30;
  for (let ss = 0; ss < ns; ss++) {
    for (let fs = 0; fs < nf; fs++) {
      const radial = r0 + ss;
      const tangential = fs - nf / 2 + 10 * Math.sin(angle);
      out[ss * nf + fs] = Math.hypot(radial, tangential);
    }
  }
  return out;
}

/**
 * Distance from the beam (pixels) of each pixel of a module: from the detector's geometry where the
 * description places its modules, else from the pinwheel stand-in.
 */
function labRadius(det: DetectorDescription, module: number): Float32Array {
  try {
    return agipdQuadrantGeometry(det).moduleRadius(module);
  } catch (e) {
    if (!(e instanceof GeometryError)) throw e;
    return pinwheelRadius(det, module, det.nModules);
  }
}

/**
 * Module numbers ordered by their distance from the beam, nearest first: the modules that see the
 * brightest part of a diffraction pattern, so a demo that simulates only a few shows the most.
 */
export function modulesNearestBeam(det: DetectorDescription): number[] {
  try {
    agipdQuadrantGeometry(det);
  } catch (e) {
    if (!(e instanceof GeometryError)) throw e;
    return Array.from({ length: det.nModules }, (_, m) => m); // not placed: no module is nearer
  }
  const nearest = Array.from({ length: det.nModules }, (_, m) => {
    let min = Number.POSITIVE_INFINITY;
    for (const r of labRadius(det, m)) min = Math.min(min, r);
    return { m, min };
  });
  return nearest.sort((a, b) => a.min - b.min || a.m - b.m).map((x) => x.m);
}

/** Expected photons per pixel of one module at nominal pulse energy. */
export function patternImage(det: DetectorDescription, module: number, pattern: PhotonPattern): Float32Array {
  const r = labRadius(det, module);
  const out = new Float32Array(r.length);
  for (let p = 0; p < r.length; p++) {
    let v = pattern.background;
    for (const ring of pattern.rings) {
      const d = (r[p]! - ring.radius) / ring.width;
      if (d > -4 && d < 4) v += ring.photons * Math.exp(-0.5 * d * d);
    }
    out[p] = v;
  }
  return out;
}

/** Photon frames pooled per module (see SimulatedDetector.photonFrames). */
export const PHOTON_FRAMES = 16;

/** Expected photons from which a pixel's count is drawn fresh per frame in the Gaussian limit. */
const BRIGHT_PHOTONS = 10;

/** One module's pooled photons (see SimulatedDetector.photonFrames). */
export interface PhotonPool {
  /** Poisson counts of the faint pixels at nominal energy (bright pixels 0). */
  readonly frames: readonly Uint16Array[];
  /** The bright pixels, their expected photons at nominal energy and its square root. */
  readonly bright: Int32Array;
  readonly mean: Float32Array;
  readonly root: Float32Array;
}

const NO_PHOTONS: PhotonPool = {
  frames: [],
  bright: new Int32Array(0),
  mean: new Float32Array(0),
  root: new Float32Array(0),
};

/** A seeded AGIPD-like detector producing raw trains per module. */
export class SimulatedDetector {
  // Built on first use: a module device simulates one module and needs only that module's sensor.
  readonly #sensors = new Map<number, ModuleSensor>();
  readonly #patterns = new Map<number, Float32Array>();
  readonly #photons = new Map<number, PhotonPool>();
  readonly #sensorCells: number;
  readonly forcedStage: number | null;
  readonly pulseEnergy: number;
  readonly nModules: number;
  readonly #signal: Float32Array;

  constructor(
    readonly detector: DetectorDescription,
    readonly options: DetectorSimOptions,
  ) {
    const n = options.modules ?? detector.nModules;
    if (!Number.isInteger(n) || n < 1 || n > detector.nModules) {
      throw new SaseError(
        "BAD_OPTION",
        `${detector.name}: modules must be 1..${detector.nModules}, got ${n}`,
        { value: showValue(n) },
      );
    }
    if (!Number.isInteger(options.cells) || options.cells < 1 || options.cells > detector.maxCells) {
      throw new SaseError(
        "BAD_OPTION",
        `${detector.name}: cells must be 1..${detector.maxCells}, got ${options.cells}`,
        { value: showValue(options.cells) },
      );
    }
    this.nModules = n;
    this.#sensorCells = detector.cellOptions.find((c) => c >= options.cells) ?? detector.maxCells;
    if (options.pulseCapacitor && options.dark)
      throw new SaseError("BAD_OPTION", "a pulse-capacitor scan runs in adaptive gain, not as a dark run");
    if (options.pulseCapacitor && options.pulseCapacitor.charges.length === 0)
      throw new SaseError("BAD_OPTION", "a pulse-capacitor scan needs at least one charge");
    this.forcedStage = options.dark ? GAIN_STAGE_NAMES.indexOf(options.dark) : null;
    this.pulseEnergy = options.pulseEnergy ?? 1500;
    this.#signal = new Float32Array(modulePixels(detector));
  }

  /** The simulated sensor (offsets, noise, gains) of module `module`. */
  sensor(module: number): ModuleSensor {
    if (!Number.isInteger(module) || module < 0 || module >= this.nModules) {
      throw new SaseError("BAD_OPTION", `module ${module} is not simulated (0..${this.nModules - 1})`, {
        value: showValue(module),
      });
    }
    let sensor = this.#sensors.get(module);
    if (!sensor) {
      sensor = new ModuleSensor(this.detector, module, { seed: this.options.seed, cells: this.#sensorCells });
      this.#sensors.set(module, sensor);
    }
    return sensor;
  }

  /** Expected photons per pixel of module `module` at nominal pulse energy. */
  pattern(module: number): Float32Array {
    let pattern = this.#patterns.get(module);
    if (!pattern) {
      pattern = patternImage(this.detector, module, this.options.pattern ?? DEFAULT_PATTERN);
      this.#patterns.set(module, pattern);
    }
    return pattern;
  }

  /**
   * Module `module`'s pooled photons: PHOTON_FRAMES frames of Poisson counts of its pattern at nominal
   * pulse energy, drawn once (2 bytes per pixel each), and the pixels bright enough for the Gaussian
   * limit with their mean and its square root. A frame picks one pooled frame and scales it by its
   * pulse energy, instead of a Poisson draw per pixel and frame.
   */
  photonFrames(module: number): PhotonPool {
    let pool = this.#photons.get(module);
    if (!pool) {
      const pattern = this.pattern(module);
      const rng = new Rng(hash32(hash32(this.options.seed, module + 101), 0x9407));
      const frames = Array.from({ length: PHOTON_FRAMES }, () => {
        const counts = new Uint16Array(pattern.length);
        for (let p = 0; p < counts.length; p++)
          counts[p] = pattern[p]! < BRIGHT_PHOTONS ? Math.min(65535, rng.poisson(pattern[p]!)) : 0;
        return counts;
      });
      const bright: number[] = [];
      for (let p = 0; p < pattern.length; p++) if (pattern[p]! >= BRIGHT_PHOTONS) bright.push(p);
      const mean = Float32Array.from(bright, (p) => pattern[p]!);
      pool = { frames, bright: Int32Array.from(bright), mean, root: mean.map(Math.sqrt) };
      this.#photons.set(module, pool);
    }
    return pool;
  }

  /** Pulse energies (µJ) of the frames of one train, as the XGM would measure them. */
  pulseEnergies(trainId: bigint): Float32Array {
    const rng = new Rng(hash32(this.options.seed ^ 0x7e6d, Number(trainId & 0xffffffffn)));
    const jitter = this.options.pulseEnergyJitter ?? 0.25;
    const out = new Float32Array(this.options.cells);
    for (let i = 0; i < out.length; i++) out[i] = Math.max(0, this.pulseEnergy * (1 + jitter * rng.normal()));
    return out;
  }

  /**
   * Simulates one module's frames of one train into fresh arrays; the frames go into `into` instead
   * when it holds exactly a train's values (every value is written).
   */
  moduleTrain(module: number, trainId: bigint, into?: Uint16Array): RawModuleTrain {
    const sensor = this.sensor(module);
    const P = sensor.pixels;
    const frames = this.options.cells;
    const data = into?.length === frames * 2 * P ? into : new Uint16Array(frames * 2 * P);
    const cellId = new Uint16Array(frames);
    const pulseId = new BigUint64Array(frames);
    const length = new Uint32Array(frames).fill(rawPlanes(this.detector) * 2 * P);
    const status = new Uint16Array(frames);
    const rng = new Rng(hash32(hash32(this.options.seed, module + 101), Number(trainId & 0xffffffffn)));
    const energies = this.pulseEnergies(trainId);
    const step = BigInt(this.options.pulseStep ?? 1);
    const pool =
      this.forcedStage === null && !this.options.pulseCapacitor ? this.photonFrames(module) : NO_PHOTONS;
    const adu = this.detector.sensor.aduPerPhoton;
    const signal = this.#signal;
    for (let f = 0; f < frames; f++) {
      cellId[f] = f;
      pulseId[f] = BigInt(f) * step;
      let sig: Float32Array | null = null;
      if (this.options.pulseCapacitor) {
        if (f === 0) signal.fill(pulseCapacitorCharge(this.options.pulseCapacitor, trainId));
        sig = signal;
      } else if (this.forcedStage === null) {
        // Faint pixels: a pooled photon frame (Poisson at nominal energy) scaled by this pulse's
        // energy. Bright pixels (>= BRIGHT_PHOTONS): the Gaussian limit of the Poisson draw at this
        // energy, its noise read from the shared pool, so their shot noise is fresh in every frame.
        const photons = pool.frames[rng.next() % pool.frames.length]!;
        const r = energies[f]! / this.pulseEnergy;
        const scale = adu * r;
        for (let p = 0; p < P; p++) signal[p] = scale * photons[p]!;
        const { bright, mean, root } = pool;
        const z = sharedNoisePool(bright.length);
        const z0 = rng.next() % (z.length - bright.length);
        const sr = Math.sqrt(r);
        for (let j = 0; j < bright.length; j++) {
          const v = mean[j]! * r + root[j]! * sr * z[z0 + j]!;
          signal[bright[j]!] = v > 0 ? adu * v : 0;
        }
        sig = signal;
      }
      const base = f * 2 * P;
      sensor.frame(
        data.subarray(base, base + P),
        data.subarray(base + P, base + 2 * P),
        f,
        sig,
        this.forcedStage,
        rng,
      );
    }
    return { trainId, frames, data: encodeRaw(this.detector, data, frames), cellId, pulseId, length, status };
  }
}
