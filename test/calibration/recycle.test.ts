// Trains written again into memory their readers handed back (core's offerForRecycling / recycle):
// corrected and simulated arrays move to their thread (detached here), the next train comes back in
// them exactly as into fresh memory, and arrays nobody handed back are never written again.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  agipdConditions,
  ConstantStore,
  CorrectionThreads,
  constantsFromSensor,
  type DarkConstants,
  type RawFrames,
  storeDarkConstants,
} from "../../src/calibration/index.ts";
import { offerForRecycling, recycle } from "../../src/core/index.ts";
import {
  AGIPD_1M_DETECTOR,
  memoryCellsCondition,
  modulePixels,
  reducedDetector,
  SimulatedDetector,
  SimulationThreads,
} from "../../src/detector/index.ts";

const ROWS = 16;
const CELLS = 2;
const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: ROWS });
const root = mkdtempSync(join(tmpdir(), "sase-recycle-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("a corrected train's arrays handed back are written again, others never", { timeout: 120_000 }, async () => {
  const sim = new SimulatedDetector(det, { seed: 3, cells: CELLS, dark: null, modules: 1 });
  const memoryCells = memoryCellsCondition(det, CELLS - 1);
  const conditions = agipdConditions({ memoryCells, acquisitionRate: 4.5, biasVoltage: 300, gainSetting: 0 });
  const store = await ConstantStore.open(root);
  const truth = constantsFromSensor(sim.sensor(0), memoryCells);
  const G = det.gainStages;
  const P = modulePixels(det);
  const thresholds = new Float32Array(memoryCells * (2 * G - 1) * P);
  for (let c = 0; c < memoryCells; c++) {
    thresholds.set(truth.thresholds.subarray(c * (G - 1) * P, (c + 1) * (G - 1) * P), c * (2 * G - 1) * P);
  }
  const dark: DarkConstants = {
    cells: memoryCells,
    stages: G,
    pixels: P,
    offset: truth.offset,
    noise: new Float32Array(truth.offset.length).fill(1),
    thresholds,
    badPixels: truth.badPixels,
  };
  storeDarkConstants(store, det, 0, dark, conditions, new Date(0), "simulator truth");
  store.close();

  const threads = new CorrectionThreads(1);
  try {
    await threads.load("A", {
      detector: "AGIPD1M",
      rows: ROWS,
      module: 0,
      storeRoot: root,
      conditions,
      eventAt: Date.now(),
      options: {},
    });
    const raw = (t: number): RawFrames => {
      const tr = sim.moduleTrain(0, BigInt(t));
      return { trainId: tr.trainId, frames: tr.frames, data: tr.data, cellId: tr.cellId, pulseId: tr.pulseId };
    };
    // What trains 2 and 3 correct to in fresh memory.
    const fresh2 = Array.from((await threads.correct("A", 0, raw(2))).data);
    const fresh3 = Array.from((await threads.correct("A", 0, raw(3))).data);

    const first = await threads.correct("A", 0, raw(1));
    const kept = Array.from(first.data);
    threads.giveBack("A", first);
    const second = await threads.correct("A", 0, raw(2));
    assert.equal(first.data.byteLength, 0, "the handed-back arrays moved to the thread");
    assert.deepEqual(Array.from(second.data), fresh2, "corrected into reused memory exactly as into fresh");
    assert.notDeepEqual(kept, fresh2);

    // Not handed back: left alone by later trains.
    const keptSecond = Array.from(second.data);
    await threads.correct("A", 0, raw(3));
    assert.deepEqual(Array.from(second.data), keptSecond);

    // The readers' side: a train offered to two readers comes back once both said they are done.
    offerForRecycling(second.data, 2, () => threads.giveBack("A", second));
    recycle(second.data);
    await threads.correct("A", 0, raw(2));
    assert.deepEqual(Array.from(second.data), keptSecond, "one reader still reading");
    recycle(second.data);
    const third = await threads.correct("A", 0, raw(3));
    assert.equal(second.data.byteLength, 0);
    assert.deepEqual(Array.from(third.data), fresh3);
    // A second call for the same arrays, or for arrays never offered, does nothing.
    recycle(second.data);
    recycle(third.data);
    await threads.correct("A", 0, raw(2));
    assert.deepEqual(Array.from(third.data), fresh3);
  } finally {
    await threads.close();
  }
});

test("a simulated train's frames handed back are simulated into again, the same values as fresh", {
  timeout: 120_000,
}, async () => {
  const threads = new SimulationThreads(1);
  try {
    const key = { detector: "AGIPD1M", rows: ROWS, seed: 5, cells: CELLS, dark: null };
    const fresh = Array.from((await threads.moduleTrain(key, 0, 7n)).data);
    const first = await threads.moduleTrain(key, 0, 6n);
    offerForRecycling(first.data, 1, () => threads.giveBack(0, first.data));
    recycle(first.data);
    const again = await threads.moduleTrain(key, 0, 7n);
    assert.equal(first.data.byteLength, 0, "the frames moved to the thread");
    assert.deepEqual(Array.from(again.data), fresh);
    // Frames never handed back stay as they are.
    const kept = Array.from(again.data);
    await threads.moduleTrain(key, 0, 8n);
    assert.deepEqual(Array.from(again.data), kept);
  } finally {
    await threads.close();
  }
});
