// Pump-probe: pulses of a train split into pumped (on) and unpumped (off) by a pulse pattern, as
// EXtra-foam does, with the difference and ratio of their means as figures of merit.
import type { NodeKind } from "./node.ts";
import type { VectorValue } from "./types.ts";

/** Indices of the on and off pulses of a train of `n` pulses for a pattern. */
export function pulsePattern(
  pattern: string,
  n: number,
  on: readonly number[],
  off: readonly number[],
): { on: number[]; off: number[] } {
  const all = Array.from({ length: n }, (_, i) => i);
  if (pattern === "even-odd")
    return { on: all.filter((i) => i % 2 === 0), off: all.filter((i) => i % 2 === 1) };
  if (pattern === "odd-even")
    return { on: all.filter((i) => i % 2 === 1), off: all.filter((i) => i % 2 === 0) };
  return { on: on.filter((i) => i < n), off: off.filter((i) => i < n) };
}

function meanAt(y: Float64Array, idx: readonly number[]): number {
  let s = 0;
  let k = 0;
  for (const i of idx) {
    const v = y[i]!;
    if (!Number.isNaN(v)) {
      s += v;
      k++;
    }
  }
  return k ? s / k : Number.NaN;
}

export const pumpProbeNode: NodeKind = {
  kind: "pumpProbe",
  group: "pulses",
  doc: "Pump-probe: mean of the on and off pulses by pattern (even/odd or lists), difference and ratio",
  inputs: { pulses: { type: "vector", doc: "One value per pulse (XGM energy, per-pulse figure of merit)" } },
  outputs: { on: "scalar", off: "scalar", difference: "scalar", ratio: "scalar" },
  params: {
    pattern: {
      type: "enum",
      default: "even-odd",
      options: ["even-odd", "odd-even", "lists"],
      doc: "even-odd: even pulses pumped; lists: the pulse indices below",
    },
    on: { type: "integers", default: [], doc: "Pumped pulse indices (pattern 'lists')" },
    off: { type: "integers", default: [], doc: "Unpumped pulse indices (pattern 'lists')" },
  },
  accumulates: false,
  create(p) {
    return {
      run(inputs) {
        const v = inputs.pulses as VectorValue;
        const sel = pulsePattern(p.pattern as string, v.y.length, p.on as number[], p.off as number[]);
        if (!sel.on.length || !sel.off.length) return null;
        const on = meanAt(v.y, sel.on);
        const off = meanAt(v.y, sel.off);
        return { on, off, difference: on - off, ratio: on / off };
      },
    };
  },
};
