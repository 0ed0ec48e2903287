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
  const q = { detector: det.karaboId, module: aggregatorName(det, module), conditions, eventAt };
  const fetch = (calibration: CalibrationType, planes: number) => {
    const rec = store.require({ ...q, calibration });
    const want = [nf, ns, cells, planes];
    if (rec.shape.join() !== want.join()) {
      throw new ConstantsError(
        `${calibration} ${rec.module} (${rec.file}) has shape [${rec.shape}], expected [${want}] (fs, ss, cells, planes)`,
      );
    }
    return { rec, data: store.load(rec) };
  };
  const alloc = (n: number) =>
    shared ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
  const offset = fetch("Offset", G);
  const thr = fetch("ThresholdsDark", 2 * G - 1);
  const bad = fetch("BadPixelsDark", G);
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
  fromCalCatOrder(offset.data, c.offset, det.moduleShape, cells, G);
  fromCalCatOrder(bad.data, c.badPixels, det.moduleShape, cells, G);
  // ThresholdsDark holds the G − 1 thresholds then G digital levels; the kernel needs the thresholds.
  const allThr = new Float32Array(cells * (2 * G - 1) * P);
  fromCalCatOrder(thr.data, allThr, det.moduleShape, cells, 2 * G - 1);
  for (let cell = 0; cell < cells; cell++) {
    c.thresholds.set(
      allThr.subarray(cell * (2 * G - 1) * P, (cell * (2 * G - 1) + G - 1) * P),
      cell * (G - 1) * P,
    );
  }
  // Pulse-capacitor constants do not depend on the gain mode: looked up without it.
  const qpc = { ...q, conditions: pcConditions(conditions) };
  const pcFetch = (
    calibration: CalibrationType,
  ): { rec: ConstantRecord; data: Float32Array | Uint32Array } | null => {
    const rec = store.find({ ...qpc, calibration });
    if (!rec) return null;
    const want = [nf, ns, cells, G];
    if (rec.shape.join() !== want.join()) {
      throw new ConstantsError(
        `${calibration} ${rec.module} (${rec.file}) has shape [${rec.shape}], expected [${want}] (fs, ss, cells, planes)`,
      );
    }
    return { rec, data: store.load(rec) };
  };
  const rg = pcFetch("RelativeGain");
  if (rg) fromCalCatOrder(rg.data, c.relativeGain, det.moduleShape, cells, G);
  else {
    for (let cell = 0; cell < cells; cell++) {
      for (let g = 0; g < G; g++)
        c.relativeGain.fill(det.sensor.relativeGain[g]!, (cell * G + g) * P, (cell * G + g + 1) * P);
    }
  }
  const bpc = pcFetch("BadPixelsPC");
  if (bpc) {
    const pcBad = new Uint32Array(cells * G * P);
    fromCalCatOrder(bpc.data, pcBad, det.moduleShape, cells, G);
    for (let i = 0; i < pcBad.length; i++) c.badPixels[i]! |= pcBad[i]!;
  }
  validateConstants(c, det);
  return {
    constants: c,
    provenance: {
      offset: offset.rec,
      thresholds: thr.rec,
      badPixels: bad.rec,
      relativeGain: rg?.rec ?? null,
      badPixelsPC: bpc?.rec ?? null,
    },
  };
}
