// The simulated detector: seeded, physics-plausible raw data (forced-gain darks, gain switching,
// photons scaled by the XGM pulse energy) and raw runs laid out as the facility's DAQ writes them.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  AGIPD_1M_DETECTOR,
  GAIN_STAGE_NAMES,
  reducedDetector,
  SimulatedDetector,
  writeSimulatedRun,
} from "../../src/detector/index.ts";

const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: 32, nModules: 4 });
const P = 32 * 128;
const root = mkdtempSync(join(tmpdir(), "sase-sim-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("the same seed gives the same detector and data, another seed other data", () => {
  const a = new SimulatedDetector(det, { seed: 9, cells: 4, modules: 2 }).moduleTrain(1, 77n);
  const b = new SimulatedDetector(det, { seed: 9, cells: 4, modules: 2 }).moduleTrain(1, 77n);
  const c = new SimulatedDetector(det, { seed: 10, cells: 4, modules: 2 }).moduleTrain(1, 77n);
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);
  assert.deepEqual(Array.from(a.cellId), [0, 1, 2, 3]);
  assert.equal(a.data.length, 4 * 2 * P);
});

test("dark runs force the gain stage; photon runs switch gain where the signal is strong", () => {
  for (const [stage, name] of GAIN_STAGE_NAMES.entries()) {
    const sim = new SimulatedDetector(det, { seed: 2, cells: 2, modules: 1, dark: name });
    const tr = sim.moduleTrain(0, 5n);
    const s = sim.sensor(0);
    for (let p = 0; p < P; p++) {
      if (s.dead[p]) continue;
      const d = tr.data[P + p]!;
      // The digital value sits at this stage's level, far from the neighbouring levels.
      assert.ok(Math.abs(d - s.digital[stage * P + p]!) < 200, `pixel ${p} digital ${d} in stage ${name}`);
    }
  }
  const sim = new SimulatedDetector(det, { seed: 2, cells: 8, modules: 4 });
  const counts = [0, 0, 0];
  for (let m = 0; m < 4; m++) {
    const s = sim.sensor(m);
    const tr = sim.moduleTrain(m, 5n);
    for (let f = 0; f < 8; f++) {
      for (let p = 0; p < P; p++) {
        const d = tr.data[(2 * f + 1) * P + p]!;
        const t0 = (s.digital[p]! + s.digital[P + p]!) / 2;
        const t1 = (s.digital[P + p]! + s.digital[2 * P + p]!) / 2;
        counts[d > t1 ? 2 : d > t0 ? 1 : 0]!++;
      }
    }
  }
  assert.ok(counts[0]! > counts[1]! && counts[1]! > 0 && counts[2]! > 0, `stages ${counts}`);
});

test("photons scale with the simulated XGM pulse energy", () => {
  const pattern = { background: 1, rings: [] };
  const photons = new SimulatedDetector(det, {
    seed: 4,
    cells: 32,
    modules: 1,
    pattern,
    pulseEnergyJitter: 0.4,
  });
  const dark = new SimulatedDetector(det, { seed: 4, cells: 32, modules: 1, dark: "high" });
  const tr = photons.moduleTrain(0, 123n);
  const dk = dark.moduleTrain(0, 123n);
  const energy = photons.pulseEnergies(123n);
  const signal: number[] = [];
  for (let f = 0; f < 32; f++) {
    let sum = 0;
    for (let p = 0; p < P; p++) sum += tr.data[2 * f * P + p]! - dk.data[2 * f * P + p]!;
    signal.push(sum / P);
  }
  const mean = (v: ArrayLike<number>) => Array.from(v).reduce((a, b) => a + b, 0) / v.length;
  const me = mean(energy);
  const ms = mean(signal);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let f = 0; f < 32; f++) {
    sxy += (energy[f]! - me) * (signal[f]! - ms);
    sxx += (energy[f]! - me) ** 2;
    syy += (signal[f]! - ms) ** 2;
  }
  assert.ok(sxy / Math.sqrt(sxx * syy) > 0.95, `correlation ${sxy / Math.sqrt(sxx * syy)}`);
  // One photon per pixel at the mean energy is aduPerPhoton ADU in high gain.
  assert.ok(
    Math.abs(ms / (det.sensor.aduPerPhoton * (mean(energy) / photons.pulseEnergy)) - 1) < 0.1,
    `mean signal ${ms}`,
  );
});

test("a simulated run is written in the facility's raw layout", async () => {
  await writeSimulatedRun(root, { detector: det, run: 7, trains: 3, modules: 2, cells: 4, seed: 1 });
  const out = execFileSync(
    "/usr/bin/python3",
    [
      "-c",
      `import h5py, json, sys
f = h5py.File(sys.argv[1] + "/RAW-R0007-AGIPD01-S00000.h5", "r")
img = f["INSTRUMENT/SPB_DET_AGIPD1M-1/DET/1CH0:xtdf/image"]
x = h5py.File(sys.argv[1] + "/RAW-R0007-DA01-S00000.h5", "r")
print(json.dumps({
  "data": [str(img["data"].dtype), list(img["data"].shape)],
  "cellId": list(img["cellId"].shape),
  "count": [int(c) for c in f["INDEX/SPB_DET_AGIPD1M-1/DET/1CH0:xtdf/image/count"][:]],
  "xgm": list(x["INSTRUMENT/SA1_XTD2_XGM/DOOCS/MAIN:output/data/intensityTD"].shape),
  "nPulses": int(x["RUN/SPB_IRU_AGIPD1M1/MDL/FPGA_COMP/bunchStructure/nPulses/value"][0]),
}))`,
      root,
    ],
    { encoding: "utf8" },
  );
  assert.deepEqual(JSON.parse(out), {
    data: ["uint16", [12, 2, 32, 128]],
    cellId: [12, 1],
    count: [4, 4, 4],
    xgm: [3, 1000],
    nPulses: 4,
  });
});
