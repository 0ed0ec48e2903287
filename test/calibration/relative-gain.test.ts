// Relative gain from a simulated pulse-capacitor scan: characterised per pixel, cell and gain stage,
// stored as a RelativeGain constant, and applied by correction, a flat illumination reads flat within
// the simulated noise in every gain stage (and does not with the nominal gains).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { ModuleConstants } from "../../src/calibration/index.ts";
import {
  agipdConditions,
  ConstantStore,
  characteriseDarks,
  characterisePc,
  DarkAccumulator,
  darkToKernel,
  loadModuleConstants,
  ModuleCorrector,
  PcAccumulator,
  storeDarkConstants,
  storePcConstants,
} from "../../src/calibration/index.ts";
import {
  AGIPD_1M_DETECTOR,
  GAIN_STAGE_NAMES,
  pulseCapacitorCharge,
  pulseCapacitorLadder,
  reducedDetector,
  SimulatedDetector,
} from "../../src/detector/index.ts";

const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: 64, nModules: 1 });
const cells = 2;
const seed = 11;
const root = mkdtempSync(join(tmpdir(), "sase-relgain-"));
after(() => rmSync(root, { recursive: true, force: true }));

const dark = characteriseDarks(
  GAIN_STAGE_NAMES.map((stage) => {
    const sim = new SimulatedDetector(det, { seed, cells, modules: 1, dark: stage });
    const acc = new DarkAccumulator(det, cells);
    for (let t = 0; t < 30; t++) acc.add(sim.moduleTrain(0, BigInt(500 + t)));
    return acc;
  }),
);
const nominal = darkToKernel(dark, det.sensor.relativeGain);
const scan = pulseCapacitorLadder(det);
const pcSim = new SimulatedDetector(det, { seed, cells, modules: 1, pulseCapacitor: scan });
const pcAcc = new PcAccumulator(det, cells, nominal.thresholds);
for (let t = 0; t < 3 * scan.charges.length; t++) {
  const id = BigInt(2000 + t);
  pcAcc.add(pcSim.moduleTrain(0, id), pulseCapacitorCharge(scan, id));
}
const pc = characterisePc(pcAcc);
const sensor = pcSim.sensor(0);
const P = sensor.pixels;

/** Pixel-to-pixel standard deviation of the mean corrected image over `trains` trains of flat light. */
function flatness(constants: ModuleConstants, photons: number, trains: number) {
  const sim = new SimulatedDetector(det, {
    seed,
    cells,
    modules: 1,
    pattern: { background: photons, rings: [] },
    pulseEnergyJitter: 0,
  });
  const corrector = new ModuleCorrector(det, 0, constants);
  const sum = new Float64Array(P);
  const masked = new Uint8Array(P);
  const stages = [0, 0, 0];
  for (let t = 0; t < trains; t++) {
    const out = corrector.correctTrain(sim.moduleTrain(0, BigInt(9000 + t)));
    for (let f = 0; f < out.frames; f++) {
      for (let p = 0; p < P; p++) {
        sum[p]! += out.data[f * P + p]!;
        if (out.mask[f * P + p]) masked[p] = 1;
        stages[out.gain[f * P + p]!]!++;
      }
    }
  }
  const frames = trains * cells;
  let n = 0;
  let s = 0;
  let s2 = 0;
  for (let p = 0; p < P; p++) {
    if (masked[p]) continue;
    const m = sum[p]! / frames;
    n++;
    s += m;
    s2 += m * m;
  }
  const mean = s / n;
  return { std: Math.sqrt(s2 / n - mean * mean), mean, stage: stages.indexOf(Math.max(...stages)), frames };
}

test("the pulse-capacitor scan recovers every pixel's relative gain per cell and stage", () => {
  // A scan fixes gains relative to the module's typical high-gain pixel: compare up to that one scale.
  const ratio: number[] = [];
  let flagged = 0;
  for (let c = 0; c < cells; c++) {
    for (let g = 0; g < 3; g++) {
      for (let p = 0; p < P; p++) {
        const i = (c * 3 + g) * P + p;
        if (pc.badPixels[i]) flagged++;
        else ratio.push(pc.relativeGain[i]! / sensor.trueRelativeGain(g, c, p));
      }
    }
  }
  const scale = [...ratio].sort((a, b) => a - b)[ratio.length >> 1]!;
  assert.ok(Math.abs(scale - 1) < 0.02, `scale ${scale}`);
  const err = ratio.map((r) => Math.abs(r / scale - 1)).sort((a, b) => a - b);
  const p99 = err[Math.floor(0.99 * err.length)]!;
  assert.ok(p99 < 0.006, `relative gain error p99 = ${p99}`);
  // Dead pixels have no fit; they and nothing much else are flagged.
  const dead = sensor.dead.reduce((a, b) => a + b, 0);
  assert.ok(dead > 0 && flagged >= dead * cells * 3, `${flagged} flagged, ${dead} dead pixels`);
  assert.ok(flagged < 0.01 * cells * 3 * P, `${flagged} flagged`);
});

test("with the stored RelativeGain a flat illumination is flat within the noise in every gain stage", async () => {
  const store = await ConstantStore.open(join(root, "constants"));
  const conditions = agipdConditions({
    memoryCells: cells,
    acquisitionRate: 4.5,
    biasVoltage: 300,
    gainSetting: 0,
  });
  const begin = new Date("2026-01-01T00:00:00Z");
  storeDarkConstants(store, det, 0, dark, conditions, begin);
  storePcConstants(store, det, 0, pc, conditions, begin, "pc scan test");
  const { constants, provenance } = loadModuleConstants(store, det, 0, conditions, new Date());
  store.close();
  assert.equal(provenance.relativeGain?.origin, "pc scan test");
  const trains = 50;
  const s = det.sensor;
  for (const [photons, stage] of [
    [40, 0],
    [1000, 1],
    [3000, 2],
  ] as const) {
    const before = flatness(nominal, photons, trains);
    const corrected = flatness(constants, photons, trains);
    assert.equal(corrected.stage, stage, `${photons} photons per pixel are in stage ${stage}`);
    // The mean of F frames of a pixel varies by the shot noise and the read noise (in HG-equivalent
    // ADU), over √F: what is left when every pixel has the same gain.
    const expected =
      Math.sqrt(s.aduPerPhoton ** 2 * photons + (s.noise[stage]! * s.relativeGain[stage]!) ** 2) /
      Math.sqrt(corrected.frames);
    assert.ok(
      Math.abs(corrected.mean / (photons * s.aduPerPhoton) - 1) < 0.05,
      `stage ${stage}: mean ${corrected.mean} for ${photons * s.aduPerPhoton}`,
    );
    assert.ok(corrected.std < 1.25 * expected, `stage ${stage}: std ${corrected.std}, noise ${expected}`);
    assert.ok(
      before.std > 1.8 * expected,
      `stage ${stage}: nominal gains leave ${before.std} (noise ${expected})`,
    );
  }
});
