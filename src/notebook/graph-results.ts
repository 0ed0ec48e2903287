// An analysis graph's results in a notebook: read from the HDF5 file `sase analyse` writes, or from
// running a graph on a run here (through the same file format, so both give the same object). Each
// output plots as its kind asks: numbers against train ID, curves (I(q), projections) as the mean over
// trains, accumulated curves as they ended, correlations as points, images as images.
//   const r = await analyseGraph(run, "g.json");  r            // every output, plotted
//   r.plot("az.iq"); r.values("roi.sum"); (await readGraphResults("results.h5")).outputs
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import h5wasm from "h5wasm/node";
import { analyseRun, GraphRunner, type RunAnalysisOptions } from "../analysis/index.ts";
import type { NDArray } from "../core/index.ts";
import type { DataCollection } from "../files/index.ts";
import {
  type Displayable,
  type Figure,
  imshow,
  type ImageFigure,
  type MimeBundle,
  plot,
  SASE_DISPLAY,
  scatter,
} from "./figure.ts";
import { SaseError, showValue } from "../core/index.ts";

/** One output of a graph over a run, as the results file holds it. */
export type GraphOutput =
  | { readonly kind: "scalar"; readonly values: Float64Array }
  /** `rows` curves of `x.length` points (one per train, or 1: an accumulating node's final curve). */
  | { readonly kind: "curve"; readonly x: Float64Array; readonly y: Float64Array; readonly rows: number }
  /** `frames` images (one per train, or 1: the final one). */
  | {
      readonly kind: "image";
      readonly data: Float32Array;
      readonly shape: readonly [number, number];
      readonly frames: number;
    };

/** A graph's results over a run: train IDs, the graph document, every output by "node.port". */
export class GraphResults implements Displayable {
  constructor(
    readonly trainIds: readonly number[],
    /** The graph document that produced them (parsed from the file). */
    readonly graph: { name?: string; nodes: { id: string; kind: string }[] },
    readonly outputs: ReadonlyMap<string, GraphOutput>,
  ) {}

  #output(name: string): GraphOutput {
    const o = this.outputs.get(name);
    if (!o)
      throw new SaseError(
        "NOT_FOUND",
        `no output "${name}" in these results (they have: ${[...this.outputs.keys()].join(", ")})`,
        { value: showValue(name) },
      );
    return o;
  }

  /** Numbers per train; a curve's mean over trains (NaN skipped); an image's last frame (row-major). */
  values(name: string): Float64Array {
    const o = this.#output(name);
    if (o.kind === "scalar") return o.values;
    if (o.kind === "image")
      return Float64Array.from(o.data.subarray((o.frames - 1) * o.shape[0] * o.shape[1]));
    const n = o.x.length;
    const sum = new Float64Array(n);
    const count = new Float64Array(n);
    for (let r = 0; r < o.rows; r++) {
      for (let i = 0; i < n; i++) {
        const v = o.y[r * n + i]!;
        if (Number.isNaN(v)) continue;
        sum[i]! += v;
        count[i]! += 1;
      }
    }
    return sum.map((s, i) => (count[i]! > 0 ? s / count[i]! : Number.NaN));
  }

  /** The figure of one output, drawn as its kind asks. */
  plot(name: string): Figure | ImageFigure {
    const o = this.#output(name);
    const kind = this.graph.nodes.find((n) => n.id === name.split(".")[0])?.kind ?? "";
    if (o.kind === "scalar") return plot(o.values, { x: this.trainIds, title: name, xlabel: "train ID" });
    if (o.kind === "image") {
      const image: NDArray = { dtype: "float64", shape: [...o.shape], data: this.values(name) };
      return imshow(image, { title: o.frames > 1 ? `${name} (last of ${o.frames} trains)` : name });
    }
    const y = this.values(name);
    if (kind === "correlation") return scatter(o.x, y, { title: name });
    return plot(y, { x: o.x, title: o.rows > 1 ? `${name} (mean of ${o.rows} trains)` : name });
  }

  [SASE_DISPLAY](): MimeBundle {
    const parts = [...this.outputs.keys()].map((name) => this.plot(name)[SASE_DISPLAY]());
    const html = parts.map((b) => b["text/html"] ?? b["image/svg+xml"] ?? "").join("");
    const head = `graph ${this.graph.name ?? ""}: ${this.trainIds.length} trains, ${this.outputs.size} outputs`;
    return {
      "text/html": `<p>${head.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</p><div style="display:flex;flex-wrap:wrap;gap:12px">${html}</div>`,
      "text/plain": `<GraphResults ${head}>`,
    };
  }
}

/** Reads the HDF5 file `sase analyse --out` writes. */
export async function readGraphResults(path: string): Promise<GraphResults> {
  await h5wasm.ready;
  const f = new h5wasm.File(resolve(path), "r");
  try {
    const ds = (p: string) => f.get(p) as InstanceType<typeof h5wasm.Dataset> | null;
    const trainIds = Array.from(ds("trainId")?.value as BigUint64Array, Number);
    const graph = JSON.parse(ds("graph")?.value as string);
    const outputs = new Map<string, GraphOutput>();
    for (const node of f.keys()) {
      const group = f.get(node);
      if (!(group instanceof h5wasm.Group)) continue;
      for (const port of group.keys()) {
        if (port.endsWith("_x") && group.keys().includes(port.slice(0, -2))) continue;
        const d = ds(`${node}/${port}`);
        if (!d) continue;
        const shape = d.shape as number[];
        const x = ds(`${node}/${port}_x`);
        if (x) {
          const xs = Float64Array.from(x.value as Float64Array);
          const y = Float64Array.from(d.value as Float64Array);
          outputs.set(`${node}.${port}`, {
            kind: "curve",
            x: xs,
            y,
            rows: shape.length === 2 ? shape[0]! : 1,
          });
        } else if (shape.length === 1) {
          outputs.set(`${node}.${port}`, {
            kind: "scalar",
            values: Float64Array.from(d.value as Float64Array),
          });
        } else {
          const [h, w] = shape.slice(-2) as [number, number];
          const data = Float32Array.from(d.value as Float32Array);
          outputs.set(`${node}.${port}`, {
            kind: "image",
            data,
            shape: [h, w],
            frames: shape.length === 3 ? shape[0]! : 1,
          });
        }
      }
    }
    return new GraphResults(trainIds, graph, outputs);
  } finally {
    f.close();
  }
}

/**
 * Runs an analysis graph (a document, or the path of its JSON file) on a run, as `sase analyse` does,
 * and returns its results.
 */
export async function analyseGraph(
  run: DataCollection,
  graph: string | object,
  opts: Omit<RunAnalysisOptions, "properties"> = {},
): Promise<GraphResults> {
  const doc = typeof graph === "string" ? JSON.parse(readFileSync(graph, "utf8")) : graph;
  const baseDir = typeof graph === "string" ? dirname(resolve(graph)) : process.cwd();
  const runner = await GraphRunner.create(doc, { baseDir });
  const results = await analyseRun(run, runner, opts);
  // Through the results file, so a notebook sees exactly what `sase analyse` would have written.
  const dir = mkdtempSync(join(tmpdir(), "sase-graph-"));
  try {
    const file = join(dir, "results.h5");
    await results.writeH5(file);
    return await readGraphResults(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
