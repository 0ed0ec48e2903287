// AGIPD correction throughput: the TypeScript kernel on one core and on all cores (worker threads on
// shared memory), beside numpy doing the same math (bench/correct_reference.py, one core) and a plain
// copy of the same raw bytes, all in this run.
//
//   npm run bench -- correct            (352 cells, 16 modules, every core)
//   CELLS=64 MODULES=4 WORKERS=2 npm run bench -- correct
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import {
  constantsFromSensor,
  correctFrames,
  DEFAULT_CORRECTION,
  FramePool,
  shareConstants,
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

const mpix = (n: number, s: number) => (n / s / 1e6).toFixed(0).padStart(6);

console.log(`AGIPD correction: ${cells} cells × ${P} px per module, best of ${repeat}`);
const sim = new SimulatedDetector(det, { seed: 1, cells, modules: 1 });
const train = sim.moduleTrain(0, 1n);
const constants = shareConstants(constantsFromSensor(sim.sensors[0]!, cells));
const share = <T extends Uint16Array | Float32Array | Uint8Array | Uint32Array>(
  a: T,
  Ctor: new (b: SharedArrayBuffer) => T,
): T => {
  const s = new Ctor(new SharedArrayBuffer(a.byteLength));
  s.set(a as never);
  return s;
};
const raw = share(train.data, Uint16Array);
const cellId = share(train.cellId, Uint16Array);
const out = {
  data: new Float32Array(new SharedArrayBuffer(pixels * 4)),
  gain: new Uint8Array(new SharedArrayBuffer(pixels)),
  mask: new Uint32Array(new SharedArrayBuffer(pixels * 4)),
};
let stages = [0, 0, 0];

// 1. A copy of the raw bytes (the memory-bandwidth yardstick).
const copy = new Uint16Array(raw.length);
const tCopy = best(() => copy.set(raw));

// 2. The kernel on this thread.
const tOne = best(() =>
  correctFrames(constants, raw, cellId, 0, cells, out, DEFAULT_CORRECTION, det.asics, 128),
);
stages = [0, 0, 0];
for (const g of out.gain) stages[g]!++;

// 3. numpy, same inputs, same math.
const dir = mkdtempSync(join(tmpdir(), "sase-bench-correct-"));
let tNumpy = Number.NaN;
try {
  tNumpy = numpyCorrect(dir, det, constants, raw, cellId, DEFAULT_CORRECTION, repeat).seconds;
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// 4. `modules` modules, frames split over `workers` threads on shared memory.
const pool = await FramePool.start(workers);
pool.setConstants("m", constants, DEFAULT_CORRECTION, det);
await pool.correct("m", raw, cellId, cells, out); // warm-up
const tAll = await bestAsync(async () => {
  for (let m = 0; m < modules; m++) await pool.correct("m", raw, cellId, cells, out);
});
await pool.close();

const perCoreAll = (modules * pixels) / tAll / workers / 1e6;
const need = (det.maxCells * det.nModules * P * det.trainRate) / 1e6;
console.log(`gain stages of the frames: high ${stages[0]}, medium ${stages[1]}, low ${stages[2]}`);
console.log(`                                     Mpix/s`);
console.log(`raw memcpy (1 core)                  ${mpix(pixels, tCopy)}`);
console.log(`numpy reference (1 core)             ${mpix(pixels, tNumpy)}`);
console.log(
  `sase kernel, 1 module (1 core)       ${mpix(pixels, tOne)}   ${(tNumpy / tOne).toFixed(1)}× numpy`,
);
console.log(
  `sase, ${modules} modules on ${workers} threads    ${mpix(modules * pixels, tAll)}   (${perCoreAll.toFixed(0)} per core)`,
);
console.log(
  `AGIPD-1M at ${det.trainRate} Hz needs ${need.toFixed(0)} Mpix/s: ${Math.ceil(need / (pixels / tOne / 1e6))} cores at the 1-core rate, ` +
    `${Math.ceil(need / perCoreAll)} at the measured all-core rate per core`,
);
