// Dark characterisation recovers the simulated sensor's offsets, noise and gain thresholds, and flags
// its dead and noisy pixels.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BadPixels, characteriseDarks, DarkAccumulator } from "../../src/calibration/index.ts";
import {
  AGIPD_1M_DETECTOR,
  GAIN_STAGE_NAMES,
  reducedDetector,
  SimulatedDetector,
} from "../../src/detector/index.ts";

const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: 64, nModules: 1 });
const cells = 4;
const trains = 60;

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

test("dark characterisation recovers offsets, noise, thresholds and bad pixels", () => {
  const runs = GAIN_STAGE_NAMES.map((stage) => {
    const sim = new SimulatedDetector(det, { seed: 3, cells, modules: 1, dark: stage });
    const acc = new DarkAccumulator(det, cells);
    for (let t = 0; t < trains; t++) acc.add(sim.moduleTrain(0, BigInt(1000 + t)));
    return acc;
  });
  const dark = characteriseDarks(runs);
  const sensor = new SimulatedDetector(det, { seed: 3, cells, modules: 1 }).sensor(0);
  const P = sensor.pixels;
  const G = 3;
  const offsetErr: number[] = [];
  const noiseRel: number[] = [];
  const thrErr: number[] = [];
  for (let c = 0; c < cells; c++) {
    for (let g = 0; g < G; g++) {
      for (let p = 0; p < P; p++) {
        if (sensor.dead[p]) continue;
        const i = (c * G + g) * P + p;
        const trueNoise = sensor.trueNoise(g, p);
        // Error of a mean of N samples is noise/√N: express it in those units.
        offsetErr.push(
          Math.abs(dark.offset[i]! - sensor.trueOffset(g, c, p)) / (trueNoise / Math.sqrt(trains)),
        );
        noiseRel.push(Math.abs(dark.noise[i]! / Math.hypot(trueNoise, Math.sqrt(1 / 12)) - 1));
        if (g < G - 1) {
          const truth = 0.5 * (sensor.digital[g * P + p]! + sensor.digital[(g + 1) * P + p]!);
          thrErr.push(Math.abs(dark.thresholds[(c * (2 * G - 1) + g) * P + p]! - truth));
        }
      }
    }
  }
  // Stated tolerances: offsets within 4 standard errors for 99.5 % of pixels; noise within 25 % for
  // 99 %; thresholds within 15 ADU (digital noise 25 ADU, 60 trains) for 99 %.
  assert.ok(quantile(offsetErr, 0.995) < 4, `offset error p99.5 = ${quantile(offsetErr, 0.995)} σ/√N`);
  assert.ok(quantile(noiseRel, 0.99) < 0.25, `noise relative error p99 = ${quantile(noiseRel, 0.99)}`);
  assert.ok(quantile(thrErr, 0.99) < 15, `threshold error p99 = ${quantile(thrErr, 0.99)} ADU`);

  let falseFlags = 0;
  let good = 0;
  for (let c = 0; c < cells; c++) {
    for (let p = 0; p < P; p++) {
      const hg = dark.badPixels[c * G * P + p]!;
      if (sensor.dead[p]) {
        assert.ok(hg & BadPixels.DATA_STD_IS_ZERO, `dead pixel ${p} flagged`);
        assert.ok(hg & BadPixels.GAIN_THRESHOLDING_ERROR, `dead pixel ${p} cannot switch gain`);
      } else if (sensor.noisy[p]) {
        assert.ok(hg & BadPixels.NOISE_OUT_OF_THRESHOLD, `noisy pixel ${p} flagged`);
      } else {
        good++;
        if (hg) falseFlags++;
      }
    }
  }
  assert.ok(
    sensor.dead.some((d) => d === 1) && sensor.noisy.some((d) => d === 1),
    "the sensor has dead and noisy pixels",
  );
  assert.ok(falseFlags / good < 0.01, `${falseFlags} of ${good} good pixels flagged`);
});
