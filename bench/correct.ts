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
  constantsInArena,
  SimdKernel,
  simdAvailable,
} from "../src/calibration/index.ts";
import {
  AGIPD_1M_DETECTOR,
  modulePixels,
  modulesNearestBeam,
  SimulatedDetector,
} from "../src/detector/index.ts";
import { numpyCorrect } from "../test/calibration/numpy-reference.ts";

const cells = Number(process.env.CELLS ?? 352);
const modules = Number(process.env.MODULES ?? 16);
const workers = Number(process.env.WORKERS ?? availableParallelism());
const repeat = Number(process.env.REPEAT ?? 3);
const det = AGIPD_1M_DETECTOR;
const P = modulePixels(det);
const pixels = cells * P;

/** Best wall time and best CPU time (all threads of this process) over `repeat` runs, seconds. */
interface Timing {
  wall: number;
  cpu: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function best(fn: () => void | Promise<void>): Promise<Timing> {
  const t: Timing = { wall: Number.POSITIVE_INFINITY, cpu: Number.POSITIVE_INFINITY };
  for (let i = 0; i < repeat; i++) {
    const w0 = performance.now();
    const c0 = cpuNow();
    await fn();
    t.wall = Math.min(t.wall, (performance.now() - w0) / 1000);
    t.cpu = Math.min(t.cpu, cpuNow() - c0);
  }
  return t;
}

console.log(`AGIPD correction: ${cells} cells × ${P} px per module, best of ${repeat}`);
// The module nearest the beam: its bright rings make pixels switch to medium and low gain, as in a
// real experiment, so every path of the kernels is timed.
const module = modulesNearestBeam(det)[0]!;
const sim = new SimulatedDetector(det, { seed: 1, cells, modules: module + 1 });
const train = sim.moduleTrain(module, 1n);
const truth = constantsFromSensor(sim.sensor(module), cells);
// Everything lives in one shared WebAssembly memory: the SIMD kernel addresses it directly, the
// JavaScript kernel and the worker threads see it as SharedArrayBuffer views.
const arena = new Arena(pixels * (11 * 4 + 4 + 9) + (1 << 20));
const constants = constantsInArena(arena, truth);
const raw = arena.uint16(train.data.length);
raw.set(train.data);
const cellId = arena.uint16(cells);
cellId.set(train.cellId);
const out = { data: arena.floats(pixels), gain: arena.uint8(pixels), mask: arena.uint32(pixels) };
const kernel = simdAvailable() ? SimdKernel.create(arena, P) : undefined;

// 1. A copy of the raw bytes (the memory-bandwidth yardstick).
const copy = new Uint16Array(raw.length);
const tCopy = await best(() => copy.set(raw));

// 2. The kernels on this thread.
const tJs = await best(() =>
  correctFrames(constants, raw, cellId, 0, cells, out, DEFAULT_CORRECTION, det.asics, 128),
);
const tSimd = kernel
  ? await best(() =>
      correctFrames(constants, raw, cellId, 0, cells, out, DEFAULT_CORRECTION, det.asics, 128, kernel),
    )
  : { wall: Number.NaN, cpu: Number.NaN };
const stages = [0, 0, 0];
for (const g of out.gain) stages[g]!++;

// 3. numpy, same inputs, same math.
const dir = mkdtempSync(join(tmpdir(), "sase-bench-correct-"));
let tNumpy: Timing = { wall: Number.NaN, cpu: Number.NaN };
try {
  const r = numpyCorrect(dir, det, constants, raw, cellId, DEFAULT_CORRECTION, repeat);
  tNumpy = { wall: r.seconds, cpu: r.cpuSeconds };
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// 4. `modules` modules, frames split over `workers` threads on the shared memory.
async function allCores(pool: FramePool): Promise<Timing> {
  pool.setConstants("m", constants, DEFAULT_CORRECTION, det);
  await pool.correct("m", raw, cellId, cells, out); // warm-up
  const t = await best(async () => {
    for (let m = 0; m < modules; m++) await pool.correct("m", raw, cellId, cells, out);
  });
  await pool.close();
  return t;
}
const tAllJs = await allCores(await FramePool.start(workers));
const tAllSimd = kernel
  ? await allCores(await FramePool.start(workers, arena))
  : { wall: Number.NaN, cpu: Number.NaN };

// Wall-clock rates, and rates per CPU-second (what one fully available core would do; a busy
// machine inflates wall time, not CPU time).
const mp = (n: number, s: number) => n / s / 1e6;
const need = (det.maxCells * det.nModules * P * det.trainRate) / 1e6;
const row = (label: string, n: number, t: Timing, base?: Timing) => {
  const vs = base ? `${(mp(n, t.cpu) / mp(pixels, base.cpu)).toFixed(1)}× numpy` : "";
  console.log(
    `${label.padEnd(40)}${mp(n, t.wall).toFixed(0).padStart(8)}${mp(n, t.cpu).toFixed(0).padStart(10)}   ${vs}`,
  );
};
console.log(`gain stages of the frames: high ${stages[0]}, medium ${stages[1]}, low ${stages[2]}`);
console.log(`${"".padEnd(40)}  Mpix/s  Mpix/s per core (per CPU-second; threads summed)`);
row("raw memcpy (1 core)", pixels, tCopy);
row("numpy reference (1 core)", pixels, tNumpy);
row("sase JS kernel, 1 module (1 core)", pixels, tJs, tNumpy);
row("sase SIMD kernel, 1 module (1 core)", pixels, tSimd, tNumpy);
row(`sase JS, ${modules} modules, ${workers} threads`, modules * pixels, tAllJs, tNumpy);
row(`sase SIMD, ${modules} modules, ${workers} threads`, modules * pixels, tAllSimd, tNumpy);
const perCore = Math.max(mp(pixels, tSimd.cpu) || 0, mp(pixels, tJs.cpu));
const perCoreAll = Math.max(mp(modules * pixels, tAllSimd.cpu) || 0, mp(modules * pixels, tAllJs.cpu));
console.log(
  `AGIPD-1M at ${det.trainRate} Hz = ${need.toFixed(0)} Mpix/s: ${Math.ceil(need / perCore)} cores at the best 1-core rate, ` +
    `${Math.ceil(need / perCoreAll)} at the best all-core rate (per CPU-second)`,
);
