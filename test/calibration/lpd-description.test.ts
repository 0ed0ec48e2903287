// Another detector is a new description, not new code: LPD-1M (256 × 256 pixel modules, gain stage in
// bits 12-13 of each raw value) goes through the same simulation, files, dark characterisation,
// store and correction as AGIPD.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  ConstantStore,
  characteriseModule,
  loadModuleConstants,
  ModuleCorrector,
  moduleFrames,
  readRunConditions,
} from "../../src/calibration/index.ts";
import {
  GAIN_STAGE_NAMES,
  LPD_1M_DETECTOR,
  reducedDetector,
  writeSimulatedRun,
} from "../../src/detector/index.ts";
import { openRun } from "../../src/files/index.ts";

const det = reducedDetector(LPD_1M_DETECTOR, { rows: 32, nModules: 1 });
const P = 32 * 256;
const root = mkdtempSync(join(tmpdir(), "sase-lpd-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("LPD-1M: simulated, characterised and corrected through the AGIPD code paths", async () => {
  const dirs = GAIN_STAGE_NAMES.map((g) => join(root, `dark-${g}`));
  for (const [i, g] of GAIN_STAGE_NAMES.entries()) {
    mkdirSync(dirs[i]!);
    await writeSimulatedRun(dirs[i]!, {
      detector: det,
      run: 1 + i,
      trains: 8,
      modules: 1,
      cells: 4,
      seed: 3,
      dark: g,
    });
  }
  const photons = join(root, "r0009");
  mkdirSync(photons);
  await writeSimulatedRun(photons, { detector: det, run: 9, trains: 1, modules: 1, cells: 4, seed: 3 });
  const shape = execFileSync(
    "/usr/bin/python3",
    [
      "-c",
      "import h5py, sys; print(list(h5py.File(sys.argv[1], 'r')['INSTRUMENT/FXE_DET_LPD1M-1/DET/0CH0:xtdf/image/data'].shape))",
      join(photons, "RAW-R0009-LPD00-S00000.h5"),
    ],
    { encoding: "utf8" },
  );
  assert.equal(shape.trim(), "[4, 1, 32, 256]");

  const run = await openRun(photons);
  const rc = readRunConditions(run, det);
  const storeRoot = join(root, "store");
  await characteriseModule({
    runDirs: dirs,
    detector: det,
    module: 0,
    storeRoot,
    conditions: rc.conditions,
    beginValidity: "2020-01-01T00:00:00Z",
  });
  const store = await ConstantStore.open(storeRoot);
  const { constants } = loadModuleConstants(store, det, 0, rc.conditions, rc.eventAt);
  store.close();
  // Gain bits 0, 1, 2 give thresholds halfway between them.
  assert.equal(constants.thresholds[0], 0.5);
  assert.equal(constants.thresholds[P], 1.5);

  const corrector = new ModuleCorrector(det, 0, constants);
  let trains = 0;
  for await (const raw of moduleFrames(run, det, 0)) {
    trains++;
    const out = corrector.correctTrain(raw);
    const stages = [0, 0, 0];
    const hg: number[] = [];
    let switched = 0;
    let switchedLow = 0;
    for (let f = 0; f < raw.frames; f++) {
      for (let p = 0; p < P; p++) {
        const i = f * P + p;
        const g = out.gain[i]!;
        assert.equal(g, raw.data[(2 * f + 1) * P + p], "the gain stage is the one in the raw bits");
        stages[g]!++;
        if (g === 0) hg.push(out.data[i]!);
        else {
          switched++;
          // Pixels that switched carry more than half the switch point, in high-gain ADU.
          if (out.data[i]! < 0.5 * det.sensor.switchPoint[0]!) switchedLow++;
        }
      }
    }
    assert.ok(
      stages.every((n) => n > 0),
      `all stages occur: ${stages}`,
    );
    // Most high-gain pixels see no photon: their corrected values centre on zero.
    hg.sort((a, b) => a - b);
    const median = hg[hg.length >> 1]!;
    assert.ok(Math.abs(median) < 5, `median high-gain value ${median}`);
    assert.ok(
      switchedLow / switched < 0.02,
      `${switchedLow} of ${switched} switched pixels below half the switch point`,
    );
  }
  run.close();
  assert.equal(trains, 1);
});
