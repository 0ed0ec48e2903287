// Corrected trains written again into memory their reader handed back: the arrays move to the
// correction thread (detached here), the next train comes back in them corrected exactly as into fresh
// memory, and arrays nobody handed back are never written again.
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
  offerForRecycling,
  type RawFrames,
  recycleCorrected,
  storeDarkConstants,
} from "../../src/calibration/index.ts";
import {
  AGIPD_1M_DETECTOR,
  memoryCellsCondition,
  modulePixels,
  reducedDetector,
  SimulatedDetector,
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

    // The reader's side: a train offered for recycling comes back when its reader says it is done.
    offerForRecycling(second.data, () => threads.giveBack("A", second));
    recycleCorrected(second.data);
    const third = await threads.correct("A", 0, raw(3));
    assert.equal(second.data.byteLength, 0);
    assert.deepEqual(Array.from(third.data), fresh3);
    // A second call for the same arrays, or for arrays never offered, does nothing.
    recycleCorrected(second.data);
    recycleCorrected(third.data);
    await threads.correct("A", 0, raw(2));
    assert.deepEqual(Array.from(third.data), fresh3);
  } finally {
    await threads.close();
  }
});
