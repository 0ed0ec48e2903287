// Assembly of a full AGIPD-1M frame (16 modules × 512 × 128 float32) into the 2D image, the step the
// live view runs on every train. Baseline: a plain copy of the same pixels (Float32Array.set).
import { DetectorGeometry } from "../src/detector/index.ts";

const frames = Number(process.env.BENCH_FRAMES ?? 200);
const geom = DetectorGeometry.agipd1mFromQuadPositions();
const modules = new Float32Array(16 * 512 * 128).map((_, i) => i % 1000);
const image = geom.assemble(modules);
const copy = new Float32Array(modules.length);

function time(fn: () => void): number {
  for (let i = 0; i < 10; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < frames; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / frames;
}

const tAssemble = time(() => geom.assemble(modules, image));
const tCopy = time(() => copy.set(modules));
const mpix = modules.length / 1e6;
console.log(
  `AGIPD-1M frame: ${modules.length} px (${((modules.length * 4) / 1e6).toFixed(1)} MB float32) → image ${geom.assembledShape.join(" × ")}`,
);
console.log(
  `assemble (snapped gather)   ${tAssemble.toFixed(2)} ms/frame  ${(mpix / (tAssemble / 1e3)).toFixed(0)} Mpix/s  ${(1e3 / tAssemble).toFixed(0)} frames/s`,
);
console.log(
  `baseline Float32Array.set   ${tCopy.toFixed(2)} ms/frame  ${(mpix / (tCopy / 1e3)).toFixed(0)} Mpix/s`,
);
console.log(`assemble / copy: ${(tAssemble / tCopy).toFixed(1)}× the time of a plain copy`);
