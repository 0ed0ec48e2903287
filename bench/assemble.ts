// Assembly of a full AGIPD-1M frame (16 modules × 512 × 128 float32) into the 2D image, the step the
// live view runs on every train. Baseline: a plain copy of the same pixels (Float32Array.set, which is
// memcpy). Beside it: the stack assembler (WebAssembly SIMD 4 × 4 transposes, stack and image in its
// memory; what the assembler device and the GUI run) and the per-pixel gather through the index map
// (DetectorGeometry.assemble, what assembly was before).
import { DetectorGeometry } from "../src/detector/index.ts";

const frames = Number(process.env.BENCH_FRAMES ?? 200);
const geom = DetectorGeometry.agipd1mFromQuadPositions();
const modules = new Float32Array(16 * 512 * 128).map((_, i) => (i * 7919) % 100_003);
const gathered = geom.assemble(modules);
const copy = new Float32Array(modules.length);
const fast = geom.snapped().createStackAssembler();
fast.stack.set(modules);
const kept = new Float32Array(gathered.length);

function time(fn: () => void): number {
  for (let i = 0; i < 10; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < frames; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / frames;
}

// Interleaved rounds, best of each: the machine is shared, so a slow round says little.
const best = { simd: Infinity, simdKeep: Infinity, gather: Infinity, copy: Infinity };
for (let round = 0; round < 5; round++) {
  best.copy = Math.min(
    best.copy,
    time(() => copy.set(modules)),
  );
  best.simd = Math.min(
    best.simd,
    time(() => fast.assemble()),
  );
  best.simdKeep = Math.min(
    best.simdKeep,
    time(() => kept.set(fast.assemble())),
  );
  best.gather = Math.min(
    best.gather,
    time(() => geom.assemble(modules, gathered)),
  );
}
const image = fast.assemble();
for (let i = 0; i < image.length; i++) {
  if (!Object.is(image[i], gathered[i])) throw new Error(`pixel ${i}: ${image[i]} vs gather ${gathered[i]}`);
}
const mpix = modules.length / 1e6;
const row = (name: string, ms: number) =>
  console.log(
    `${name.padEnd(44)} ${ms.toFixed(3)} ms/frame ${(mpix / (ms / 1e3)).toFixed(0).padStart(6)} Mpix/s  ${(ms / best.copy).toFixed(1).padStart(5)}× copy`,
  );
console.log(
  `AGIPD-1M frame: ${modules.length} px (${((modules.length * 4) / 1e6).toFixed(1)} MB float32) → image ${geom.assembledShape.join(" × ")}; best of 5 rounds of ${frames}; SIMD ${fast.usesSimd}`,
);
row("stack assembler (WASM SIMD transpose)", best.simd);
row("stack assembler + copy of the image out", best.simdKeep);
row("per-pixel gather via index map (before)", best.gather);
row("baseline: plain copy, Float32Array.set", best.copy);
console.log(
  `assemble / copy: ${(best.simd / best.copy).toFixed(1)}× the time of a plain copy of the same pixels`,
);
console.log(
  `memory: rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB; stack assembler ${((fast.stack.byteLength + fast.image.byteLength) / 2 ** 20).toFixed(1)} MiB, index map ${(geom.snapped().destination.byteLength / 2 ** 20).toFixed(1)} MiB`,
);
