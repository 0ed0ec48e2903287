// Worker threads splitting one module's frames on shared memory give the same bits as one thread, with
// the SIMD kernel (arrays in the pool's arena) and with the JavaScript kernel (other shared arrays).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Arena,
  constantsFromSensor,
  DEFAULT_CORRECTION,
  FramePool,
  constantsInArena,
  ModuleCorrector,
  shareConstants,
} from "../../src/calibration/index.ts";
import { AGIPD_1M_DETECTOR, reducedDetector, SimulatedDetector } from "../../src/detector/index.ts";

const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: 64, nModules: 1 });
const cells = 8;
const P = 64 * 128;

test("a frame pool corrects a train like a single corrector, in and out of its arena", {
  timeout: 60_000,
}, async () => {
  const sim = new SimulatedDetector(det, { seed: 21, cells, modules: 1 });
  const train = sim.moduleTrain(0, 9n);
  const truth = constantsFromSensor(sim.sensor(0), cells);
  const expected = new ModuleCorrector(det, 0, truth, { simd: false }).correctTrain(train);

  const arena = new Arena(cells * P * 70);
  const inArena = constantsInArena(arena, truth);
  const pool = await FramePool.start(2, arena);
  try {
    // In the arena: the workers run the SIMD kernel.
    const raw = arena.uint16(train.data.length);
    raw.set(train.data);
    const cellId = arena.uint16(cells);
    cellId.set(train.cellId);
    const out = {
      data: arena.floats(cells * P),
      gain: arena.uint8(cells * P),
      mask: arena.uint32(cells * P),
    };
    pool.setConstants("arena", inArena, DEFAULT_CORRECTION, det);
    await pool.correct("arena", raw, cellId, cells, out);
    assert.deepEqual(out.data, expected.data);
    assert.deepEqual(out.gain, expected.gain);
    assert.deepEqual(out.mask, expected.mask);

    // Plain shared memory: the JavaScript kernel.
    const shared = shareConstants(truth);
    const raw2 = new Uint16Array(new SharedArrayBuffer(train.data.byteLength));
    raw2.set(train.data);
    const cell2 = new Uint16Array(new SharedArrayBuffer(cells * 2));
    cell2.set(train.cellId);
    const out2 = {
      data: new Float32Array(new SharedArrayBuffer(cells * P * 4)),
      gain: new Uint8Array(new SharedArrayBuffer(cells * P)),
      mask: new Uint32Array(new SharedArrayBuffer(cells * P * 4)),
    };
    pool.setConstants("plain", shared, DEFAULT_CORRECTION, det);
    await pool.correct("plain", raw2, cell2, cells, out2);
    assert.deepEqual(out2.data, expected.data);
    assert.deepEqual(out2.mask, expected.mask);

    // Unshared arrays are refused (the workers could not see them).
    assert.throws(() => pool.setConstants("x", truth, DEFAULT_CORRECTION, det), /SharedArrayBuffers/);
    await assert.rejects(pool.correct("missing", raw2, cell2, cells, out2), /no constants for missing/);
  } finally {
    await pool.close();
  }
});
