// Per-train plots with uPlot: XGM pulse energies of the latest train, the ROI sum over recent trains,
// the radial profile of the latest image, and a trend of any numeric property. Data arrive at 10 Hz;
// charts are redrawn at most once per animation frame.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { TrainPlots } from "../api.ts";
import { h } from "./dom.ts";

const AXIS = {
  stroke: "#9aa4ad",
  grid: { stroke: "#2a3036", width: 1 },
  ticks: { stroke: "#2a3036", width: 1 },
};
const HISTORY = 600; // trains (one minute at 10 Hz)

interface Chart {
  plot: uPlot;
  el: HTMLElement;
  data: [number[], number[]];
  dirty: boolean;
  /** Shown over the chart while it has nothing to draw. */
  hint: HTMLElement;
}

/** A number in at most about five characters (12.3k, 4.5M) so axis labels never overflow. */
function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(4)}`;
}

function chart(
  parent: HTMLElement,
  title: string,
  xLabel: string,
  yLabel: string,
  colour: string,
  emptyText: string,
  time = false,
): Chart {
  const hint = h("div", { class: "chart-hint", text: emptyText });
  const el = h("div", { class: "chart" }, hint);
  parent.append(el);
  const plot = new uPlot(
    {
      title,
      width: 300,
      height: 150,
      legend: { show: false },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time } },
      axes: [
        {
          ...AXIS,
          label: xLabel,
          size: 34,
          labelSize: 14,
          space: 60,
          // Train IDs are ten digits: the last five tell neighbouring trains apart and fit the axis.
          ...(xLabel === "train"
            ? {
                incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
                values: (_u: uPlot, splits: number[]) =>
                  splits.map((v) => `…${String(Math.round(v) % 100000).padStart(5, "0")}`),
              }
            : {}),
        },
        {
          ...AXIS,
          label: yLabel,
          size: 56,
          labelSize: 14,
          values: (_u: uPlot, splits: number[]) => splits.map(compact),
        },
      ],
      series: [{}, { stroke: colour, width: 1.5, fill: `${colour}22`, points: { show: false } }],
    },
    [[], []],
    el,
  );
  return { plot, el, data: [[], []], dirty: false, hint };
}

/** The plot column. */
export class Plots {
  readonly #xgm: Chart;
  readonly #roi: Chart;
  readonly #radial: Chart;
  readonly #trend: Chart;
  readonly #trendLabel: HTMLElement;
  #trendKey: { deviceId: string; key: string } | null = null;
  #scheduled = false;
  /** Called when the user picks another trend (the page subscribes). */
  onTrendChange: (
    prev: { deviceId: string; key: string } | null,
    next: { deviceId: string; key: string },
  ) => void = () => {};

  constructor(root: HTMLElement) {
    this.#trendLabel = h("span", {
      class: "muted",
      "data-testid": "trend-label",
      text: "",
    });
    root.append(h("div", { class: "panel-head" }, h("h2", { text: "Per-train plots" })));
    this.#xgm = chart(
      root,
      "XGM pulse energy (latest train)",
      "pulse",
      "µJ",
      "#ffb454",
      "no XGM data in this train",
    );
    this.#roi = chart(root, "ROI sum", "train", "sum", "#ff5c8a", "shift-drag on the image to draw a region");
    this.#radial = chart(
      root,
      "Radial profile (latest train)",
      "radius / px",
      "mean",
      "#59c2ff",
      "waiting for images",
    );
    root.append(h("div", { class: "trend-head" }, this.#trendLabel));
    this.#trend = chart(
      root,
      "Trend",
      "time",
      "value",
      "#95e6cb",
      "press ↗ beside a number in the device panel",
      true,
    );
    new ResizeObserver(() => this.#resize(root)).observe(root);
  }

  /** Points in the ROI-sum and trend plots (for tests). */
  get counts(): { roi: number; trend: number; radial: number } {
    return {
      roi: this.#roi.data[0].length,
      trend: this.#trend.data[0].length,
      radial: this.#radial.data[0].length,
    };
  }

  /** Adds a train's plots. */
  train(p: TrainPlots): void {
    this.#xgm.data = [p.pulseEnergy.map((_, i) => i), p.pulseEnergy];
    this.#xgm.dirty = true;
    if (p.roiSum !== null) {
      push(this.#roi.data, p.trainId, p.roiSum);
      this.#roi.dirty = true;
    }
    this.#radial.data = [p.radial.map((_, i) => i * 4), p.radial];
    this.#radial.dirty = true;
    this.#schedule();
  }

  /** Starts a trend of one property (replacing the previous one). */
  setTrend(deviceId: string, key: string, label: string): void {
    const prev = this.#trendKey;
    this.#trendKey = { deviceId, key };
    this.#trendLabel.textContent = `Trend: ${label}`;
    this.#trend.data = [[], []];
    this.#trend.dirty = true;
    this.onTrendChange(prev, { deviceId, key });
    this.#schedule();
  }

  /** Adds trend points (time in epoch ms). */
  trend(deviceId: string, key: string, points: { ms: number; value: number }[]): void {
    if (this.#trendKey?.deviceId !== deviceId || this.#trendKey.key !== key) return;
    for (const p of points) push(this.#trend.data, p.ms / 1000, p.value);
    this.#trend.dirty = true;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    requestAnimationFrame(() => {
      this.#scheduled = false;
      for (const c of [this.#xgm, this.#roi, this.#radial, this.#trend]) {
        if (!c.dirty) continue;
        c.dirty = false;
        c.hint.hidden = c.data[0].length > 0;
        c.plot.setData(c.data);
      }
    });
  }

  #resize(root: HTMLElement): void {
    const w = Math.max(200, root.clientWidth - 16);
    for (const c of [this.#xgm, this.#roi, this.#radial, this.#trend])
      c.plot.setSize({ width: w, height: 150 });
  }
}

function push(d: [number[], number[]], x: number, y: number): void {
  d[0].push(x);
  d[1].push(y);
  if (d[0].length > HISTORY) {
    d[0].splice(0, d[0].length - HISTORY);
    d[1].splice(0, d[1].length - HISTORY);
  }
}
