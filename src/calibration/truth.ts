// Constants taken straight from a simulated sensor's truth: what a perfect characterisation would
// find. Used to check characterisation, in tests and in benchmarks.
import type { ModuleSensor } from "../detector/index.ts";
import type { ModuleConstants } from "./constants.ts";
import { allocConstants } from "./constants.ts";

/** Kernel-layout constants equal to a simulated sensor's true offsets, thresholds and gains. */
export function constantsFromSensor(sensor: ModuleSensor, cells: number, shared = false): ModuleConstants {
  const c = allocConstants(sensor.detector, cells, shared);
  const P = sensor.pixels;
  const G = sensor.stages;
  for (let cell = 0; cell < cells; cell++) {
    for (let g = 0; g < G; g++) {
      const base = (cell * G + g) * P;
      for (let p = 0; p < P; p++) {
        c.offset[base + p] = sensor.trueOffset(g, cell, p);
        c.relativeGain[base + p] = sensor.trueRelativeGain(g, cell, p);
      }
    }
    for (let g = 0; g < G - 1; g++) {
      const base = (cell * (G - 1) + g) * P;
      for (let p = 0; p < P; p++) {
        c.thresholds[base + p] = 0.5 * (sensor.digital[g * P + p]! + sensor.digital[(g + 1) * P + p]!);
      }
    }
  }
  return c;
}
