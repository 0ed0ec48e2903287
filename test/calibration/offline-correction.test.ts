// The offline chain on real files: simulated dark runs → sase's dark characterisation into the store →
// correction of a simulated photon run over worker threads into CORR files that h5py reads, equal bit
// for bit to correcting the same trains in process; resumable per sequence file; bad input leaves
// no output file behind.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  ConstantStore,
  characteriseDarkRuns,
  correctRun,
  loadModuleConstants,
  ModuleCorrector,
  moduleFrames,
  readRunConditions,
} from "../../src/calibration/index.ts";
import {
  AGIPD_1M_DETECTOR,
  GAIN_STAGE_NAMES,
  reducedDetector,
  writeSimulatedRun,
} from "../../src/detector/index.ts";
import { openRun, validateRun } from "../../src/files/index.ts";

const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: 32 });
const root = mkdtempSync(join(tmpdir(), "sase-offline-"));
const store = join(root, "store");
const photons = join(root, "r0020");
const out = join(root, "corr");
after(() => rmSync(root, { recursive: true, force: true }));

async function simulate(
  dir: string,
  run: number,
  dark: (typeof GAIN_STAGE_NAMES)[number] | null,
  trains: number,
  cells = 4,
) {
  mkdirSync(dir, { recursive: true });
  await writeSimulatedRun(dir, {
    detector: det,
    run,
    trains,
    modules: 2,
    cells,
    seed: 11,
    dark,
    trainsPerSequence: 2,
  });
}

before(async () => {
  for (const [i, g] of GAIN_STAGE_NAMES.entries()) await simulate(join(root, `dark-${g}`), 10 + i, g, 5);
  await simulate(photons, 20, null, 4);
});

test("darks are characterised into the store, one worker per module", async () => {
  const done = await characteriseDarkRuns(
    [join(root, "dark-high"), join(root, "dark-medium"), join(root, "dark-low")],
    { detector: det, storeRoot: store, workers: 2 },
  );
  assert.deepEqual(
    done.map((d) => [d.module, d.constantIds.length]),
    [
      [0, 4],
      [1, 4],
    ],
  );
});

test("a run is corrected into CORR files equal to in-process correction, and resumes per file", async () => {
  let lastProgress = [0, 0];
  const summary = await correctRun(photons, out, {
    detector: det,
    storeRoot: store,
    workers: 2,
    onProgress: (d, t) => {
      lastProgress = [d, t];
    },
  });
  const names = readdirSync(out).sort();
  assert.deepEqual(names, [
    "CORR-R0020-AGIPD00-S00000.h5",
    "CORR-R0020-AGIPD00-S00001.h5",
    "CORR-R0020-AGIPD01-S00000.h5",
    "CORR-R0020-AGIPD01-S00001.h5",
  ]);
  assert.equal(summary.corrected.length, 4);
  // The files layer's EXDF checks find nothing wrong with them.
  assert.deepEqual(await validateRun(out), []);
  assert.deepEqual(lastProgress, [8, 8]);

  // h5py reads what the workers wrote; compare with the same correction done here.
  const py = execFileSync(
    "/usr/bin/python3",
    [
      "-c",
      `import h5py, sys, json
f = h5py.File(sys.argv[1], "r")
g = f["INSTRUMENT/SPB_DET_AGIPD1M-1/CORR/1CH0:output/image"]
print(json.dumps({k: [str(g[k].dtype), list(g[k].shape)] for k in g}))
print(json.dumps({"seq": int(f["METADATA/sequenceNumber"][0]), "tid": [int(t) for t in f["INDEX/trainId"][:]]}))
g["data"][:].astype("<f4").tofile(sys.argv[2])`,
      join(out, "CORR-R0020-AGIPD01-S00001.h5"),
      join(root, "py.f32"),
    ],
    { encoding: "utf8" },
  ).split("\n");
  assert.deepEqual(JSON.parse(py[0]!), {
    cellId: ["uint16", [8]],
    data: ["float32", [8, 32, 128]],
    gain: ["uint8", [8, 32, 128]],
    mask: ["uint32", [8, 32, 128]],
    pulseId: ["uint64", [8]],
    trainId: ["uint64", [8]],
  });
  assert.deepEqual(JSON.parse(py[1]!), { seq: 1, tid: [10002, 10003] });

  const dc = await openRun(photons);
  const rc = readRunConditions(dc, det);
  const s = await ConstantStore.open(store);
  const { constants } = loadModuleConstants(s, det, 1, rc.conditions, rc.eventAt);
  s.close();
  const corrector = new ModuleCorrector(det, 1, constants);
  const mine: number[] = [];
  for await (const raw of moduleFrames(dc.selectTrains({ ids: [10002, 10003] }), det, 1)) {
    mine.push(...corrector.correctTrain(raw).data);
  }
  dc.close();
  const { readFileSync } = await import("node:fs");
  const b = readFileSync(join(root, "py.f32"));
  const theirs = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  assert.deepEqual(Array.from(theirs), Array.from(Float32Array.from(mine)));

  // Resume: only the missing file is corrected again.
  rmSync(join(out, "CORR-R0020-AGIPD00-S00001.h5"));
  const again = await correctRun(photons, out, { detector: det, storeRoot: store, workers: 2 });
  assert.deepEqual(
    again.corrected.map((r) => r.outFile.split("/").pop()),
    ["CORR-R0020-AGIPD00-S00001.h5"],
  );
  assert.equal(again.skipped.length, 3);
});

test("raw data the constants do not cover fails clearly and leaves no file", async () => {
  // 40 cells per train: the run asks for constants of 40 cells (64 as the facility snaps it); the
  // store holds none that cover them.
  const wide = join(root, "r0030");
  await simulate(wide, 30, null, 2, 40);
  const bad = join(root, "corr-bad");
  await assert.rejects(
    correctRun(wide, bad, { detector: det, storeRoot: store, workers: 1 }),
    /no Offset constant for SPB_DET_AGIPD1M-1 AGIPD0\d .*"Memory cells":40/,
  );
  assert.deepEqual(existsSync(bad) ? readdirSync(bad) : [], []);
});
