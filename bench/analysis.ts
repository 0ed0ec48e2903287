// Azimuthal integration of an assembled AGIPD-1M frame (1256 × 1092) into 512 q bins: frames per second
// on one core, beside numpy (np.bincount with bin indices computed once, Debian's python) on the same
// frame in the same run (the SIMD kernel and the scalar fallback). Then the live graph (mask, ROI,
// azimuthal integration, correlation) per train.
// BENCH_FRAMES (default 200) sets how many frames are timed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type AnalysisTrain,
  AzimuthalIntegrator,
  assembleImage,
  GRAPH_FORMAT,
  GraphRunner,
  imageGeometry,
} from "../src/analysis/index.ts";
import { DetectorGeometry } from "../src/detector/index.ts";

const frames = Number(process.env.BENCH_FRAMES ?? 200);
const BINS = 512;
const ENERGY = 9.3;
const DISTANCE = 0.2;
const geometry = DetectorGeometry.agipd1mFromQuadPositions();
// A frame with rings, so every bin sees varied values.
const stack = new Float32Array(16 * 512 * 128);
const pos = geometry.pixelPositions();
for (let i = 0; i < stack.length; i++) {
  const r = Math.hypot(pos[3 * i]!, pos[3 * i + 1]!) / 2e-4;
  stack[i] = 100 + 50 * Math.cos(r / 7) + (i % 13);
}
const image = assembleImage(geometry, stack);
const geo = imageGeometry(geometry);
const integ = new AzimuthalIntegrator({
  width: image.width,
  height: image.height,
  geometry: geo,
  distance: DISTANCE,
  energy: ENERGY,
  bins: BINS,
});

/** ms per call: the best of 5 chunks of n/5 calls (this machine is shared; the minimum is the cost). */
function time(fn: () => void, n = frames): number {
  for (let i = 0; i < 10; i++) fn();
  const chunk = Math.max(1, Math.round(n / 5));
  let best = Number.POSITIVE_INFINITY;
  for (let c = 0; c < 5; c++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < chunk; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6 / chunk);
  }
  return best;
}

const scalar = new AzimuthalIntegrator({ ...integ.setup, simd: false });
const out = new Float64Array(BINS);
const tScalar = time(() => scalar.integrate(image.data, out));
const tJs = time(() => integ.integrate(image.data, out));

const dir = mkdtempSync(join(tmpdir(), "sase-bench-analysis-"));
const framePath = join(dir, "frame.f32");
writeFileSync(framePath, Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength));
const py = spawnSync(
  "/usr/bin/python3",
  [
    join(import.meta.dirname, "analysis_numpy.py"),
    framePath,
    String(image.width),
    String(image.height),
    String(geo.centre[0]),
    String(geo.centre[1]),
    String(geo.pixelSize),
    String(DISTANCE),
    String(ENERGY),
    String(BINS),
    String(frames),
  ],
  { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" } },
);
rmSync(dir, { recursive: true, force: true });
if (py.status !== 0) throw new Error(`numpy baseline failed: ${py.stderr}`);
const np = JSON.parse(py.stdout) as { gather: number; full: number; gather_first: number };
const agree = Math.abs(np.gather_first - out[BINS / 2]!) / Math.abs(np.gather_first);
const best = Math.min(np.gather, np.full);

const fps = (ms: number) => (1e3 / ms).toFixed(0).padStart(5);
console.log(
  `AGIPD-1M assembled ${image.height} × ${image.width} (${integ.pixels} covered pixels) → ${BINS} q bins, one core`,
);
console.log(
  `sase AzimuthalIntegrator${integ.simd ? " (SIMD)" : "       "} ${tJs.toFixed(2).padStart(6)} ms/frame ${fps(tJs)} frames/s`,
);
console.log(
  `sase, scalar JavaScript path   ${tScalar.toFixed(2).padStart(6)} ms/frame ${fps(tScalar)} frames/s`,
);
console.log(
  `numpy bincount, gathered pixels ${np.gather.toFixed(2).padStart(6)} ms/frame ${fps(np.gather)} frames/s`,
);
console.log(
  `numpy bincount, whole image     ${np.full.toFixed(2).padStart(6)} ms/frame ${fps(np.full)} frames/s`,
);
console.log(
  `sase / best numpy: ${(best / tJs).toFixed(2)}× the frames per core (goal ≥ 3×); I(q) mid-bin agrees to ${agree.toExponential(1)}`,
);

// The live graph on the same frames.
const doc = {
  format: GRAPH_FORMAT,
  version: 1,
  proposal: 1,
  name: "bench",
  revision: 0,
  nodes: [
    { id: "det", kind: "detector" },
    { id: "motor", kind: "property", params: { device: "MOTOR", key: "position" } },
    {
      id: "mask",
      kind: "mask",
      params: { low: 0, shapes: [{ type: "rect", x: 500, y: 560, w: 90, h: 120 }] },
      inputs: { image: "det.image" },
    },
    { id: "roi", kind: "roi", params: { x: 600, y: 300, w: 200, h: 200 }, inputs: { image: "mask.image" } },
    { id: "az", kind: "azimuthal", params: { bins: BINS }, inputs: { image: "mask.image" } },
    { id: "corr", kind: "correlation", inputs: { x: "motor.value", y: "roi.sum" } },
  ],
};
const runner = await GraphRunner.create(doc);
let trainId = 0;
const train = (): AnalysisTrain => ({
  trainId: ++trainId,
  image,
  geometry: geo,
  pulseEnergy: new Float64Array(0),
  property: () => trainId * 0.01,
});
const tGraph = time(() => runner.process(train()), Math.min(frames, 100));
const perNode = runner
  .stats()
  .map((s) => `${s.id} ${s.meanMs.toFixed(2)}`)
  .join(", ");
console.log(
  `live graph (mask, ROI, azimuthal, correlation): ${tGraph.toFixed(2)} ms/train, ${(1e3 / tGraph).toFixed(0)} trains/s on one core (10 Hz needs 100 ms); per node ms: ${perNode}`,
);
const mem = process.memoryUsage();
console.log(
  `memory: rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`,
);
