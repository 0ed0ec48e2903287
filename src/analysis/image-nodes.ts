// Nodes on the assembled image: masks, background subtraction, regions of interest and hit finding.
// A masked pixel becomes NaN, which every later node already skips (as it skips module gaps), so a mask
// needs no separate port.
import type { NodeKind } from "./node.ts";
import type { Shape } from "./params.ts";
import type { ImageValue, VectorValue } from "./types.ts";

/** Marks (sets to 1) the pixels of a `width`×`height` image whose centres lie inside `shape`. */
export function rasterise(shape: Shape, width: number, height: number, out: Uint8Array): void {
  if (shape.type === "rect") {
    const x0 = Math.max(0, Math.round(shape.x));
    const y0 = Math.max(0, Math.round(shape.y));
    const x1 = Math.min(width, Math.round(shape.x + shape.w));
    const y1 = Math.min(height, Math.round(shape.y + shape.h));
    for (let y = y0; y < y1; y++) out.fill(1, y * width + x0, y * width + Math.max(x0, x1));
    return;
  }
  if (shape.type === "circle") {
    const { x, y: cy0, r } = shape;
    const y0 = Math.max(0, Math.floor(cy0 - r));
    const y1 = Math.min(height, Math.ceil(cy0 + r));
    for (let y = y0; y < y1; y++) {
      const dy = y + 0.5 - cy0;
      if (dy * dy > r * r) continue;
      // Pixel centres within the chord of this row: |x + 0.5 − cx| ≤ half.
      const half = Math.sqrt(r * r - dy * dy);
      const xa = Math.max(0, Math.ceil(x - half - 0.5));
      const xb = Math.min(width, Math.floor(x + half - 0.5) + 1);
      if (xb > xa) out.fill(1, y * width + xa, y * width + xb);
    }
    return;
  }
  const pts = shape.points;
  const ys = pts.map((p) => p[1]);
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(height, Math.ceil(Math.max(...ys)));
  // Even-odd scanline fill at pixel centres: the crossings of each row with the polygon's edges.
  const xs: number[] = [];
  for (let y = y0; y < y1; y++) {
    const cy = y + 0.5;
    xs.length = 0;
    for (let i = 0; i < pts.length; i++) {
      const [ax, ay] = pts[i]!;
      const [bx, by] = pts[(i + 1) % pts.length]!;
      if (ay <= cy !== by <= cy) xs.push(ax + ((cy - ay) / (by - ay)) * (bx - ax));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const xa = Math.max(0, Math.ceil(xs[k]! - 0.5));
      const xb = Math.min(width, Math.floor(xs[k + 1]! - 0.5) + 1);
      if (xb > xa) out.fill(1, y * width + xa, y * width + xb);
    }
  }
}

export const maskNode: NodeKind = {
  kind: "mask",
  group: "image",
  doc: "Masks pixels: drawn shapes, the detector's bad pixels, values outside a range",
  inputs: { image: { type: "image", doc: "Image to mask" } },
  outputs: { image: "image" },
  params: {
    shapes: {
      type: "shapes",
      default: [],
      doc: "Rectangles, circles and polygons to mask (drawn on the image)",
    },
    keepInside: { type: "boolean", default: false, doc: "Mask everything outside the shapes instead" },
    badPixels: { type: "boolean", default: true, doc: "Mask the pixels the calibration flags as bad" },
    low: { type: "number", default: -1e30, doc: "Mask pixels below this value" },
    high: { type: "number", default: 1e30, doc: "Mask pixels above this value" },
  },
  accumulates: false,
  create(p) {
    const shapes = p.shapes as readonly Shape[];
    const keepInside = p.keepInside as boolean;
    const low = p.low as number;
    const high = p.high as number;
    // The drawn mask as runs of pixels along rows (start, end pairs), built once per image size: a
    // train is then a copy, NaN filled over each run (drawn shapes are large areas, so runs are few),
    // and a value-range pass only when a range is set.
    let runs: Int32Array = new Int32Array(0);
    let size = "";
    const ranged = low > -1e30 || high < 1e30;
    return {
      run(inputs, train) {
        const img = inputs.image as ImageValue;
        const { width, height } = img;
        if (size !== `${width}x${height}`) {
          size = `${width}x${height}`;
          const m = new Uint8Array(width * height);
          for (const s of shapes) rasterise(s, width, height, m);
          const masked = keepInside ? 0 : 1;
          const list: number[] = [];
          for (let i = 0; i < m.length; i++) {
            // A run ends at its row's end too, so fills never wrap.
            if (m[i] === masked && (i % width === 0 || m[i - 1] !== masked)) list.push(i);
            if (m[i] === masked && ((i + 1) % width === 0 || m[i + 1] !== masked)) list.push(i + 1);
          }
          runs = Int32Array.from(list);
        }
        const data = img.data.slice();
        if (ranged) {
          for (let i = 0; i < data.length; i++) {
            const v = data[i]!;
            if (v < low || v > high) data[i] = Number.NaN;
          }
        }
        for (let k = 0; k < runs.length; k += 2) data.fill(Number.NaN, runs[k]!, runs[k + 1]!);
        const bad = p.badPixels && train.badPixels?.length === data.length ? train.badPixels : null;
        if (bad) for (let i = 0; i < bad.length; i++) if (bad[i]) data[i] = Number.NaN;
        return { image: { width, height, data } };
      },
    };
  },
};

export const backgroundNode: NodeKind = {
  kind: "background",
  group: "image",
  doc: "Subtracts a dark/background image: the mean of the first N trains, and a constant offset",
  inputs: { image: { type: "image", doc: "Image to correct" } },
  outputs: { image: "image", background: "image" },
  params: {
    trains: {
      type: "integer",
      default: 0,
      min: 0,
      max: 10000,
      doc: "Trains averaged into the background (0: only the offset); reset records it again",
    },
    offset: { type: "number", default: 0, doc: "Constant subtracted from every pixel" },
  },
  accumulates: true,
  create(p) {
    const want = p.trains as number;
    const offset = p.offset as number;
    let sum: Float64Array | null = null;
    let seen = 0;
    let background: Float32Array | null = null;
    return {
      reset() {
        sum = null;
        seen = 0;
        background = null;
      },
      run(inputs) {
        const img = inputs.image as ImageValue;
        const src = img.data;
        if (want > 0 && !background) {
          // Recording: nothing to show until the background is complete.
          if (!sum || sum.length !== src.length) {
            sum = new Float64Array(src.length);
            seen = 0;
          }
          for (let i = 0; i < src.length; i++) sum[i] += src[i]!;
          if (++seen < want) return null;
          background = new Float32Array(src.length);
          for (let i = 0; i < src.length; i++) background[i] = sum[i]! / want + offset;
          sum = null;
        }
        const data = new Float32Array(src.length);
        if (background && background.length === src.length) {
          for (let i = 0; i < src.length; i++) data[i] = src[i]! - background[i]!;
        } else {
          for (let i = 0; i < src.length; i++) data[i] = src[i]! - offset;
        }
        const out = { width: img.width, height: img.height, data };
        const bg = background ?? new Float32Array(src.length).fill(offset);
        return { image: out, background: { width: img.width, height: img.height, data: bg } };
      },
    };
  },
};

export const roiNode: NodeKind = {
  kind: "roi",
  group: "image",
  doc: "A rectangular region of interest: sum, mean and projections of its finite pixels",
  inputs: { image: { type: "image", doc: "Image the region lies on" } },
  outputs: { sum: "scalar", mean: "scalar", projX: "vector", projY: "vector" },
  params: {
    x: { type: "integer", default: 0, min: 0, doc: "Left column" },
    y: { type: "integer", default: 0, min: 0, doc: "Top row" },
    w: { type: "integer", default: 100, min: 1, doc: "Width, pixels" },
    h: { type: "integer", default: 100, min: 1, doc: "Height, pixels" },
  },
  accumulates: false,
  create(p) {
    const [rx, ry, rw, rh] = [p.x, p.y, p.w, p.h] as number[];
    return {
      run(inputs) {
        const img = inputs.image as ImageValue;
        const x0 = Math.min(rx!, img.width);
        const y0 = Math.min(ry!, img.height);
        const x1 = Math.min(rx! + rw!, img.width);
        const y1 = Math.min(ry! + rh!, img.height);
        const px = new Float64Array(x1 - x0);
        const py = new Float64Array(y1 - y0);
        let sum = 0;
        let n = 0;
        const d = img.data;
        for (let y = y0; y < y1; y++) {
          let row = 0;
          const o = y * img.width;
          for (let x = x0; x < x1; x++) {
            const v = d[o + x]!;
            if (!Number.isNaN(v)) {
              row += v;
              px[x - x0] += v;
              n++;
            }
          }
          py[y - y0] = row;
          sum += row;
        }
        const projX: VectorValue = { x: Float64Array.from(px, (_, i) => x0 + i), y: px };
        const projY: VectorValue = { x: Float64Array.from(py, (_, i) => y0 + i), y: py };
        return { sum, mean: n ? sum / n : Number.NaN, projX, projY };
      },
    };
  },
};

export const hitsNode: NodeKind = {
  kind: "hits",
  group: "image",
  doc: "Hit finding: pixels above a threshold; the train is a hit when enough of them are",
  inputs: { image: { type: "image", doc: "Image to search" } },
  outputs: { pixels: "scalar", hit: "scalar", hitRate: "scalar" },
  params: {
    threshold: { type: "number", default: 100, doc: "Pixel value counted as lit" },
    minPixels: { type: "integer", default: 50, min: 1, doc: "Lit pixels that make a hit" },
    trains: { type: "integer", default: 100, min: 1, max: 100000, doc: "Trains the hit rate is taken over" },
  },
  accumulates: true,
  create(p) {
    const threshold = p.threshold as number;
    const minPixels = p.minPixels as number;
    const window = new Uint8Array(p.trains as number);
    let seen = 0;
    let hits = 0;
    return {
      reset() {
        window.fill(0);
        seen = 0;
        hits = 0;
      },
      run(inputs) {
        const d = (inputs.image as ImageValue).data;
        let lit = 0;
        for (let i = 0; i < d.length; i++) if (d[i]! > threshold) lit++;
        const hit = lit >= minPixels ? 1 : 0;
        const slot = seen % window.length;
        if (seen >= window.length) hits -= window[slot]!;
        window[slot] = hit;
        hits += hit;
        seen++;
        return { pixels: lit, hit, hitRate: hits / Math.min(seen, window.length) };
      },
    };
  },
};
