// Figures for notebooks and reports: line, scatter and histogram plots drawn as SVG (text, so they
// show in Jupyter, in nbconvert's HTML and in a diff), and images as PNG with a colour bar.
import type { NDArray } from "../core/index.ts";
import { encodePng, viridis } from "./png.ts";
import { SaseError, showValue } from "../core/index.ts";

/** MIME type → content, as Jupyter's display messages carry it. */
export type MimeBundle = Record<string, string>;

/** Objects that know how to show themselves in a notebook. */
export const SASE_DISPLAY = Symbol.for("sase.display");

/** Something `display()` shows richly. */
export interface Displayable {
  [SASE_DISPLAY](): MimeBundle;
}

type Numbers = ArrayLike<number | bigint>;

/** One curve of a plot. */
export interface Series {
  x?: Numbers;
  y: Numbers;
  label?: string;
  /** "line" (default), "points" or "bars" (histograms). */
  style?: "line" | "points" | "bars";
}

export interface PlotOptions {
  title?: string;
  xlabel?: string;
  ylabel?: string;
  width?: number;
  height?: number;
}

const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(+v.toPrecision(4));
}

function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** A figure of one or more curves; shows as SVG. */
export class Figure implements Displayable {
  constructor(
    readonly series: Series[],
    readonly options: PlotOptions = {},
  ) {}

  /** The figure as an SVG document. */
  svg(): string {
    const W = this.options.width ?? 560;
    const H = this.options.height ?? 320;
    const m = { l: 64, r: 16, t: this.options.title ? 28 : 12, b: 44 };
    const pts = this.series.map((s) => {
      const y = Array.from(s.y, Number);
      const x = s.x ? Array.from(s.x, Number) : y.map((_, i) => i);
      return { s, x, y };
    });
    const all = (k: "x" | "y") => pts.flatMap((p) => p[k]).filter(Number.isFinite);
    const [xs, ys] = [all("x"), all("y")];
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (pts.some((p) => p.s.style === "bars")) y0 = Math.min(0, y0);
    if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
    if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
    const px = (v: number) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
    const py = (v: number) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
    const out: string[] = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
      `<rect width="${W}" height="${H}" fill="white"/>`,
    ];
    for (const t of ticks(x0, x1)) {
      out.push(
        `<line x1="${px(t)}" x2="${px(t)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`,
        `<text x="${px(t)}" y="${H - m.b + 14}" text-anchor="middle">${tickLabel(t)}</text>`,
      );
    }
    for (const t of ticks(y0, y1)) {
      out.push(
        `<line x1="${m.l}" x2="${W - m.r}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>`,
        `<text x="${m.l - 4}" y="${py(t) + 4}" text-anchor="end">${tickLabel(t)}</text>`,
      );
    }
    out.push(
      `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#444"/>`,
    );
    pts.forEach(({ s, x, y }, k) => {
      const c = COLOURS[k % COLOURS.length];
      if (s.style === "bars") {
        const w = x.length > 1 ? Math.abs(px(x[1] as number) - px(x[0] as number)) : 4;
        x.forEach((xv, i) => {
          const top = py(y[i] as number);
          out.push(
            `<rect x="${px(xv) - w / 2}" y="${top}" width="${Math.max(1, w - 1)}" height="${py(y0) - top}" fill="${c}"/>`,
          );
        });
      } else if (s.style === "points") {
        x.forEach((xv, i) => {
          if (Number.isFinite(y[i]))
            out.push(`<circle cx="${px(xv)}" cy="${py(y[i] as number)}" r="2.5" fill="${c}"/>`);
        });
      } else {
        const d = x
          .map((xv, i) =>
            Number.isFinite(y[i]) ? `${px(xv).toFixed(1)},${py(y[i] as number).toFixed(1)}` : "",
          )
          .filter(Boolean)
          .join(" ");
        out.push(`<polyline points="${d}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
      }
      if (s.label)
        out.push(
          `<text x="${W - m.r - 4}" y="${m.t + 14 + k * 14}" text-anchor="end" fill="${c}">${esc(s.label)}</text>`,
        );
    });
    const o = this.options;
    if (o.title)
      out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(o.title)}</text>`);
    if (o.xlabel)
      out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">${esc(o.xlabel)}</text>`);
    if (o.ylabel)
      out.push(
        `<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.ylabel)}</text>`,
      );
    out.push("</svg>");
    return out.join("");
  }

  [SASE_DISPLAY](): MimeBundle {
    return {
      "image/svg+xml": this.svg(),
      "text/plain": `<Figure ${this.options.title ?? ""}: ${this.series.length} series>`,
    };
  }
}

/** A line plot of y (against x, or the index). */
export function plot(y: Numbers, options: PlotOptions & { x?: Numbers; label?: string } = {}): Figure {
  return new Figure([{ y, x: options.x, label: options.label }], options);
}

/** A scatter plot of y against x (e.g. an ROI intensity against a motor position). */
export function scatter(x: Numbers, y: Numbers, options: PlotOptions = {}): Figure {
  return new Figure([{ x, y, style: "points" }], options);
}

/** A histogram of the finite values, in `bins` equal bins. */
export function histogram(values: Numbers, options: PlotOptions & { bins?: number } = {}): Figure {
  const v = Array.from(values, Number).filter(Number.isFinite);
  const bins = options.bins ?? 50;
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const w = hi > lo ? (hi - lo) / bins : 1;
  const counts = new Array<number>(bins).fill(0);
  for (const x of v) counts[Math.min(bins - 1, Math.floor((x - lo) / w))]++;
  const centres = counts.map((_, i) => lo + (i + 0.5) * w);
  return new Figure([{ x: centres, y: counts, style: "bars" }], { ylabel: "count", ...options });
}

/** An image (a 2-D array) shown with the viridis map and a colour bar labelled with its limits. */
export class ImageFigure implements Displayable {
  constructor(
    readonly image: NDArray,
    readonly options: { title?: string; min?: number; max?: number } = {},
  ) {
    if (image.shape.length !== 2)
      throw new SaseError("BAD_IMAGE", `an image is 2-D; this array has shape [${image.shape}]`, {
        value: showValue(image.shape),
      });
  }

  /** The colour-mapped image as a PNG file and the limits used. */
  png(): { png: Buffer; min: number; max: number } {
    const [h, w] = this.image.shape as [number, number];
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.image.data.length; i++) {
      const v = Number(this.image.data[i]);
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    lo = this.options.min ?? lo;
    hi = this.options.max ?? hi;
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      const v = Number(this.image.data[i]);
      const [r, g, b] = Number.isFinite(v) ? viridis((v - lo) / (hi - lo || 1)) : [255, 255, 255];
      rgba.set([r, g, b, 255], i * 4);
    }
    return { png: encodePng(w, h, rgba), min: lo, max: hi };
  }

  [SASE_DISPLAY](): MimeBundle {
    const { png, min, max } = this.png();
    const [h, w] = this.image.shape as [number, number];
    const stops = Array.from({ length: 9 }, (_, i) => `rgb(${viridis(1 - i / 8).join(",")})`).join(",");
    const width = Math.max(256, Math.min(640, w));
    const html = [
      `<div style="display:flex;gap:8px;align-items:stretch">`,
      `<figure style="margin:0">${this.options.title ? `<figcaption>${esc(this.options.title)}</figcaption>` : ""}`,
      `<img src="data:image/png;base64,${png.toString("base64")}" width="${width}" style="image-rendering:pixelated" alt="${w}×${h} image"/></figure>`,
      `<div style="display:flex;flex-direction:column;justify-content:space-between;font:11px sans-serif">`,
      `<span>${tickLabel(max)}</span><div style="flex:1;width:14px;background:linear-gradient(${stops})"></div><span>${tickLabel(min)}</span></div></div>`,
    ].join("");
    return {
      "text/html": html,
      "image/png": png.toString("base64"),
      "text/plain": `<image ${w}×${h}, ${tickLabel(min)}..${tickLabel(max)}>`,
    };
  }
}

/** An image figure of a 2-D array (a single-frame 3-D array is taken as 2-D). */
export function imshow(
  image: NDArray,
  options: { title?: string; min?: number; max?: number } = {},
): ImageFigure {
  const shape = image.shape.length === 3 && image.shape[0] === 1 ? image.shape.slice(1) : image.shape;
  return new ImageFigure({ ...image, shape }, options);
}
