// Nodes that look across trains: correlation of a figure of merit with a device property, 1D and 2D
// binning, histograms and running statistics. Each keeps its state in typed arrays sized once from its
// parameters, so a long run costs no more per train than a short one; reset clears the state.
import type { NodeKind } from "./node.ts";
import type { ImageValue, PortValue, VectorValue } from "./types.ts";
import { isImage, isVector } from "./types.ts";

/** Bin centres of `bins` equal bins over [min, max]. */
function centres(min: number, max: number, bins: number): Float64Array {
  return Float64Array.from({ length: bins }, (_, b) => min + ((b + 0.5) * (max - min)) / bins);
}

/** numpy-histogram bin of v over [min, max] (the last bin closed), or -1 outside. */
export function binOf(v: number, min: number, max: number, bins: number): number {
  if (!(v >= min && v <= max)) return -1;
  const b = Math.floor((v - min) * (bins / (max - min)));
  return b >= bins ? bins - 1 : b;
}

export const correlationNode: NodeKind = {
  kind: "correlation",
  group: "trains",
  doc: "Correlation: a figure of merit (y) against a device property or another figure (x), per train",
  inputs: {
    x: { type: "scalar", doc: "x of each point (e.g. motor position)" },
    y: { type: "scalar", doc: "y of each point (e.g. ROI sum)" },
  },
  outputs: { points: "vector" },
  params: { points: { type: "integer", default: 1000, min: 1, max: 1_000_000, doc: "Latest points kept" } },
  accumulates: true,
  create(p) {
    const cap = p.points as number;
    const xs = new Float64Array(cap);
    const ys = new Float64Array(cap);
    let n = 0;
    return {
      reset() {
        n = 0;
      },
      run(inputs) {
        // Oldest first: shift when full (a copyWithin per train is cheap next to an image pass).
        if (n === cap) {
          xs.copyWithin(0, 1);
          ys.copyWithin(0, 1);
          n--;
        }
        xs[n] = inputs.x as number;
        ys[n] = inputs.y as number;
        n++;
        return { points: { x: xs.slice(0, n), y: ys.slice(0, n) } };
      },
    };
  },
};

export const bin1dNode: NodeKind = {
  kind: "bin1d",
  group: "trains",
  doc: "1D binning: mean of y in bins of x (e.g. a figure of merit against motor position)",
  inputs: { x: { type: "scalar", doc: "Value binned" }, y: { type: "scalar", doc: "Value averaged" } },
  outputs: { mean: "vector", counts: "vector" },
  params: {
    min: { type: "number", default: 0, doc: "Lower edge of the first bin" },
    max: { type: "number", default: 1, doc: "Upper edge of the last bin" },
    bins: { type: "integer", default: 20, min: 1, max: 100000, doc: "Number of bins" },
  },
  accumulates: true,
  create(p) {
    const [min, max, bins] = [p.min, p.max, p.bins] as number[];
    const x = centres(min!, max!, bins!);
    const sum = new Float64Array(bins!);
    const cnt = new Float64Array(bins!);
    return {
      reset() {
        sum.fill(0);
        cnt.fill(0);
      },
      run(inputs) {
        const b = binOf(inputs.x as number, min!, max!, bins!);
        const y = inputs.y as number;
        if (b >= 0 && !Number.isNaN(y)) {
          sum[b]! += y;
          cnt[b]! += 1;
        }
        const mean = Float64Array.from(sum, (s, i) => (cnt[i] ? s / cnt[i]! : Number.NaN));
        return { mean: { x, y: mean }, counts: { x, y: cnt.slice() } };
      },
    };
  },
};

export const bin2dNode: NodeKind = {
  kind: "bin2d",
  group: "trains",
  doc: "2D binning: mean of z in bins of x and y (a map over two scan axes)",
  inputs: {
    x: { type: "scalar", doc: "First axis" },
    y: { type: "scalar", doc: "Second axis" },
    z: { type: "scalar", doc: "Value averaged" },
  },
  outputs: { mean: "image", counts: "image" },
  params: {
    xMin: { type: "number", default: 0, doc: "x: lower edge" },
    xMax: { type: "number", default: 1, doc: "x: upper edge" },
    xBins: { type: "integer", default: 20, min: 1, max: 4096, doc: "x: bins (image columns)" },
    yMin: { type: "number", default: 0, doc: "y: lower edge" },
    yMax: { type: "number", default: 1, doc: "y: upper edge" },
    yBins: { type: "integer", default: 20, min: 1, max: 4096, doc: "y: bins (image rows)" },
  },
  accumulates: true,
  create(p) {
    const [xMin, xMax, xBins, yMin, yMax, yBins] = [
      p.xMin,
      p.xMax,
      p.xBins,
      p.yMin,
      p.yMax,
      p.yBins,
    ] as number[];
    const sum = new Float64Array(xBins! * yBins!);
    const cnt = new Float32Array(xBins! * yBins!);
    return {
      reset() {
        sum.fill(0);
        cnt.fill(0);
      },
      run(inputs) {
        const bx = binOf(inputs.x as number, xMin!, xMax!, xBins!);
        const by = binOf(inputs.y as number, yMin!, yMax!, yBins!);
        const z = inputs.z as number;
        if (bx >= 0 && by >= 0 && !Number.isNaN(z)) {
          sum[by * xBins! + bx]! += z;
          cnt[by * xBins! + bx]! += 1;
        }
        const mean = Float32Array.from(sum, (s, i) => (cnt[i] ? s / cnt[i]! : Number.NaN));
        const image = (data: Float32Array): ImageValue => ({ width: xBins!, height: yBins!, data });
        return { mean: image(mean), counts: image(cnt.slice()) };
      },
    };
  },
};

/** Calls `f` for every finite value of a scalar, vector (its y) or image. */
function eachValue(v: PortValue, f: (x: number) => void): void {
  if (typeof v === "number") {
    if (!Number.isNaN(v)) f(v);
    return;
  }
  const d = isImage(v) ? v.data : isVector(v) ? v.y : null;
  if (!d) return;
  for (let i = 0; i < d.length; i++) {
    const x = d[i]!;
    if (!Number.isNaN(x)) f(x);
  }
}

export const histogramNode: NodeKind = {
  kind: "histogram",
  group: "trains",
  doc: "Histogram of a figure of merit over trains, or of a curve's or image's values per train",
  inputs: { value: { type: ["scalar", "vector", "image"], doc: "Values counted" } },
  outputs: { counts: "vector" },
  params: {
    min: { type: "number", default: 0, doc: "Lower edge of the first bin" },
    max: { type: "number", default: 1000, doc: "Upper edge of the last bin" },
    bins: { type: "integer", default: 100, min: 1, max: 100000, doc: "Number of bins" },
    accumulate: {
      type: "boolean",
      default: true,
      doc: "Count over all trains since reset (off: each train's curve or image alone)",
    },
  },
  accumulates: true,
  create(p) {
    const [min, max, bins] = [p.min, p.max, p.bins] as number[];
    const x = centres(min!, max!, bins!);
    const counts = new Float64Array(bins!);
    const norm = bins! / (max! - min!);
    return {
      reset() {
        counts.fill(0);
      },
      run(inputs) {
        if (!p.accumulate) counts.fill(0);
        eachValue(inputs.value!, (v) => {
          if (v >= min! && v <= max!) {
            const b = Math.floor((v - min!) * norm);
            counts[b >= bins! ? bins! - 1 : b]! += 1;
          }
        });
        const out: VectorValue = { x, y: counts.slice() };
        return { counts: out };
      },
    };
  },
};

export const statisticsNode: NodeKind = {
  kind: "statistics",
  group: "trains",
  doc: "Running statistics of a figure of merit over the last N trains: mean, standard deviation, min, max",
  inputs: { value: { type: "scalar", doc: "Figure of merit" } },
  outputs: { mean: "scalar", std: "scalar", min: "scalar", max: "scalar", history: "vector" },
  params: { trains: { type: "integer", default: 10, min: 1, max: 100000, doc: "Trains in the window" } },
  accumulates: true,
  create(p) {
    const cap = p.trains as number;
    const ring = new Float64Array(cap);
    let seen = 0;
    return {
      reset() {
        seen = 0;
      },
      run(inputs) {
        const v = inputs.value as number;
        if (Number.isNaN(v)) return null;
        ring[seen % cap] = v;
        seen++;
        const n = Math.min(seen, cap);
        // Oldest first, so the history plots left to right.
        const history = new Float64Array(n);
        for (let i = 0; i < n; i++) history[i] = ring[(seen - n + i) % cap]!;
        let sum = 0;
        let min = Number.POSITIVE_INFINITY;
        let max = Number.NEGATIVE_INFINITY;
        for (const x of history) {
          sum += x;
          if (x < min) min = x;
          if (x > max) max = x;
        }
        const mean = sum / n;
        let ss = 0;
        for (const x of history) ss += (x - mean) ** 2;
        const idx = Float64Array.from(history, (_, i) => i - n + 1);
        return { mean, std: Math.sqrt(ss / n), min, max, history: { x: idx, y: history } };
      },
    };
  },
};
