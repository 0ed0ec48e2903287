// Runs bench/correct_reference.py (numpy, Debian's /usr/bin/python3) on the same inputs as the
// TypeScript kernel: writes the arrays to a folder, runs the script, reads its outputs back.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CorrectionOptions, ModuleConstants } from "../../src/calibration/index.ts";
import type { DetectorDescription } from "../../src/detector/index.ts";

const SCRIPT = new URL("../../bench/correct_reference.py", import.meta.url).pathname;

function write(dir: string, name: string, a: ArrayBufferView): void {
  writeFileSync(join(dir, name), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** Outputs of the numpy reference, plus its best time in seconds. */
export interface ReferenceResult {
  data: Float32Array;
  gain: Uint8Array;
  mask: Uint32Array;
  seconds: number;
  /** CPU time of the best run (process time), seconds. */
  cpuSeconds: number;
}

/** Corrects `raw` with numpy in `dir`; `repeat` > 1 to time it. */
export function numpyCorrect(
  dir: string,
  det: DetectorDescription,
  c: ModuleConstants,
  raw: Uint16Array,
  cellId: Uint16Array,
  options: CorrectionOptions,
  repeat = 1,
): ReferenceResult {
  const frames = cellId.length;
  const meta = {
    frames,
    ss: det.moduleShape[0],
    fs: det.moduleShape[1],
    cells: c.cells,
    stages: c.stages,
    asics: det.asics,
    // JSON has no NaN: the masked value travels as a string that Python's float() reads.
    options: { ...options, maskedValue: options.maskedValue === null ? null : String(options.maskedValue) },
  };
  writeFileSync(join(dir, "meta.json"), JSON.stringify(meta));
  write(dir, "raw.u16", raw);
  write(dir, "cellid.u16", cellId);
  write(dir, "thresholds.f32", c.thresholds);
  write(dir, "offset.f32", c.offset);
  write(dir, "relgain.f32", c.relativeGain);
  write(dir, "badpix.u32", c.badPixels);
  const stdout = execFileSync("/usr/bin/python3", [SCRIPT, dir, "--repeat", String(repeat)], {
    encoding: "utf8",
  });
  const { seconds, cpu_seconds: cpuSeconds } = JSON.parse(stdout) as { seconds: number; cpu_seconds: number };
  const read = (name: string) => {
    const b = readFileSync(join(dir, name));
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  };
  return {
    data: new Float32Array(read("data.f32")),
    gain: new Uint8Array(read("gain.u8")),
    mask: new Uint32Array(read("mask.u32")),
    seconds,
    cpuSeconds,
  };
}
