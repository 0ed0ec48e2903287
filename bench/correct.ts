// AGIPD correction throughput: the JavaScript and WebAssembly SIMD kernels on one core and on all
// cores (worker threads on shared memory), beside numpy doing the same math
// (bench/correct_reference.py, one core) and a plain copy of the same raw bytes, all in this run.
//
//   npm run bench -- correct            (352 cells, 16 modules, every core)
//   CELLS=64 MODULES=4 WORKERS=2 npm run bench -- correct
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import {
  Arena,
  constantsFromSensor,
  correctFrames,
  DEFAULT_CORRECTION,
  FramePool,
  type ModuleConstants,
  SimdKernel,
  simdAvailable,
} from "../src/calibration/index.ts";
import { AGIPD_1M_DETECTOR, modulePixels, SimulatedDetector } from "../src/detector/index.ts";
import { numpyCorrect } from "../test/calibration/numpy-reference.ts";

const cells = Number(process.env.CELLS ?? 352);
const modules = Number(process.env.MODULES ?? 16);
const workers = Number(process.env.WORKERS ?? availableParallelism());
const repeat = Number(process.env.REPEAT ?? 3);
const det = AGIPD_1M_DETECTOR;
const P = modulePixels(det);
const pixels = cells * P;

function best(fn: () => void): number {
  let t = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t / 1000;
}

async function bestAsync(fn: () => Promise<void>): Promise<number> {
  let t = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t / 1000;
}

console.log(`AGIPD correction: ${cells} cells × ${P} px per module, best of ${repeat}`);
const sim = new SimulatedDetector(det, { seed: 1, cells, modules: 1 });
const train = sim.moduleTrain(0, 1n);
const truth = constantsFromSensor(sim.sensors[0]!, cells);
// Everything lives in one shared WebAssembly memory: the SIMD kernel addresses it directly, the
// JavaScript kernel and the worker threads see it as SharedArrayBuffer views.
const arena = new Arena(pixels * (11 * 4 + 4 + 9) + (1 << 20));
const constants: ModuleConstants = {
  cells,
  stages: 3,
  pixels: P,
  thresholds: arena.floats(truth.thresholds.length),
  offset: arena.floats(truth.offset.length),
  relativeGain: arena.floats(truth.relativeGain.length),
  badPixels: arena.uint32(truth.badPixels.length),
};
constants.thresholds.set(truth.thresholds);
constants.offset.set(truth.offset);
constants.relativeGain.set(truth.relativeGain);
constants.badPixels.set(truth.badPixels);
const raw = arena.uint16(train.data.length);
raw.set(train.data);
const cellId = arena.uint16(cells);
cellId.set(train.cellId);
const out = { data: arena.floats(pixels), gain: arena.uint8(pixels), mask: arena.uint32(pixels) };
const kernel = simdAvailable() ? SimdKernel.create(arena, P) : undefined;

// 1. A copy of the raw bytes (the memory-bandwidth yardstick).
const copy = new Uint16Array(raw.length);
const tCopy = best(() => copy.set(raw));

// 2. The kernels on this thread.
const tJs = best(() =>
  correctFrames(constants, raw, cellId, 0, cells, out, DEFAULT_CORRECTION, det.asics, 128),
);
const tSimd = kernel
  ? best(() =>
      correctFrames(constants, raw, cellId, 0, cells, out, DEFAULT_CORRECTION, det.asics, 128, kernel),
    )
  : Number.NaN;
const stages = [0, 0, 0];
for (const g of out.gain) stages[g]!++;

// 3. numpy, same inputs, same math.
const dir = mkdtempSync(join(tmpdir(), "sase-bench-correct-"));
let tNumpy = Number.NaN;
try {
  tNumpy = numpyCorrect(dir, det, constants, raw, cellId, DEFAULT_CORRECTION, repeat).seconds;
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// 4. `modules` modules, frames split over `workers` threads on the shared memory.
async function allCores(pool: FramePool): Promise<number> {
  pool.setConstants("m", constants, DEFAULT_CORRECTION, det);
  await pool.correct("m", raw, cellId, cells, out); // warm-up
  const t = await bestAsync(async () => {
    for (let m = 0; m < modules; m++) await pool.correct("m", raw, cellId, cells, out);
  });
  await pool.close();
  return t;
}
const tAllJs = await allCores(await FramePool.start(workers));
const tAllSimd = kernel ? await allCores(await FramePool.start(workers, arena)) : Number.NaN;

const rate = (n: number, s: number) => n / s / 1e6;
const need = (det.maxCells * det.nModules * P * det.trainRate) / 1e6;
const row = (label: string, r: number, extra = "") =>
  console.log(`${label.padEnd(44)}${r.toFixed(0).padStart(7)}${extra}`);
console.log(`gain stages of the frames: high ${stages[0]}, medium ${stages[1]}, low ${stages[2]}`);
console.log(`${"".padEnd(44)} Mpix/s`);
row("raw memcpy (1 core)", rate(pixels, tCopy));
row("numpy reference (1 core)", rate(pixels, tNumpy));
row("sase JS kernel, 1 module (1 core)", rate(pixels, tJs), `   ${(tNumpy / tJs).toFixed(1)}× numpy`);
row("sase SIMD kernel, 1 module (1 core)", rate(pixels, tSimd), `   ${(tNumpy / tSimd).toFixed(1)}× numpy`);
for (const [name, t] of [
  ["JS", tAllJs],
  ["SIMD", tAllSimd],
] as const) {
  const total = rate(modules * pixels, t);
  row(
    `sase ${name}, ${modules} modules on ${workers} threads`,
    total,
    `   ${(total / workers).toFixed(0)} per core`,
  );
}
const perCore = Math.max(rate(pixels, tSimd) || 0, rate(pixels, tJs));
const perCoreAll = Math.max(rate(modules * pixels, tAllSimd) || 0, rate(modules * pixels, tAllJs)) / workers;
console.log(
  `AGIPD-1M at ${det.trainRate} Hz = ${need.toFixed(0)} Mpix/s: ${Math.ceil(need / perCore)} cores at the best 1-core rate, ` +
    `${Math.ceil(need / perCoreAll)} at the best all-core rate per core`,
);
