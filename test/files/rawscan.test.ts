// A run without an index is scanned without HDF5 (rawscan.ts): every file's structure must come out
// exactly as HDF5's scan gives it, on every reference run and on sase's own files; a file holding a
// type only HDF5 decodes (records, enums) is scanned through HDF5 instead.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { h5Loaded, h5Ready } from "../../src/files/h5.ts";
import { openRun } from "../../src/files/index.ts";
import { scanFile, scanFileRaw } from "../../src/files/scan.ts";
import { treeReady } from "../../src/files/tree.ts";
import { FIXTURE_RUNS, fixturesDir, repoRoot, tempDir, writeSampleRun, useTempCache } from "./helpers.ts";

describe("scanning without HDF5", () => {
  useTempCache();

  // First, while nothing in this process has loaded HDF5.
  test("a run without its index opens and reads its first train without loading HDF5", async () => {
    const dir = join(fixturesDir, "spb_r0238_v1.2");
    const run = await openRun(dir, { hdf5: "when-needed" });
    try {
      assert.equal(run.indexOrigin, "built");
      const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as {
        train_ids: number[];
      };
      assert.deepEqual(run.trainIds, manifest.train_ids);
      for await (const { trainId } of run.trains()) {
        assert.equal(trainId, manifest.train_ids[0]);
        break;
      }
      assert.equal(h5Loaded(), false);
    } finally {
      run.close();
    }
  });

  for (const name of FIXTURE_RUNS) {
    test(`${name}: every file scans as through HDF5`, async () => {
      await Promise.all([h5Ready(), treeReady()]);
      const dir = join(fixturesDir, name);
      const files = readdirSync(dir).filter((f) => f.endsWith(".h5"));
      assert.ok(files.length > 0);
      for (const f of files) {
        const raw = scanFileRaw(join(dir, f));
        assert.ok(raw, `${name}/${f} needed HDF5`);
        assert.deepStrictEqual(raw, scanFile(join(dir, f)), `${name}/${f}`);
      }
    });
  }

  test("sase's own files scan as through HDF5; records and enums go to HDF5", async () => {
    await Promise.all([h5Ready(), treeReady()]);
    const t = tempDir();
    try {
      await writeSampleRun(t.dir, 3, { writeIndex: false });
      for (const f of readdirSync(t.dir).filter((n) => n.endsWith(".h5"))) {
        const raw = scanFileRaw(join(t.dir, f));
        assert.ok(raw, `${f} needed HDF5`);
        assert.deepStrictEqual(raw, scanFile(join(t.dir, f)), f);
      }
      const typed = join(t.dir, "RAW-R0042-REMI01-S00000.h5");
      execFileSync("/usr/bin/python3", [join(repoRoot, "test/files/exdf_types.py"), typed]);
      assert.equal(scanFileRaw(typed), null);
    } finally {
      t.cleanup();
    }
  });
});
