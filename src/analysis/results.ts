// A graph's results over a run, kept per train and written as HDF5 (read with h5py) and CSV.
// Layout of the HDF5 file:
//   /trainId                      (N,) uint64
//   /graph                        the graph document (canonical JSON text)
//   /<node>/<port>                scalar outputs: (N,) float64, NaN where the node skipped the train
//   /<node>/<port>, <port>_x      curves of per-train nodes: (N, L) float64 (NaN-padded) and x (L,)
//                                 curves of accumulating nodes: the final (L,) and x (L,)
//   /<node>/<port>                images: per train (N, H, W) float32 when small (≤ 65536 pixels), the
//                                 final one of accumulating nodes (H, W); big per-train images are left
//                                 out (they are the run's own data, masked)
import { renameSync, rmSync } from "node:fs";
import h5wasm from "h5wasm/node";
import { type CheckedGraph, formatGraph } from "./graph.ts";
import { isImage, isVector, type PortType, type PortValue, type TrainResults } from "./types.ts";
import { SaseError, showValue } from "../core/index.ts";

/** Images up to this many pixels are kept per train. */
export const PER_TRAIN_IMAGE_PIXELS = 65536;

interface Column {
  readonly node: string;
  readonly port: string;
  readonly type: PortType;
  /** Keep only the last value (accumulating nodes' curves and images). */
  readonly finalOnly: boolean;
}

/** Results of a graph, train by train. */
export class ResultCollector {
  readonly trainIds: number[] = [];
  readonly columns: readonly Column[];
  readonly #perTrain = new Map<string, (PortValue | undefined)[]>();
  readonly #final = new Map<string, PortValue>();
  readonly graph: CheckedGraph;

  constructor(graph: CheckedGraph) {
    this.graph = graph;
    this.columns = graph.nodes.flatMap((n) =>
      Object.entries(n.outputs).map(([port, type]) => ({
        node: n.id,
        port,
        type,
        finalOnly: type !== "scalar" && n.kind.accumulates,
      })),
    );
    for (const c of this.columns) if (!c.finalOnly) this.#perTrain.set(`${c.node}.${c.port}`, []);
  }

  /** Adds one train's results. */
  add(trainId: number, results: TrainResults): void {
    this.trainIds.push(trainId);
    for (const c of this.columns) {
      const name = `${c.node}.${c.port}`;
      const v = results.get(name);
      if (c.finalOnly) {
        if (v !== undefined) this.#final.set(name, copy(v));
      } else {
        const keep = isImage(v) && v.data.length > PER_TRAIN_IMAGE_PIXELS ? undefined : v && copy(v);
        this.#perTrain.get(name)!.push(keep);
      }
    }
  }

  /** A scalar output per train (NaN where skipped). */
  scalar(name: string): Float64Array {
    const col = this.#perTrain.get(name);
    if (!col) throw new SaseError("NOT_FOUND", `no per-train output "${name}"`, { value: showValue(name) });
    return Float64Array.from(col, (v) => (typeof v === "number" ? v : Number.NaN));
  }

  /** Every value of an output, per train (undefined where skipped); the final one for accumulators. */
  values(name: string): (PortValue | undefined)[] {
    const col = this.#perTrain.get(name);
    if (col) return col;
    return [this.#final.get(name)];
  }

  /** CSV: one row per train, train ID then every scalar output (empty where a node skipped it). */
  csv(): string {
    const scalars = this.columns.filter((c) => c.type === "scalar");
    const lines = [["trainId", ...scalars.map((c) => `${c.node}.${c.port}`)].join(",")];
    this.trainIds.forEach((t, i) => {
      const cells = scalars.map((c) => {
        const v = this.#perTrain.get(`${c.node}.${c.port}`)![i];
        return typeof v === "number" && !Number.isNaN(v) ? String(v) : "";
      });
      lines.push([String(t), ...cells].join(","));
    });
    return `${lines.join("\n")}\n`;
  }

  /** Writes the HDF5 file (under a temporary name, renamed when complete). */
  async writeH5(path: string): Promise<void> {
    await h5wasm.ready;
    const tmp = `${path}.${process.pid}.part`;
    try {
      const f = new h5wasm.File(tmp, "w");
      try {
        this.#write(f);
      } finally {
        f.close();
      }
      renameSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }

  #write(f: InstanceType<typeof h5wasm.File>): void {
    const n = this.trainIds.length;
    f.create_dataset({ name: "trainId", data: BigUint64Array.from(this.trainIds, BigInt), shape: [n] });
    f.create_dataset({ name: "graph", data: formatGraph(this.graph.doc) });
    const groups = new Set<string>();
    for (const c of this.columns) {
      const name = `${c.node}.${c.port}`;
      const path = `${c.node}/${c.port}`;
      const group = () => {
        if (!groups.has(c.node)) f.create_group(c.node);
        groups.add(c.node);
      };
      if (c.finalOnly) {
        const v = this.#final.get(name);
        if (v === undefined) continue;
        group();
        if (isImage(v)) f.create_dataset({ name: path, data: v.data, shape: [v.height, v.width] });
        else if (isVector(v)) {
          f.create_dataset({ name: path, data: v.y, shape: [v.y.length] });
          f.create_dataset({ name: `${path}_x`, data: v.x, shape: [v.x.length] });
        }
        continue;
      }
      const col = this.#perTrain.get(name)!;
      if (c.type === "scalar") {
        group();
        f.create_dataset({ name: path, data: this.scalar(name), shape: [n] });
      } else if (c.type === "vector") {
        const vs = col.filter(isVector);
        if (!vs.length) continue;
        const longest = vs.reduce((a, b) => (b.y.length > a.y.length ? b : a));
        const len = longest.y.length;
        const data = new Float64Array(n * len).fill(Number.NaN);
        col.forEach((v, i) => {
          if (isVector(v)) data.set(v.y, i * len);
        });
        group();
        f.create_dataset({ name: path, data, shape: [n, len] });
        f.create_dataset({ name: `${path}_x`, data: longest.x, shape: [len] });
      } else {
        const first = col.find(isImage);
        if (!first) continue;
        const { width, height } = first;
        const data = new Float32Array(n * width * height).fill(Number.NaN);
        col.forEach((v, i) => {
          if (isImage(v) && v.width === width && v.height === height) data.set(v.data, i * width * height);
        });
        group();
        f.create_dataset({ name: path, data, shape: [n, height, width] });
      }
    }
  }
}

/** A copy of a value that later trains cannot change (accumulating nodes reuse nothing, but be safe). */
function copy(v: PortValue): PortValue {
  if (typeof v === "number") return v;
  if (isImage(v)) return { width: v.width, height: v.height, data: v.data.slice() };
  return { x: v.x.slice(), y: v.y.slice() };
}
