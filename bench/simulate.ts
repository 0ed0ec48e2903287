// Simulation cost of the AGIPD-1M: one train of every module (512×128 px, analog and digital planes)
// for several memory-cell counts, on one core, beside a plain copy of the same bytes into a fresh
// array (what producing the train costs at the least), all in this run.
//
//   npm run bench -- simulate            (16 modules, 1/4/16/64 cells)
//   CELLS=1,4,16,64,352 MODULES=16 TRAINS=3 npm run bench -- simulate
import { AGIPD_1M_DETECTOR, modulePixels, SimulatedDetector } from "../src/detector/index.ts";
import { loadAverage } from "./lib/stats.ts";

const cellCounts = (process.env.CELLS ?? "1,4,16,64").split(",").map(Number);
const modules = Number(process.env.MODULES ?? 16);
const trains = Number(process.env.TRAINS ?? 3);
const det = AGIPD_1M_DETECTOR;
const P = modulePixels(det);

/** Best time (ms) of `trains` runs of `fn`, each given its train number. */
function best(fn: (t: number) => void): number {
  let b = Number.POSITIVE_INFINITY;
  for (let t = 0; t < trains; t++) {
    const t0 = performance.now();
    fn(t);
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

console.log(`AGIPD-1M simulation: ${modules} modules × ${P} px, best of ${trains} trains, one core`);
console.log(`load average ${loadAverage()}`);
console.log("cells  photons ms/train  dark ms/train  copy ms/train  photons/copy  trains/s (one core)");
for (const cells of cellCounts) {
  const photons = new SimulatedDetector(det, { seed: 1, cells, modules });
  const dark = new SimulatedDetector(det, { seed: 1, cells, modules, dark: "high" });
  // Sensors and pools are built once per module at start; not part of the per-train cost.
  const t0 = performance.now();
  for (let m = 0; m < modules; m++) {
    photons.moduleTrain(m, 0n);
    dark.moduleTrain(m, 0n);
  }
  const setup = performance.now() - t0;
  const tPhotons = best((t) => {
    for (let m = 0; m < modules; m++) photons.moduleTrain(m, BigInt(1000 + t));
  });
  const tDark = best((t) => {
    for (let m = 0; m < modules; m++) dark.moduleTrain(m, BigInt(1000 + t));
  });
  const src = new Uint16Array(cells * 2 * P).fill(7);
  const tCopy = best(() => {
    for (let m = 0; m < modules; m++) new Uint16Array(src.length).set(src);
  });
  console.log(
    `${String(cells).padStart(5)}  ${tPhotons.toFixed(1).padStart(16)}  ${tDark.toFixed(1).padStart(13)}  ${tCopy
      .toFixed(1)
      .padStart(13)}  ${(tPhotons / tCopy).toFixed(1).padStart(12)}  ${(1000 / tPhotons)
      .toFixed(1)
      .padStart(19)}   (first train incl. setup ${setup.toFixed(0)} ms)`,
  );
}
const mem = process.memoryUsage();
console.log(
  `memory: rss ${(mem.rss / 2 ** 20).toFixed(0)} MB, array buffers ${(mem.arrayBuffers / 2 ** 20).toFixed(0)} MB`,
);
console.log(`load average ${loadAverage()}`);
