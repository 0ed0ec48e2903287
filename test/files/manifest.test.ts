// The sase reader reproduces what EXtra-data reports for each reference run (manifest.json): files,
// train IDs, run metadata, sources with section, keys with dtype, entry shape, total, first and sum.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { isNDArray } from "../../src/core/index.ts";
import { setDirectReads } from "../../src/files/h5.ts";
import { openFile, openRun, type RunManifest, runManifest } from "../../src/files/index.ts";
import { FIXTURE_RUNS, fixturesDir, jsonDiffs, useTempCache } from "./helpers.ts";

describe("reference runs (EXtra-data manifests)", () => {
  // The fixtures are read-only: the run index must go to the cache folder, here a temp dir.
  useTempCache();

  for (const name of FIXTURE_RUNS) {
    test(`${name}: manifest reproduced`, async () => {
      const dir = join(fixturesDir, name);
      const ref = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as RunManifest;
      const run = await openRun(dir);
      const ours = runManifest(run);
      // float32 data summed in float64 by us may differ from numpy's float32 accumulation in the last bits.
      const diffs = jsonDiffs({ ...ours, run_metadata: {} }, { ...ref, run_metadata: {} }, name, 1e-6);
      assert.deepEqual(diffs, []);
      assert.equal(Object.keys(ours.sources).length, Object.keys(ref.sources).length);

      // run_metadata: EXtra-data takes it from the first file the directory lists, and so do we. Where
      // directory order differs from the machine that made the manifest, the reference must still be
      // the METADATA of one of the run's files (only sequenceNumber/dates vary between them).
      const perFile = await Promise.all(
        ref.files.map(async (f) => {
          const one = await openFile(join(dir, f));
          const md = one.runMetadata();
          one.close();
          return md;
        }),
      );
      const matches = (md: object) => jsonDiffs(md, ref.run_metadata).length === 0;
      assert.ok(
        matches(ours.run_metadata) || perFile.some(matches),
        `run_metadata ${JSON.stringify(ours.run_metadata)}`,
      );
      assert.ok(perFile.some((md) => jsonDiffs(md, ours.run_metadata).length === 0));

      // Opened again, the run comes from the cached index (the fixture directory stays untouched).
      const again = await openRun(dir);
      assert.equal(again.indexOrigin, "index");
      assert.deepEqual(
        jsonDiffs(runManifest(again, { values: false }), runManifest(run, { values: false })),
        [],
      );
      run.close();
      again.close();
    });
  }

  test("keyData reads across sequence files, aligned on trains", async () => {
    const run = await openRun(join(fixturesDir, "fxe_r0450_v1.0"), { useIndex: false });
    const kd = run.keyData("SA1_XTD2_XGM/DOOCS/MAIN:output", "data.trainId");
    const ids = kd.ndarray();
    assert.equal(ids.shape[0], 480);
    assert.deepEqual(Array.from(ids.data as BigUint64Array, Number), run.trainIds);
    // The camera that recorded nothing: keys listed, zero entries, and zero counts per train.
    const empty = run.keyData("FXE_XAD_GEC/CAM/CAMERA_NODATA:daqOutput", "data.image.pixels");
    assert.deepEqual(empty.entryShape, [255, 1024]);
    assert.equal(empty.size, 0);
    assert.equal(empty.ndarray().shape[0], 0);
    // Selections narrow sources, keys and trains.
    const sel = run.select("*/DET/1*CH0:xtdf", "image.cellId").selectTrains({ idRange: [10100, 10110] });
    assert.deepEqual(sel.sources, [
      "FXE_DET_LPD1M-1/DET/10CH0:xtdf",
      "FXE_DET_LPD1M-1/DET/11CH0:xtdf",
      "FXE_DET_LPD1M-1/DET/12CH0:xtdf",
      "FXE_DET_LPD1M-1/DET/13CH0:xtdf",
      "FXE_DET_LPD1M-1/DET/14CH0:xtdf",
      "FXE_DET_LPD1M-1/DET/15CH0:xtdf",
      "FXE_DET_LPD1M-1/DET/1CH0:xtdf",
    ]);
    assert.deepEqual(sel.keys("FXE_DET_LPD1M-1/DET/1CH0:xtdf"), ["image.cellId"]);
    assert.equal(sel.trainIds.length, 10);
    let n = 0;
    for await (const { trainId, data } of sel.trains()) {
      assert.equal(trainId, 10100 + n++);
      const cells = data["FXE_DET_LPD1M-1/DET/1CH0:xtdf"]?.["image.cellId"];
      assert.ok(isNDArray(cells));
      assert.deepEqual(cells.shape, [128, 1]);
    }
    assert.equal(n, 10);
    // Chunks never written (these mock files are sparse) read as the fill value, through HDF5.
    const frames = run
      .selectTrains({ indexRange: [0, 2] })
      .keyData("FXE_DET_LPD1M-1/DET/0CH0:xtdf", "image.data")
      .ndarray();
    assert.deepEqual(frames.shape, [256, 1, 256, 256]);
    assert.ok((frames.data as Uint16Array).every((v) => v === 0));
    // Strings (control state) and RUN values.
    const state = run.keyData("SA1_XTD2_XGM/DOOCS/MAIN", "state.value");
    assert.equal(state.dtype, "object");
    assert.equal(state.strings().length, 480);
    assert.equal(typeof run.runValues("SA1_XTD2_XGM/DOOCS/MAIN")["pulseEnergy.conversion.value"], "number");
    run.close();
  });

  test("a dataset with no chunk written reads as zeros whatever its chunk shape, into fresh or reused memory", async () => {
    // JUNGFRAU's chunks (7, 1, 64, 128) split rows, so only "nothing written" is read directly; HDF5
    // (direct reads off) must agree.
    const run = await openRun(join(fixturesDir, "jf_r0012"));
    const kd = run
      .selectTrains({ indexRange: [3, 4] })
      .keyData("SPB_IRDA_JF4M/DET/JNGFR02:daqOutput", "data.gain");
    const fresh = kd.ndarray();
    assert.deepEqual(fresh.shape, [1, 16, 512, 1024]);
    assert.ok((fresh.data as Uint8Array).every((v) => v === 0));
    const out = new Uint8Array(16 * 512 * 1024).fill(7);
    kd.ndarray({ out });
    assert.ok(
      out.every((v) => v === 0),
      "a reused buffer is filled with zeros",
    );
    setDirectReads(false);
    try {
      out.fill(7);
      kd.ndarray({ out });
      assert.ok(out.every((v) => v === 0));
    } finally {
      setDirectReads(true);
      run.close();
    }
  });
});
