// Bad input gets a clear error naming what is wrong: constants of the wrong shape or with NaN/Inf,
// raw data with unexpected cells or sizes, bad command-line arguments.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  ConstantsError,
  constantsFromSensor,
  correctRun,
  ModuleCorrector,
  RawDataError,
} from "../../src/calibration/index.ts";
import { AGIPD_1M_DETECTOR, reducedDetector, SimulatedDetector } from "../../src/detector/index.ts";

const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: 16, nModules: 1 });
const sim = new SimulatedDetector(det, { seed: 1, cells: 4, modules: 1 });
const good = () => constantsFromSensor(sim.sensor(0), 4);
const root = mkdtempSync(join(tmpdir(), "sase-bad-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("constants of the wrong shape or with non-finite values are refused", () => {
  const other = reducedDetector(AGIPD_1M_DETECTOR, { rows: 32, nModules: 1 });
  assert.throws(
    () => new ModuleCorrector(other, 0, good()),
    (e: unknown) =>
      e instanceof ConstantsError && /3 gain stages × 2048 pixels, AGIPD1M has 3 × 4096/.test(e.message),
  );
  const nan = good();
  nan.relativeGain[2 * 2048 * 3 + 2048 + 130] = Number.NaN;
  assert.throws(
    () => new ModuleCorrector(det, 0, nan),
    /relative gain is NaN at cell 2, stage 1, pixel \(1, 2\)/,
  );
  const inf = good();
  inf.offset[5] = Number.POSITIVE_INFINITY;
  assert.throws(
    () => new ModuleCorrector(det, 0, inf),
    /offset is Infinity at cell 0, stage 0, pixel \(0, 5\)/,
  );
  const thr = good();
  thr.thresholds[7] = Number.NaN;
  assert.throws(() => new ModuleCorrector(det, 0, thr), /gain threshold is NaN/);
});

test("raw trains with cells beyond the constants or the wrong size are refused", () => {
  const corrector = new ModuleCorrector(det, 0, good());
  const wide = new SimulatedDetector(det, { seed: 1, cells: 8, modules: 1 }).moduleTrain(0, 3n);
  assert.throws(
    () => corrector.correctTrain(wide),
    (e: unknown) =>
      e instanceof RawDataError &&
      /train 3: frame 4 is from memory cell 4, the constants cover 4 cells/.test(e.message),
  );
  const tr = sim.moduleTrain(0, 4n);
  assert.throws(
    () => corrector.correctTrain({ ...tr, data: tr.data.subarray(1) }),
    /image.data holds 16383 values, expected 4 frames × 2 × 16 × 128/,
  );
});

test("the command explains bad arguments; correcting a folder without raw data fails and writes nothing", async () => {
  const a = spawnSync(
    process.execPath,
    ["bin/sase.js", "detector", "simulate", join(root, "x"), "--run", "1", "--dark", "bright"],
    {
      encoding: "utf8",
    },
  );
  assert.equal(a.status, 2);
  assert.match(
    a.stderr,
    /^sase: option '--dark <stage>' argument 'bright' is invalid\. Allowed choices are high, medium, low\.$/m,
  );
  await assert.rejects(
    correctRun(root, join(root, "out"), { detector: det, storeRoot: join(root, "store") }),
    /no HDF5 files/,
  );
  assert.deepEqual(
    readdirSync(root).filter((f) => f === "out" || f === "x"),
    [],
  );
});
