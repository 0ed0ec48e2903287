// A detector described as data: how many modules, pixels per module, memory cells, gain stages, how
// its sources and files are named and where its pixels sit. Simulation, characterisation and
// correction read everything detector-specific from here, so another detector is a new description.
import { SaseError, showValue } from "../core/index.ts";

/** A rectangle of a module's (ss, fs) pixel array, e.g. one ASIC. */
export interface PixelRegion {
  readonly ssStart: number;
  readonly ssStop: number;
  readonly fsStart: number;
  readonly fsStop: number;
}

/** Where the modules sit; filled in by the geometry code (src/calibration/geometry*.ts). */
export interface GeometrySlot {
  /** Square pixel side, metres. */
  readonly pixelSize: number;
  /** Modules per quadrant (0 if the detector has no quadrants). */
  readonly modulesPerQuadrant: number;
  /** Position of each quadrant's first pixel, in pixels; null until a geometry is known. */
  readonly quadrantPositions: readonly (readonly [number, number])[] | null;
}

/** Physics of the simulated sensor, per gain stage (index 0 = high, 1 = medium, 2 = low gain). */
export interface SensorModel {
  /** Mean dark offset per stage, ADU. */
  readonly offset: readonly number[];
  /** Pixel-to-pixel spread of the offset, ADU. */
  readonly offsetSpread: readonly number[];
  /** Cell-to-cell spread of the offset, ADU. */
  readonly cellOffsetSpread: number;
  /** Mean read noise per stage, ADU. */
  readonly noise: readonly number[];
  /** Mean digital (gain) value per stage, ADU (the stage number itself for gain-bit detectors). */
  readonly digitalLevel: readonly number[];
  /** Pixel-to-pixel spread of the digital levels, ADU. */
  readonly digitalSpread: number;
  /** Noise of the digital value, ADU. */
  readonly digitalNoise: number;
  /** Relative gain per stage: HG-equivalent ADU per ADU measured in that stage. */
  readonly relativeGain: readonly number[];
  /** Pixel-to-pixel spread of the relative gains of medium and low gain (fraction). */
  readonly relativeGainSpread: number;
  /** Pixel-to-pixel spread of the high-gain gain (fraction; default relativeGainSpread). */
  readonly highGainSpread?: number;
  /** Cell-to-cell spread of each stage's gain (fraction; default 0.01). */
  readonly cellGainSpread?: number;
  /** HG-equivalent signal (ADU) above which a pixel leaves each stage (length = stages - 1). */
  readonly switchPoint: readonly number[];
  /** HG ADU per photon at the nominal photon energy. */
  readonly aduPerPhoton: number;
  /** Largest value the ADC delivers (saturation). */
  readonly adcMax: number;
}

/**
 * How a raw frame carries the gain: a separate digital plane after the analog plane (AGIPD: image.data
 * (frames, 2, ss, fs)), or the gain stage in the bits above the analog value (LPD: (frames, 1, ss, fs),
 * gain in bits 12-13).
 */
export type RawEncoding =
  | { readonly kind: "digital-plane" }
  | { readonly kind: "gain-bits"; readonly analogBits: number };

/** Limits outside which dark offsets and noise mark a pixel bad, per gain stage, ADU. */
export interface DarkLimits {
  readonly offset: readonly (readonly [number, number])[];
  readonly noise: readonly (readonly [number, number])[];
}

/** Everything about a detector that code needs; plain data. */
export interface DetectorDescription {
  /** Short name, e.g. "AGIPD1M". */
  readonly name: string;
  /** Karabo id of the detector, e.g. "SPB_DET_AGIPD1M-1". */
  readonly karaboId: string;
  /** Number of modules. */
  readonly nModules: number;
  /** Pixels per module, (slow scan, fast scan). */
  readonly moduleShape: readonly [number, number];
  /** Most memory cells a train can use. */
  readonly maxCells: number;
  /** Memory-cell counts constants exist for (the condition snaps to one of these). */
  readonly cellOptions: readonly number[];
  /** Number of gain stages (3 for adaptive-gain detectors). */
  readonly gainStages: number;
  /** How raw frames carry analog value and gain. */
  readonly rawEncoding: RawEncoding;
  /** Hard limits of dark characterisation. */
  readonly darkLimits: DarkLimits;
  /** ASICs of one module: the regions common-mode correction works on. */
  readonly asics: readonly PixelRegion[];
  /** Raw source of module m; `{id}` is the karabo id, `{m}` the module number. */
  readonly rawSource: string;
  /** Corrected source of module m. */
  readonly corrSource: string;
  /** Aggregator (data-aggregator/file) name of module m; `{mm}` is the zero-padded number. */
  readonly aggregator: string;
  /** Control device holding operating conditions (repetition rate, gain setting, ...). */
  readonly controlSource: string;
  /** Train rate, Hz. */
  readonly trainRate: number;
  /** Default simulated sensor physics. */
  readonly sensor: SensorModel;
  /** Where the pixels sit (filled by the geometry code). */
  readonly geometry: GeometrySlot;
}

/** Gain stage names, index = stage number. */
export const GAIN_STAGE_NAMES = ["high", "medium", "low"] as const;
/** A gain stage name. */
export type GainStageName = (typeof GAIN_STAGE_NAMES)[number];

function asicGrid(shape: readonly [number, number], asic: readonly [number, number]): PixelRegion[] {
  const out: PixelRegion[] = [];
  for (let ss = 0; ss < shape[0]; ss += asic[0]) {
    for (let fs = 0; fs < shape[1]; fs += asic[1]) {
      out.push({
        ssStart: ss,
        ssStop: Math.min(ss + asic[0], shape[0]),
        fsStart: fs,
        fsStop: Math.min(fs + asic[1], shape[1]),
      });
    }
  }
  return out;
}

const AGIPD_SENSOR: SensorModel = {
  offset: [5000, 7000, 7500],
  offsetSpread: [300, 300, 300],
  cellOffsetSpread: 40,
  noise: [9, 4, 2.5],
  digitalLevel: [4800, 6400, 8000],
  digitalSpread: 60,
  digitalNoise: 25,
  relativeGain: [1, 28, 28 * 4.48],
  relativeGainSpread: 0.03,
  switchPoint: [4000, 4000 * 28 * 0.9],
  aduPerPhoton: 66,
  adcMax: 16383,
};

/** AGIPD-1M at SPB/SFX: 16 modules of 512 × 128 pixels, 352 memory cells, 3 gain stages. */
export const AGIPD_1M_DETECTOR: DetectorDescription = {
  name: "AGIPD1M",
  karaboId: "SPB_DET_AGIPD1M-1",
  nModules: 16,
  moduleShape: [512, 128],
  maxCells: 352,
  cellOptions: [4, 32, 64, 76, 128, 176, 202, 250, 352],
  gainStages: 3,
  rawEncoding: { kind: "digital-plane" },
  darkLimits: {
    offset: [
      [3000, 7000],
      [5000, 10000],
      [5000, 10000],
    ],
    noise: [
      [1, 40],
      [0.5, 30],
      [0.5, 30],
    ],
  },
  asics: asicGrid([512, 128], [64, 64]),
  rawSource: "{id}/DET/{m}CH0:xtdf",
  corrSource: "{id}/CORR/{m}CH0:output",
  aggregator: "AGIPD{mm}",
  controlSource: "SPB_IRU_AGIPD1M1/MDL/FPGA_COMP",
  trainRate: 10,
  sensor: AGIPD_SENSOR,
  // The facility's documented starting layout; refined geometries come from CrystFEL .geom files.
  geometry: {
    pixelSize: 2e-4,
    modulesPerQuadrant: 4,
    quadrantPositions: [
      [-525, 625],
      [-550, -10],
      [520, -160],
      [542.5, 475],
    ],
  },
};

/** AGIPD-500K at HED: 8 modules, otherwise as AGIPD-1M. */
export const AGIPD_500K_DETECTOR: DetectorDescription = {
  ...AGIPD_1M_DETECTOR,
  name: "AGIPD500K",
  karaboId: "HED_DET_AGIPD500K2G",
  nModules: 8,
  controlSource: "HED_EXP_AGIPD500K2G/MDL/FPGA_COMP",
  geometry: { pixelSize: 2e-4, modulesPerQuadrant: 4, quadrantPositions: null },
};

/**
 * LPD-1M at FXE: 16 modules of 256 × 256 pixels, up to 512 memory cells, 3 gain stages (×1, ×10,
 * ×100) encoded in bits 12-13 of each raw value, 12-bit analog. Sensor figures are plausible
 * simulation defaults, not measured values.
 */
export const LPD_1M_DETECTOR: DetectorDescription = {
  name: "LPD1M",
  karaboId: "FXE_DET_LPD1M-1",
  nModules: 16,
  moduleShape: [256, 256],
  maxCells: 512,
  cellOptions: [32, 64, 128, 256, 512],
  gainStages: 3,
  rawEncoding: { kind: "gain-bits", analogBits: 12 },
  darkLimits: {
    offset: [
      [200, 3000],
      [200, 3000],
      [200, 3000],
    ],
    noise: [
      [0.5, 40],
      [0.5, 40],
      [0.5, 40],
    ],
  },
  asics: asicGrid([256, 256], [32, 128]),
  rawSource: "{id}/DET/{m}CH0:xtdf",
  corrSource: "{id}/CORR/{m}CH0:output",
  aggregator: "LPD{mm}",
  controlSource: "FXE_DET_LPD1M-1/FPGA/FEM",
  trainRate: 10,
  sensor: {
    offset: [1100, 1200, 1250],
    offsetSpread: [80, 80, 80],
    cellOffsetSpread: 15,
    noise: [6, 3, 2],
    digitalLevel: [0, 1, 2],
    digitalSpread: 0,
    digitalNoise: 0,
    relativeGain: [1, 10, 100],
    relativeGainSpread: 0.03,
    switchPoint: [2500, 25000],
    aduPerPhoton: 40,
    adcMax: 4095,
  },
  geometry: { pixelSize: 5e-4, modulesPerQuadrant: 4, quadrantPositions: null },
};

/**
 * A smaller variant of a description (fewer modules or rows), for tests and demos: the ASIC grid is
 * cut to the new module shape.
 */
export function reducedDetector(
  base: DetectorDescription,
  change: { nModules?: number; rows?: number; name?: string },
): DetectorDescription {
  const rows = change.rows ?? base.moduleShape[0];
  if (!Number.isInteger(rows) || rows <= 0 || rows > base.moduleShape[0]) {
    throw new SaseError(
      "BAD_OPTION",
      `reducedDetector: rows must be 1..${base.moduleShape[0]}, got ${rows}`,
      { value: showValue(rows) },
    );
  }
  const shape: [number, number] = [rows, base.moduleShape[1]];
  const asics = base.asics
    .filter((a) => a.ssStart < rows)
    .map((a) => ({ ...a, ssStop: Math.min(a.ssStop, rows) }));
  return {
    ...base,
    name: change.name ?? base.name,
    nModules: change.nModules ?? base.nModules,
    moduleShape: shape,
    asics,
  };
}

/** Planes per raw frame in image.data: 2 (analog, digital) or 1 (gain bits inside the value). */
export function rawPlanes(det: DetectorDescription): number {
  return det.rawEncoding.kind === "digital-plane" ? 2 : 1;
}

/** Pixels in one module. */
export function modulePixels(det: DetectorDescription): number {
  return det.moduleShape[0] * det.moduleShape[1];
}

function fill(template: string, det: DetectorDescription, module: number): string {
  return template
    .replaceAll("{id}", det.karaboId)
    .replaceAll("{mm}", String(module).padStart(2, "0"))
    .replaceAll("{m}", String(module));
}

/** Raw source name of one module, e.g. SPB_DET_AGIPD1M-1/DET/3CH0:xtdf. */
export function rawSourceName(det: DetectorDescription, module: number): string {
  return fill(det.rawSource, det, module);
}

/** Corrected source name of one module, e.g. SPB_DET_AGIPD1M-1/CORR/3CH0:output. */
export function corrSourceName(det: DetectorDescription, module: number): string {
  return fill(det.corrSource, det, module);
}

/** Aggregator name of one module, e.g. AGIPD03 (used in file names and as the constants' module). */
export function aggregatorName(det: DetectorDescription, module: number): string {
  return fill(det.aggregator, det, module);
}

/** The module number of a raw or corrected source name, or -1 when it is not one of this detector's. */
export function moduleOfSource(det: DetectorDescription, source: string): number {
  for (let m = 0; m < det.nModules; m++) {
    if (source === rawSourceName(det, m) || source === corrSourceName(det, m)) return m;
  }
  return -1;
}

/** Memory-cell condition for data whose highest cell id is `maxCellId`: the smallest option above it. */
export function memoryCellsCondition(det: DetectorDescription, maxCellId: number): number {
  for (const n of det.cellOptions) if (n > maxCellId) return n;
  throw new SaseError(
    "BAD_RAW_DATA",
    `${det.name}: cell id ${maxCellId} is beyond the largest memory-cell count ${det.maxCells}`,
    { value: showValue(maxCellId) },
  );
}

/** Known detectors by name. */
export const DETECTORS: Readonly<Record<string, DetectorDescription>> = {
  AGIPD1M: AGIPD_1M_DETECTOR,
  AGIPD500K: AGIPD_500K_DETECTOR,
  LPD1M: LPD_1M_DETECTOR,
};

/** A known detector by name; throws naming the known ones otherwise. */
export function detectorByName(name: string): DetectorDescription {
  const d = DETECTORS[name];
  if (!d)
    throw new SaseError(
      "BAD_OPTION",
      `unknown detector "${name}"; known: ${Object.keys(DETECTORS).join(", ")}`,
      { value: showValue(name) },
    );
  return d;
}
