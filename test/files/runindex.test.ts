// The run index: written by the writer, used when valid, rebuilt for exactly the files that changed,
// kept out of read-only run directories, and never disagreeing with the files. Also: a writer killed
// between trains leaves files that h5py and sase read up to the last flushed train.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { isNDArray } from "../../src/core/index.ts";
import { createRunWriter, openRun, RUN_INDEX_NAME, validateRun } from "../../src/files/index.ts";
import { repoRoot, tempDir, writeSampleRun, XGM, useTempCache } from "./helpers.ts";

async function writeSmallRun(dir: string, firstTrain: number, n: number): Promise<void> {
  const w = await createRunWriter(dir, { proposal: 1, run: 5, trainsPerSequence: 4 });
  w.addControlSource("MOTOR/X", { aggregator: "DA01", properties: { position: { dtype: "float64" } } });
  for (let t = 0; t < n; t++) w.writeTrain(firstTrain + t, { "MOTOR/X": { position: t } });
  await w.close();
}

describe("run index", () => {
  const cache = useTempCache();

  test("the writer leaves an index that opening uses; rewritten files are noticed", async () => {
    const t = tempDir();
    try {
      await writeSmallRun(t.dir, 1000, 10);
      assert.ok(existsSync(join(t.dir, RUN_INDEX_NAME)));
      const a = await openRun(t.dir);
      assert.equal(a.indexOrigin, "index");
      assert.equal(a.trainIds.length, 10);
      a.close();
      // Same file names, different content: the stale entries are detected and re-read.
      await new Promise((r) => setTimeout(r, 20));
      const w = await createRunWriter(t.dir, {
        proposal: 1,
        run: 5,
        trainsPerSequence: 4,
        writeIndex: false,
      });
      w.addControlSource("MOTOR/X", { aggregator: "DA01", properties: { position: { dtype: "float64" } } });
      for (let i = 0; i < 7; i++) w.writeTrain(2000 + i, { "MOTOR/X": { position: -i } });
      await w.close();
      rmSync(join(t.dir, "RAW-R0005-DA01-S00002.h5"));
      const b = await openRun(t.dir);
      assert.equal(b.indexOrigin, "built");
      assert.deepEqual(b.trainIds, [2000, 2001, 2002, 2003, 2004, 2005, 2006]);
      assert.deepEqual(
        Array.from(b.keyData("MOTOR/X", "position.value").ndarray().data as Float64Array),
        [-0, -1, -2, -3, -4, -5, -6],
      );
      b.close();
      const c = await openRun(t.dir);
      assert.equal(c.indexOrigin, "index");
      assert.equal(c.trainIds.length, 7);
      c.close();
      // A damaged index beside the files is ignored (the cache's is used), and left as it is: readers
      // never write into the run directory.
      writeFileSync(join(t.dir, RUN_INDEX_NAME), "{ not json");
      const d = await openRun(t.dir);
      assert.equal(d.trainIds.length, 7);
      assert.equal(readFileSync(join(t.dir, RUN_INDEX_NAME), "utf8"), "{ not json");
      d.close();
      const e = await openRun(t.dir, { useIndex: false });
      assert.deepEqual(e.trainIds, d.trainIds);
      e.close();
    } finally {
      t.cleanup();
    }
  });

  test("a read-only run directory is left untouched; the index goes to the cache folder", async () => {
    const t = tempDir();
    try {
      await writeSmallRun(t.dir, 1000, 5);
      rmSync(join(t.dir, RUN_INDEX_NAME));
      chmodSync(t.dir, 0o555);
      const a = await openRun(t.dir);
      assert.equal(a.indexOrigin, "built");
      assert.ok(a.indexOrigin === "built" && !existsSync(join(t.dir, RUN_INDEX_NAME)));
      assert.ok(readdirSync(join(cache.dir, "sase", "run-index")).length >= 1);
      const b = await openRun(t.dir);
      assert.equal(b.indexOrigin, "index");
      assert.deepEqual(b.trainIds, a.trainIds);
      a.close();
      b.close();
    } finally {
      chmodSync(t.dir, 0o755);
      t.cleanup();
    }
  });

  test("opening without the index reads the same structure", async () => {
    const t = tempDir();
    try {
      await writeSampleRun(t.dir, 3);
      const a = await openRun(t.dir);
      const b = await openRun(t.dir, { useIndex: false });
      assert.equal(a.indexOrigin, "index");
      assert.deepEqual(a.sources, b.sources);
      assert.deepEqual(a.keys(XGM), b.keys(XGM));
      assert.deepEqual(a.runMetadata(), b.runMetadata());
      assert.deepEqual(a.runValues(XGM), b.runValues(XGM));
      a.close();
      b.close();
    } finally {
      t.cleanup();
    }
  });

  test("the run's metadata is its first file's, also after that file goes and the index knew the next without it", async () => {
    const t = tempDir();
    try {
      await writeSmallRun(t.dir, 1000, 10); // three sequence files: METADATA/sequenceNumber 0, 1, 2
      const a = await openRun(t.dir);
      const firstName = a.files[0] as string;
      const want = (await openRun(t.dir, { useIndex: false })).runMetadata();
      assert.deepEqual(a.runMetadata(), want);
      a.close();
      // Only the first file's METADATA is kept in the index: removing that file makes the next one first.
      rmSync(join(t.dir, RUN_INDEX_NAME));
      await openRun(t.dir).then((r) => r.close()); // cached index without the beside one
      rmSync(join(t.dir, firstName));
      const b = await openRun(t.dir);
      const fresh = await openRun(t.dir, { useIndex: false });
      assert.notEqual(b.files[0], firstName);
      assert.deepEqual(b.runMetadata(), fresh.runMetadata());
      assert.notEqual(b.runMetadata().sequenceNumber, want.sequenceNumber);
      // The fixed-up index is saved: the next open uses it as is, with the same metadata.
      const c = await openRun(t.dir);
      assert.equal(c.indexOrigin, "index");
      assert.deepEqual(c.runMetadata(), fresh.runMetadata());
      for (const r of [b, fresh, c]) r.close();
    } finally {
      t.cleanup();
    }
  });

  test("trains flagged bad in INDEX/flag are left out unless asked for", async () => {
    const t = tempDir();
    try {
      const w = await createRunWriter(t.dir, { proposal: 1, run: 6 });
      w.addInstrumentSource("DET/0CH0:xtdf", {
        aggregator: "DET00",
        keys: { "image.cellId": { dtype: "uint16" } },
      });
      for (let i = 0; i < 4; i++) {
        w.writeTrain(
          500 + i,
          { "DET/0CH0:xtdf": { "image.cellId": new Uint16Array([i, i]) } },
          { flag: i === 2 ? 0 : 1 },
        );
      }
      await w.close();
      const run = await openRun(t.dir);
      assert.deepEqual(run.trainIds, [500, 501, 503]);
      assert.deepEqual(
        Array.from(run.keyData("DET/0CH0:xtdf", "image.cellId").ndarray().data as Uint16Array),
        [0, 0, 1, 1, 3, 3],
      );
      const all = await openRun(t.dir, { includeSuspectTrains: true });
      assert.deepEqual(all.trainIds, [500, 501, 502, 503]);
      assert.equal(all.keyData("DET/0CH0:xtdf", "image.cellId").size, 8);
      run.close();
      all.close();
    } finally {
      t.cleanup();
    }
  });

  test("a writer killed between trains leaves readable files up to the last flushed train", async () => {
    const t = tempDir();
    try {
      const child = spawnSync(
        process.execPath,
        ["--import", "tsx", join(repoRoot, "test/files/crash_writer.ts"), t.dir, "5"],
        {
          cwd: repoRoot,
        },
      );
      assert.equal(child.signal, "SIGKILL", child.stderr.toString());
      assert.ok(!existsSync(join(t.dir, RUN_INDEX_NAME)));
      const py = execFileSync("/usr/bin/python3", [join(repoRoot, "test/files/h5py_dump.py"), t.dir]);
      const dump = JSON.parse(py.toString()) as {
        files: Record<string, { train_ids: number[] }>;
        sources: Record<string, Record<string, { total: number; sum: number }>>;
      };
      // INDEX is sized for the whole sequence (3 trains): a file cut short has its train list padded
      // with 0 at the end, as the facility's DAQ leaves one; readers drop the padding.
      assert.deepEqual(dump.files["RAW-R0009-DET00-S00001.h5"]?.train_ids, [30003, 30004, 0]);
      assert.equal(dump.sources["DET/0CH0:xtdf"]?.["image.data"]?.total, 20);
      // Rows written by pwrite into chunks HDF5 allocated: every flushed train's bytes are there.
      assert.deepEqual(dump.files["RAW-R0009-DET01-S00001.h5"]?.train_ids, [30003, 30004, 0]);
      const big = dump.sources["DET/1CH0:xtdf"]?.["image.data"];
      assert.equal(big?.total, 15);
      assert.equal(big?.sum, (1 + 2 + 3 + 4 + 5) * (3 << 19));
      const run = await openRun(t.dir);
      assert.deepEqual(run.trainIds, [30000, 30001, 30002, 30003, 30004]);
      assert.deepEqual(
        Array.from(run.keyData("MOTOR/X", "position").ndarray().data as Float64Array),
        [0, 1.5, 3, 4.5, 6],
      );
      const last = run.keyData("DET/0CH0:xtdf", "image.data").trainData(30004);
      assert.ok(isNDArray(last) && last.shape[0] === 4 && last.data[1023] === 4);
      const bigLast = run.keyData("DET/1CH0:xtdf", "image.data").trainData(30004);
      assert.ok(isNDArray(bigLast) && bigLast.shape[0] === 3 && bigLast.data.every((v) => v === 5));
      run.close();
      // The padding is no problem: the run validates clean.
      assert.deepEqual(await validateRun(t.dir), []);
    } finally {
      t.cleanup();
    }
  });
});
