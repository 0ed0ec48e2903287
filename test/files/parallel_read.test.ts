// keyData().ndarrayAsync() spreads its preads over libuv's thread pool: it must give what ndarray()
// gives, byte for byte, on every path (read directly, chunks never written, through HDF5), into fresh
// and reused memory, and say which file ended early.
import assert from "node:assert/strict";
import { readdirSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FilesError, openRun } from "../../src/files/index.ts";
import {
  AGIPD,
  CELLS,
  FRAME,
  fixturesDir,
  pixel,
  tempDir,
  useTempCache,
  writeSampleRun,
  XGM_OUT,
} from "./helpers.ts";

const bytesOf = (a: { data: ArrayBufferView }) =>
  new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);

describe("reads spread over the thread pool (ndarrayAsync)", () => {
  useTempCache();
  const tmp = tempDir();
  before(async () => {
    // 2 trains per file: 33.5 MB of image.data per file, read in several 16 MiB pieces; train 10002
    // has no AGIPD data.
    await writeSampleRun(tmp.dir, 5);
  });
  after(() => tmp.cleanup());

  test("a sase run: the same bytes as ndarray(), into fresh memory and into a caller's buffer", async () => {
    const run = await openRun(tmp.dir);
    try {
      for (const [source, key] of [
        [AGIPD, "image.data"],
        [AGIPD, "image.cellId"],
        [AGIPD, "image.trainId"],
        [XGM_OUT, "data.intensityTD"],
      ] as const) {
        const kd = run.keyData(source, key);
        const sync = kd.ndarray();
        const parallel = await kd.ndarrayAsync();
        assert.deepEqual(parallel.shape, sync.shape, `${source} ${key}`);
        assert.deepEqual(bytesOf(parallel), bytesOf(sync), `${source} ${key}`);
      }
      const kd = run.keyData(AGIPD, "image.data");
      const frame = FRAME[0] * FRAME[1] * FRAME[2];
      const out = new Uint16Array(4 * CELLS * frame + 3).fill(7);
      const into = await kd.ndarrayAsync({ out });
      assert.equal(into.data.buffer, out.buffer);
      assert.deepEqual(into.shape, [4 * CELLS, ...FRAME]);
      // Train 10003 is the third with data (10002 has none).
      assert.equal(out[2 * CELLS * frame + 5 * frame + 77], pixel(10003, 5, 77));
      assert.equal(out[4 * CELLS * frame], 7, "past the data the buffer is left alone");
      await assert.rejects(kd.ndarrayAsync({ out: new Float32Array(out.length) }), /output buffer/);
      // A selection of trains reads only those.
      const one = await run
        .selectTrains({ indexRange: [3, 4] })
        .keyData(AGIPD, "image.data")
        .ndarrayAsync();
      assert.deepEqual(one.shape, [CELLS, ...FRAME]);
      assert.equal(one.data[5 * frame + 77], pixel(10003, 5, 77));
    } finally {
      run.close();
    }
  });

  test("a compressed run is read through HDF5, as ndarray() reads it", async () => {
    const z = tempDir();
    try {
      await writeSampleRun(z.dir, 3, { compression: 1 });
      const run = await openRun(z.dir);
      const kd = run.keyData(AGIPD, "image.data");
      assert.deepEqual(bytesOf(await kd.ndarrayAsync()), bytesOf(kd.ndarray()));
      run.close();
    } finally {
      z.cleanup();
    }
  });

  test("reference runs: across sequence files, and chunks never written as zeros", async () => {
    const fxe = await openRun(join(fixturesDir, "fxe_r0450_v1.0"));
    const ids = fxe.keyData("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.trainId");
    assert.deepEqual(bytesOf(await ids.ndarrayAsync()), bytesOf(ids.ndarray()));
    const frames = fxe
      .selectTrains({ indexRange: [0, 2] })
      .keyData("FXE_DET_LPD1M-1/DET/0CH0:xtdf", "image.data");
    assert.deepEqual(bytesOf(await frames.ndarrayAsync()), bytesOf(frames.ndarray()));
    fxe.close();
    const jf = await openRun(join(fixturesDir, "jf_r0012"));
    const gain = jf
      .selectTrains({ indexRange: [3, 4] })
      .keyData("SPB_IRDA_JF4M/DET/JNGFR02:daqOutput", "data.gain");
    const out = new Uint8Array(16 * 512 * 1024).fill(7);
    await gain.ndarrayAsync({ out });
    assert.ok(
      out.every((v) => v === 0),
      "a reused buffer is filled with zeros",
    );
    jf.close();
  });

  test("a file cut short: rejected, naming the file", async () => {
    const z = tempDir();
    try {
      await writeSampleRun(z.dir, 2);
      const name = readdirSync(z.dir).find((n) => n.includes("AGIPD00-S00000"));
      assert.ok(name);
      const run = await openRun(z.dir);
      const kd = run.keyData(AGIPD, "image.data");
      kd.ndarray(); // the layout is read while the file is whole
      truncateSync(join(z.dir, name), 1 << 20);
      await assert.rejects(kd.ndarrayAsync(), (err: unknown) => {
        assert.ok(err instanceof FilesError);
        assert.match(err.message, /file ends before byte/);
        assert.equal(err.file, join(z.dir, name));
        return true;
      });
      run.close();
    } finally {
      z.cleanup();
    }
  });
});
