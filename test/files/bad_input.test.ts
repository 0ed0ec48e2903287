// Broken runs: a truncated file, a file that is not HDF5, an INDEX pointing past the data, a file
// without METADATA, a file from another run. Each gives a clear error naming file and dataset, nothing
// crashes, and the rest of the run stays readable; validation reports every problem.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createRunWriter, FilesError, openFile, openRun, validateRun } from "../../src/files/index.ts";
import { fixturesDir, tempDir } from "./helpers.ts";

const SRC = join(fixturesDir, "spb_r0238_v1.2");
const MOD = (m: number) => `SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`;
const file = (agg: string, seq = 0) => `RAW-R0238-${agg}-S0000${seq}.h5`;

function h5py(script: string): void {
  execFileSync("/usr/bin/python3", ["-c", `import h5py\n${script}`]);
}

describe("bad input", () => {
  const tmp = tempDir();
  before(() => {
    for (const name of readdirSync(SRC).filter((n) => /AGIPD0[0-4]|DA01/.test(n))) {
      copyFileSync(join(SRC, name), join(tmp.dir, name));
      chmodSync(join(tmp.dir, name), 0o644);
    }
    const d = tmp.dir;
    truncateSync(join(d, file("AGIPD01")), Math.floor(statSync(join(d, file("AGIPD01"))).size / 2));
    writeFileSync(join(d, file("AGIPD02")), "this is not an HDF5 file\n".repeat(100));
    // INDEX of the last train points 64 entries past the end of the image datasets.
    h5py(`f = h5py.File("${join(d, file("AGIPD03"))}", "r+")\nf["INDEX/${MOD(3)}/image/first"][63] = 4096`);
    h5py(`f = h5py.File("${join(d, file("DA01", 1))}", "r+")\ndel f["METADATA"]`);
    // A file of another run slipped into this directory.
    copyFileSync(
      join(fixturesDir, "jf_r0012", "RAW-R0012-JNGFR01-S00000.h5"),
      join(d, "RAW-R0012-JNGFR01-S00000.h5"),
    );
  });
  after(() => tmp.cleanup());

  test("opening names each unreadable file and keeps the rest", async () => {
    const run = await openRun(tmp.dir, { useIndex: false });
    const byFile = Object.fromEntries(run.problems.map((p) => [p.file, p.message]));
    assert.match(byFile[file("AGIPD01")] ?? "", /truncated/);
    assert.match(byFile[file("AGIPD02")] ?? "", /cannot open as HDF5/);
    assert.match(byFile[file("DA01", 1)] ?? "", /METADATA/);
    assert.equal(run.problems.length, 3);
    assert.ok(run.sources.includes(MOD(0)) && run.sources.includes(MOD(3)) && run.sources.includes(MOD(4)));
    assert.ok(!run.sources.includes(MOD(1)));
    const xgm = run.keyData("SA1_XTD2_XGM/DOOCS/MAIN", "pulseEnergy.photonFlux.value");
    assert.equal(xgm.size, 32); // only the first DA01 sequence is left
    assert.equal(run.keyData(MOD(0), "image.cellId").ndarray().shape[0], 4096);
    run.close();
  });

  test("an INDEX pointing past the data: error names file, dataset and train; other trains read", async () => {
    const run = await openRun(tmp.dir, { useIndex: false });
    const kd = run.keyData(MOD(3), "image.cellId");
    assert.throws(
      () => kd.ndarray(),
      (e: unknown) =>
        e instanceof FilesError &&
        e.file === file("AGIPD03") &&
        e.dataset === `/INSTRUMENT/${MOD(3)}/image/cellId` &&
        e.trainId === 10063 &&
        /outside|past|points to entries 4096\.\.4160/.test(e.message),
    );
    const ok = run
      .selectTrains({ idRange: [10000, 10063] })
      .keyData(MOD(3), "image.cellId")
      .ndarray();
    assert.equal(ok.shape[0], 63 * 64);
    run.close();
  });

  test("openFile on a broken file throws a FilesError naming it", async () => {
    await assert.rejects(
      openFile(join(tmp.dir, file("AGIPD02"))),
      (e: unknown) => e instanceof FilesError && e.file?.endsWith(file("AGIPD02")) === true,
    );
    await assert.rejects(
      openFile(join(tmp.dir, file("DA01", 1))),
      (e: unknown) => e instanceof FilesError && e.dataset === "METADATA",
    );
    await assert.rejects(openRun(join(tmp.dir, "nope")), /run directory not found/);
  });

  test("a writer into a missing directory, or into a file, says so before any train", async () => {
    const missing = join(tmp.dir, "nope");
    await assert.rejects(
      createRunWriter(missing, { proposal: 1, run: 1 }),
      (e: unknown) =>
        e instanceof FilesError && e.code === "NOT_FOUND" && /run directory not found/.test(e.message),
    );
    assert.equal(existsSync(missing), false, "the writer made nothing");
    await assert.rejects(
      createRunWriter(join(tmp.dir, file("DA01")), { proposal: 1, run: 1 }),
      /run directory is not a directory/,
    );
  });

  test("validate reports every problem with file, dataset and train", async () => {
    const problems = await validateRun(tmp.dir);
    const of = (f: string) => problems.filter((p) => p.file === f);
    assert.match(of(file("AGIPD01"))[0]?.message ?? "", /truncated/);
    assert.match(of(file("AGIPD02"))[0]?.message ?? "", /cannot open as HDF5/);
    assert.equal(of(file("DA01", 1))[0]?.dataset, "METADATA");
    const idx = of(file("AGIPD03"));
    assert.ok(
      idx.some(
        (p) =>
          p.dataset === `INSTRUMENT/${MOD(3)}/image/cellId` && p.trainId === 10063 && /4160/.test(p.message),
      ),
    );
    assert.ok(idx.some((p) => p.dataset === `INDEX/${MOD(3)}/image` && /overlap|gap/.test(p.message)));
    assert.ok(problems.some((p) => /more than one run/.test(p.message)));
    assert.deepEqual(of(file("AGIPD00")), []);
    // A sound run validates clean.
    assert.deepEqual(await validateRun(SRC), []);
  });

  test("validate: sequence files of one aggregator must continue each other", async () => {
    const t = tempDir();
    try {
      copyFileSync(join(SRC, file("DA01", 0)), join(t.dir, file("DA01", 0)));
      copyFileSync(join(SRC, file("DA01", 0)), join(t.dir, file("DA01", 1)));
      const problems = await validateRun(t.dir);
      assert.equal(problems.length, 1);
      assert.equal(problems[0]?.file, file("DA01", 1));
      assert.equal(problems[0]?.trainId, 10000);
      assert.match(problems[0]?.message ?? "", /overlap or precede sequence 0/);
    } finally {
      t.cleanup();
    }
  });
});
