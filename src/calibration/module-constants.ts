// Moving one module's constants between the kernel layout and the store (facility order: fast scan,
// slow scan, cell, plane), and finding the set a run needs.
import type { DetectorDescription } from "../detector/index.ts";
import { aggregatorName, modulePixels } from "../detector/index.ts";
import type { ModuleConstants } from "./constants.ts";
import { ConstantsError, fromCalCatOrder, toCalCatOrder, validateConstants } from "./constants.ts";
import type { DarkConstants } from "./dark.ts";
import type { PcConstants } from "./pc.ts";
import type { CalibrationType, Conditions, ConstantRecord, ConstantStore } from "./store.ts";
import { pcConditions } from "./store.ts";

const DIMS = ["fast_scan", "slow_scan", "cell", "gain"];

/** Stores Offset, Noise, ThresholdsDark and BadPixelsDark of one module; returns their records. */
export function storeDarkConstants(
  store: ConstantStore,
  det: DetectorDescription,
  module: number,
  dark: DarkConstants,
  conditions: Conditions,
  beginValidity: Date,
  origin = "",
): ConstantRecord[] {
  const [ns, nf] = det.moduleShape;
  const G = dark.stages;
  const put = (calibration: CalibrationType, src: Float32Array | Uint32Array, planes: number) => {
    const dst = src instanceof Uint32Array ? new Uint32Array(src.length) : new Float32Array(src.length);
    toCalCatOrder(src, dst, det.moduleShape, dark.cells, planes);
    return store.add({
      detector: det.karaboId,
      module: aggregatorName(det, module),
      calibration,
      conditions,
      beginValidity,
      data: dst,
      shape: [nf, ns, dark.cells, planes],
      dims: DIMS,
      origin,
    });
  };
  return [
    put("Offset", dark.offset, G),
    put("Noise", dark.noise, G),
    put("ThresholdsDark", dark.thresholds, 2 * G - 1),
    put("BadPixelsDark", dark.badPixels, G),
  ];
}

/** Stores a relative-gain constant ((cells, stages, pixels) kernel layout) of one module. */
export function storeRelativeGain(
  store: ConstantStore,
  det: DetectorDescription,
  module: number,
  relativeGain: Float32Array,
  cells: number,
  conditions: Conditions,
  beginValidity: Date,
  origin = "",
): ConstantRecord {
  const [ns, nf] = det.moduleShape;
  const dst = new Float32Array(relativeGain.length);
  toCalCatOrder(relativeGain, dst, det.moduleShape, cells, det.gainStages);
  return store.add({
    detector: det.karaboId,
    module: aggregatorName(det, module),
    calibration: "RelativeGain",
    conditions,
    beginValidity,
    data: dst,
    shape: [nf, ns, cells, det.gainStages],
    dims: DIMS,
    origin,
  });
}

/**
 * Stores a pulse-capacitor characterisation of one module: RelativeGain and BadPixelsPC, with the
 * scan's conditions less "Gain mode" (as the facility's SlopesPC).
 */
export function storePcConstants(
  store: ConstantStore,
  det: DetectorDescription,
  module: number,
  pc: PcConstants,
  conditions: Conditions,
  beginValidity: Date,
  origin = "",
): ConstantRecord[] {
  const [ns, nf] = det.moduleShape;
  const cond = pcConditions(conditions);
  const bad = new Uint32Array(pc.badPixels.length);
  toCalCatOrder(pc.badPixels, bad, det.moduleShape, pc.cells, pc.stages);
  return [
    storeRelativeGain(store, det, module, pc.relativeGain, pc.cells, cond, beginValidity, origin),
    store.add({
      detector: det.karaboId,
      module: aggregatorName(det, module),
      calibration: "BadPixelsPC",
      conditions: cond,
      beginValidity,
      data: bad,
      shape: [nf, ns, pc.cells, pc.stages],
      dims: DIMS,
      origin,
    }),
  ];
}

/** Which constant versions were used (for provenance in corrected files and logs). */
export interface ConstantsProvenance {
  readonly offset: ConstantRecord;
  readonly thresholds: ConstantRecord;
  readonly badPixels: ConstantRecord;
  /** null: nominal relative gains from the detector description. */
  readonly relativeGain: ConstantRecord | null;
  /** Pulse-capacitor bad pixels OR'ed into the mask (null: none stored). */
  readonly badPixelsPC?: ConstantRecord | null;
}

/**
 * Finds and loads one module's correction constants (kernel layout, optionally on shared memory).
 * Without a RelativeGain constant the description's nominal per-stage gains are used. Throws a
 * ConstantsError when a constant is missing, has the wrong shape or holds non-finite values.
 */
export function loadModuleConstants(
  store: ConstantStore,
  det: DetectorDescription,
  module: number,
  conditions: Conditions,
  eventAt: Date,
  shared = false,
): { constants: ModuleConstants; provenance: ConstantsProvenance } {
  const cells = conditions["Memory cells"];
  if (cells === undefined) throw new ConstantsError('conditions lack "Memory cells"');
  const G = det.gainStages;
  const P = modulePixels(det);
  const [ns, nf] = det.moduleShape;
  const q = {
    detector: det.karaboId,
    module: aggregatorName(det, module),
    conditions,
    eventAt,
    cellOptions: det.cellOptions,
  };
  // A constant may cover more cells than the run uses (a 16-cell dark serves a 12-cell run): the
  // run's first `cells` cells are taken, in kernel layout.
  const kernelOrder = (rec: ConstantRecord, planes: number, dst: Float32Array | Uint32Array) => {
    const have = rec.shape[2] ?? 0;
    if (
      rec.shape.length !== 4 ||
      rec.shape[0] !== nf ||
      rec.shape[1] !== ns ||
      rec.shape[3] !== planes ||
      have < cells
    ) {
      throw new ConstantsError(
        `${rec.calibration} ${rec.module} (${rec.file}) has shape [${rec.shape}], expected [${[nf, ns, cells, planes]}] (fs, ss, cells, planes)`,
      );
    }
    const data = store.load(rec);
    if (have === cells) {
      fromCalCatOrder(data, dst, det.moduleShape, cells, planes);
      return;
    }
    const all =
      dst instanceof Uint32Array ? new Uint32Array(have * planes * P) : new Float32Array(have * planes * P);
    fromCalCatOrder(data, all, det.moduleShape, have, planes);
    dst.set(all.subarray(0, cells * planes * P));
  };
  const fetch = (calibration: CalibrationType) => store.require({ ...q, calibration });
  const alloc = (n: number) =>
    shared ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
  const offset = fetch("Offset");
  const thr = fetch("ThresholdsDark");
  const bad = fetch("BadPixelsDark");
  const c: ModuleConstants = {
    cells,
    stages: G,
    pixels: P,
    offset: alloc(cells * G * P),
    thresholds: alloc(cells * (G - 1) * P),
    relativeGain: alloc(cells * G * P),
    badPixels: shared
      ? new Uint32Array(new SharedArrayBuffer(cells * G * P * 4))
      : new Uint32Array(cells * G * P),
  };
  kernelOrder(offset, G, c.offset);
  kernelOrder(bad, G, c.badPixels);
  // ThresholdsDark holds the G − 1 thresholds then G digital levels; the kernel needs the thresholds.
  const allThr = new Float32Array(cells * (2 * G - 1) * P);
  kernelOrder(thr, 2 * G - 1, allThr);
  for (let cell = 0; cell < cells; cell++) {
    c.thresholds.set(
      allThr.subarray(cell * (2 * G - 1) * P, (cell * (2 * G - 1) + G - 1) * P),
      cell * (G - 1) * P,
    );
  }
  // Pulse-capacitor constants do not depend on the gain mode: looked up without it.
  const qpc = { ...q, conditions: pcConditions(conditions) };
  const rg = store.find({ ...qpc, calibration: "RelativeGain" });
  if (rg) kernelOrder(rg, G, c.relativeGain);
  else {
    for (let cell = 0; cell < cells; cell++) {
      for (let g = 0; g < G; g++)
        c.relativeGain.fill(det.sensor.relativeGain[g]!, (cell * G + g) * P, (cell * G + g + 1) * P);
    }
  }
  const bpc = store.find({ ...qpc, calibration: "BadPixelsPC" });
  if (bpc) {
    const pcBad = new Uint32Array(cells * G * P);
    kernelOrder(bpc, G, pcBad);
    for (let i = 0; i < pcBad.length; i++) c.badPixels[i]! |= pcBad[i]!;
  }
  validateConstants(c, det);
  return {
    constants: c,
    provenance: {
      offset,
      thresholds: thr,
      badPixels: bad,
      relativeGain: rg,
      badPixelsPC: bpc,
    },
  };
}
