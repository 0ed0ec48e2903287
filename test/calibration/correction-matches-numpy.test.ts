// The TypeScript correction kernel against the numpy reference of the same math (Debian python3).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { CorrectorOptions } from "../../src/calibration/index.ts";
import {
  BadPixels,
  constantsFromSensor,
  DEFAULT_CORRECTION,
  ModuleCorrector,
  simdAvailable,
} from "../../src/calibration/index.ts";
import { AGIPD_1M_DETECTOR, reducedDetector, SimulatedDetector } from "../../src/detector/index.ts";
import { numpyCorrect } from "./numpy-reference.ts";

const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: 128, nModules: 2 });
const cells = 8;
const sim = new SimulatedDetector(det, { seed: 7, cells, modules: 1 });
const raw = sim.moduleTrain(0, 5000n);
// Saturate a few pixels so the range flags are exercised too.
raw.data[10] = 16383;
raw.data[det.moduleShape[0] * 128 + 20] = 16383;
const constants = constantsFromSensor(sim.sensor(0), cells);
for (let i = 0; i < constants.badPixels.length; i += 997)
  constants.badPixels[i] = BadPixels.NOISE_OUT_OF_THRESHOLD;
const dir = mkdtempSync(join(tmpdir(), "sase-numpy-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Number.POSITIVE_INFINITY;
      continue;
    }
    worst = Math.max(worst, Math.abs(x - y));
  }
  return worst;
}

const cases: [string, CorrectorOptions][] = [
  ["adaptive gain, relative gain (SIMD kernel where available)", {}],
  ["adaptive gain, relative gain, JavaScript kernel", { simd: false }],
  ["adaptive gain, masked pixels NaN", { maskedValue: Number.NaN }],
  ["common mode, masked pixels NaN", { commonMode: true, maskedValue: Number.NaN }],
  ["fixed medium gain, no relative gain", { gainMode: "fixed-medium", relativeGain: false }],
];

for (const [name, options] of cases) {
  test(`correction equals numpy: ${name}`, () => {
    const corrector = new ModuleCorrector(det, 0, constants, options);
    const ours = corrector.correctTrain(raw);
    const { simd, ...correction } = options;
    const ref = numpyCorrect(dir, det, constants, raw.data, raw.cellId, {
      ...DEFAULT_CORRECTION,
      ...correction,
    });
    // The hot case runs the WebAssembly SIMD kernel unless told not to.
    if (!correction.commonMode && !correction.gainMode)
      assert.equal(corrector.usesSimd, simd !== false && simdAvailable());
    assert.equal(ref.data.length, ours.data.length);
    const diff = maxAbsDiff(ours.data, ref.data);
    assert.ok(diff <= 1e-4, `max |sase - numpy| = ${diff}`);
    assert.deepEqual(ours.gain, ref.gain);
    assert.deepEqual(ours.mask, ref.mask);
    if (!options.gainMode) {
      const stages = [0, 0, 0];
      for (const g of ours.gain) stages[g]!++;
      assert.ok(
        stages.every((n) => n > 0),
        `all three gain stages occur: ${stages}`,
      );
    }
    assert.ok(ours.mask.some((m) => m & BadPixels.VALUE_OUT_OF_RANGE));
  });
}
