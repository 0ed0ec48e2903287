// writeTrainAsync writes the big rows of several files at once on libuv's thread pool: the files it
// leaves must hold what writeTrain's hold, train for train and byte for byte, its calls must be taken in
// order even when not awaited one by one, and a sync call in between must be refused, not interleaved.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ndarray } from "../../src/core/index.ts";
import {
  createRunWriter,
  type FilesError,
  openRun,
  type KeyValue,
  type RunWriter,
  validateRun,
} from "../../src/files/index.ts";
import { tempDir, useTempCache } from "./helpers.ts";

const MODULES = 3;
const CELLS = 8;
const FRAME = [2, 64, 64];
const XGM = "SA1_XTD2_XGM/DOOCS/MAIN";
const module = (m: number) => `SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`;

async function writer(dir: string): Promise<RunWriter> {
  const w = await createRunWriter(dir, { proposal: 900001, run: 7, trainsPerSequence: 2 });
  w.addControlSource(XGM, {
    aggregator: "DA01",
    properties: { "pulseEnergy.photonFlux": { dtype: "float32" } },
  });
  for (let m = 0; m < MODULES; m++)
    w.addInstrumentSource(module(m), {
      aggregator: `AGIPD${String(m).padStart(2, "0")}`,
      keys: {
        "image.data": { dtype: "uint16", entryShape: FRAME },
        "image.cellId": { dtype: "uint16", entryShape: [1] },
      },
    });
  return w;
}

function train(tid: number, skip = -1): Record<string, Record<string, KeyValue>> {
  const frame = FRAME.reduce((a, b) => a * b, 1);
  const data: Record<string, Record<string, KeyValue>> = { [XGM]: { "pulseEnergy.photonFlux": tid / 10 } };
  for (let m = 0; m < MODULES; m++) {
    if (m === skip) continue;
    const img = Uint16Array.from({ length: CELLS * frame }, (_, i) => (tid * 7 + m * 13 + i) % 65521);
    data[module(m)] = {
      "image.data": ndarray(img, [CELLS, ...FRAME]),
      "image.cellId": Uint16Array.from({ length: CELLS }, (_, c) => c),
    };
  }
  return data;
}

const TRAINS = [10001, 10002, 10003, 10004, 10005];
// Module 1 misses train 10003: its file's rows and INDEX must still line up.
const trainOf = (tid: number) => train(tid, tid === 10003 ? 1 : -1);

describe("writeTrainAsync", () => {
  useTempCache();
  const tmp = tempDir();
  const syncDir = join(tmp.dir, "sync");
  const asyncDir = join(tmp.dir, "async");
  before(async () => {
    const { mkdirSync } = await import("node:fs");
    mkdirSync(syncDir);
    mkdirSync(asyncDir);
    const a = await writer(syncDir);
    for (const tid of TRAINS) a.writeTrain(tid, trainOf(tid));
    await a.close();
    const b = await writer(asyncDir);
    // Not awaited one by one: the writer takes them in order, and close waits for them.
    const writes = TRAINS.map((tid) => b.writeTrainAsync(tid, trainOf(tid)));
    await b.close();
    await Promise.all(writes);
  });
  after(() => tmp.cleanup());

  test("leaves the files writeTrain leaves: every key, train for train, byte for byte", async () => {
    assert.deepEqual(await validateRun(asyncDir), []);
    const a = await openRun(syncDir, { useIndex: false });
    const b = await openRun(asyncDir, { useIndex: false });
    try {
      assert.deepEqual(b.trainIds, a.trainIds);
      assert.deepEqual(b.sources, a.sources);
      for (const source of a.sources)
        for (const key of a.keys(source)) {
          // Control values' timestamps are the wall clock when written (no timestamp given).
          if (key.endsWith(".timestamp")) continue;
          const x = a.keyData(source, key);
          const y = b.keyData(source, key);
          assert.deepEqual(y.trainIds, x.trainIds, `${source} ${key}`);
          const bx = x.ndarray().data;
          const by = y.ndarray().data;
          assert.deepEqual(
            new Uint8Array(by.buffer, by.byteOffset, by.byteLength),
            new Uint8Array(bx.buffer, bx.byteOffset, bx.byteLength),
            `${source} ${key}`,
          );
        }
      // Sequence files of 2 trains: the async writer closed them on its own path too.
      assert.equal(b.files.length, a.files.length);
    } finally {
      a.close();
      b.close();
    }
  });

  test("a bad train is refused alone; a sync call while one is pending is refused; none after close", async () => {
    const dir = join(tmp.dir, "bad");
    (await import("node:fs")).mkdirSync(dir);
    const w = await writer(dir);
    await w.writeTrainAsync(20001, train(20001));
    const bad = train(20002);
    (bad[module(0)] as Record<string, KeyValue>)["image.nope"] = 1;
    await assert.rejects(w.writeTrainAsync(20002, bad), (e: FilesError) => {
      assert.match(e.message, /unknown key image.nope of source SPB_DET_AGIPD1M-1\/DET\/0CH0:xtdf/);
      return true;
    });
    const pending = w.writeTrainAsync(20003, train(20003));
    // Queued (it starts on a later turn) and then writing: a sync call would overtake it, or cut in.
    assert.throws(() => w.writeTrain(20004, train(20004)), /while writeTrainAsync calls are pending/);
    await new Promise((r) => setImmediate(r));
    assert.throws(() => w.flush(), /while writeTrainAsync calls are pending/);
    await pending;
    w.writeTrain(20004, train(20004));
    await w.close();
    await assert.rejects(w.writeTrainAsync(20005, train(20005)), /writer is closed/);
    const run = await openRun(dir, { useIndex: false });
    try {
      assert.deepEqual(run.trainIds, [20001, 20003, 20004]);
      assert.deepEqual(await validateRun(dir), []);
    } finally {
      run.close();
    }
  });
});
