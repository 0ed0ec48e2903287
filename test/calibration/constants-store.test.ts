// The constants store: HDF5 files plus a SQLite catalogue that finds the version valid for given
// conditions and time; bad constants give clear errors.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { Conditions } from "../../src/calibration/index.ts";
import {
  agipdConditions,
  characteriseDarks,
  ConstantStore,
  ConstantsError,
  DarkAccumulator,
  loadModuleConstants,
  readRunConditions,
  storeDarkConstants,
} from "../../src/calibration/index.ts";
import {
  AGIPD_1M_DETECTOR,
  GAIN_STAGE_NAMES,
  RawRunWriter,
  type RawModuleTrain,
  rawSourceName,
  reducedDetector,
  SimulatedDetector,
  writeSimulatedRun,
} from "../../src/detector/index.ts";
import { openRun } from "../../src/files/index.ts";

const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: 32, nModules: 2 });
const root = mkdtempSync(join(tmpdir(), "sase-store-"));
after(() => rmSync(root, { recursive: true, force: true }));

function dark(seed: number, frames: number, cells: number) {
  const runs = GAIN_STAGE_NAMES.map((stage) => {
    const sim = new SimulatedDetector(det, { seed, cells: frames, modules: 1, dark: stage });
    const acc = new DarkAccumulator(det, cells);
    for (let t = 0; t < 6; t++) acc.add(sim.moduleTrain(0, BigInt(t)));
    return acc;
  });
  return characteriseDarks(runs);
}

const cond = (cells: number, bias = 300): Conditions =>
  agipdConditions({
    memoryCells: cells,
    acquisitionRate: 4.5,
    biasVoltage: bias,
    gainSetting: 0,
    pixelsX: 32,
  });

test("store finds the constant for conditions and time, in the facility's layout", async () => {
  const store = await ConstantStore.open(root);
  const d4a = dark(1, 3, 4);
  const d4b = dark(2, 3, 4);
  storeDarkConstants(store, det, 0, d4a, cond(4), new Date("2026-01-01T00:00:00Z"));
  storeDarkConstants(store, det, 0, d4b, cond(4), new Date("2026-03-01T00:00:00Z"));
  storeDarkConstants(store, det, 0, dark(3, 3, 4), cond(4, 500), new Date("2026-02-01T00:00:00Z"));
  const q = {
    detector: det.karaboId,
    module: "AGIPD00",
    calibration: "Offset" as const,
    conditions: cond(4),
  };
  const feb = store.find({ ...q, eventAt: new Date("2026-02-15T00:00:00Z") });
  assert.equal(feb?.beginValidity, "2026-01-01T00:00:00.000Z");
  assert.deepEqual(feb?.shape, [128, 32, 4, 3]);
  const closest = store.find({ ...q, eventAt: new Date("2026-02-20T00:00:00Z"), strategy: "closest" });
  assert.equal(closest?.beginValidity, "2026-03-01T00:00:00.000Z");
  assert.equal(store.find({ ...q, eventAt: new Date("2025-12-01T00:00:00Z") }), null);
  // Bias within tolerance (5 V) still matches; a different one does not.
  assert.ok(store.find({ ...q, conditions: cond(4, 303), eventAt: new Date("2026-02-15T00:00:00Z") }));
  assert.equal(
    store.find({ ...q, conditions: cond(4, 400), eventAt: new Date("2026-02-15T00:00:00Z") }),
    null,
  );

  const { constants, provenance } = loadModuleConstants(
    store,
    det,
    0,
    cond(4),
    new Date("2026-04-01T00:00:00Z"),
  );
  assert.equal(provenance.offset.beginValidity, "2026-03-01T00:00:00.000Z");
  assert.equal(provenance.relativeGain, null);
  // Round trip through the facility order: kernel layout comes back exactly.
  assert.deepEqual(constants.offset, d4b.offset);
  assert.deepEqual(constants.badPixels, d4b.badPixels);
  assert.ok(readdirSync(join(root, det.karaboId, "AGIPD00")).every((f) => f.endsWith(".h5")));
  store.close();
});

test("missing, misshapen or non-finite constants give clear errors", async () => {
  const store = await ConstantStore.open(root);
  const at = new Date("2026-04-01T00:00:00Z");
  assert.throws(
    () => loadModuleConstants(store, det, 0, cond(32), at),
    /no Offset constant .*Memory cells":32/,
  );
  // A constant catalogued for 32 cells but holding 4 (wrong shape).
  const d4 = dark(4, 3, 4);
  storeDarkConstants(store, det, 1, d4, cond(32), new Date("2026-01-01T00:00:00Z"));
  assert.throws(
    () => loadModuleConstants(store, det, 1, cond(32), at),
    /Offset AGIPD01 .* has shape \[128,32,4,3\], expected \[128,32,32,3\]/,
  );
  // A NaN offset.
  const bad = dark(5, 3, 4);
  bad.offset[17] = Number.NaN;
  storeDarkConstants(store, det, 1, bad, cond(4), new Date("2026-01-01T00:00:00Z"));
  assert.throws(
    () => loadModuleConstants(store, det, 1, cond(4), at),
    (e: unknown) =>
      e instanceof ConstantsError && /offset is NaN at cell 0, stage 0, pixel \(0, 17\)/.test(e.message),
  );
  store.close();
});

test("a run whose first module skipped the run's first trains still gives its memory cells", async () => {
  // As the DAQ records a module backed off on a loaded host; without the control device's nPulses,
  // the cells come from the module's own first frames.
  const runDir = join(root, "r0017");
  mkdirSync(runDir);
  const sim = new SimulatedDetector(det, { seed: 1, cells: 4, modules: 2, dark: null });
  const writer = await RawRunWriter.create(runDir, { detector: det, run: 17, modules: 2, cells: 4 });
  for (let t = 0; t < 6; t++) {
    const id = 10000 + t;
    const modules: RawModuleTrain[] = [];
    if (t >= 3) modules[0] = sim.moduleTrain(0, BigInt(id)); // module 0 silent for 3 trains
    modules[1] = sim.moduleTrain(1, BigInt(id));
    writer.writeTrain(id, modules, null);
  }
  await writer.close();
  const dc = await openRun(runDir);
  const modulesOnly = dc.select([rawSourceName(det, 0), rawSourceName(det, 1)]);
  assert.equal(readRunConditions(modulesOnly, det).memoryCells, 4);
  dc.close();
});

test("constants record the run's own memory cells; runs whose count snaps alike find them", async () => {
  // A 16-cell run: its conditions say 16 (the facility's database would say 32).
  const runDir = join(root, "r0016");
  mkdirSync(runDir);
  await writeSimulatedRun(runDir, { detector: det, run: 16, trains: 2, modules: 1, cells: 16, seed: 1 });
  const dc = await openRun(runDir);
  const { conditions, memoryCells } = readRunConditions(dc, det);
  dc.close();
  assert.equal(memoryCells, 16);
  assert.equal(conditions["Memory cells"], 16);

  const store = await ConstantStore.open(join(root, "cells"));
  const d16 = dark(6, 16, 16);
  const [rec] = storeDarkConstants(store, det, 0, d16, conditions, new Date("2026-01-01T00:00:00Z"));
  assert.equal(rec!.conditions["Memory cells"], 16);
  const at = new Date("2026-02-01T00:00:00Z");
  const q = { detector: det.karaboId, module: "AGIPD00", calibration: "Offset" as const, eventAt: at };
  const withCells = (n: number) => ({ ...conditions, "Memory cells": n });
  const options = { cellOptions: det.cellOptions };
  // 16 and 12 cells snap to 32 like the constant and need no more cells than it has: found.
  assert.equal(store.find({ ...q, conditions: withCells(16), ...options })?.id, rec!.id);
  assert.equal(store.find({ ...q, conditions: withCells(12), ...options })?.id, rec!.id);
  // 20 cells snap alike but need cells the constant lacks; 4 cells snap to 4; 40 to 64: none.
  for (const n of [20, 4, 40])
    assert.equal(store.find({ ...q, conditions: withCells(n), ...options }), null, `${n} cells`);
  // Without the detector's options the match is exact.
  assert.equal(store.find({ ...q, conditions: withCells(12) }), null);
  // A 12-cell run is corrected with the first 12 cells of the 16-cell constants.
  const { constants } = loadModuleConstants(store, det, 0, withCells(12), at);
  assert.equal(constants.cells, 12);
  assert.deepEqual(constants.offset, d16.offset.subarray(0, 12 * 3 * 32 * 128));
  store.close();
});
