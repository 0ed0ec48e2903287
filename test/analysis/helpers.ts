// Small trains and graph documents for the analysis tests.
import { type AnalysisTrain, GRAPH_FORMAT, type GraphNodeDoc } from "../../src/analysis/index.ts";

/** A graph document around `nodes`. */
export function graphDoc(nodes: GraphNodeDoc[], name = "test") {
  return { format: GRAPH_FORMAT, version: 1, proposal: 900001, name, revision: 0, nodes };
}

const GEOMETRY = { centre: [8, 8] as const, pixelSize: 2e-4 };

/** A train with a `width`×`height` image from `f(x, y)`, device properties and pulse energies. */
export function makeTrain(
  trainId: number,
  f: (x: number, y: number) => number,
  props: Record<string, number> = {},
  pulses: number[] = [],
  [width, height] = [16, 16],
): AnalysisTrain {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return {
    trainId,
    image: { width, height, data },
    geometry: GEOMETRY,
    pulseEnergy: Float64Array.from(pulses),
    property: (device, key) => props[`${device}.${key}`],
  };
}
