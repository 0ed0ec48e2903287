// A run-table variable computed by an analysis graph: the document the GUI runs live and `sase analyse`
// runs offline, run over the run's trains, with one of its outputs reduced to the run's value. So the
// table and the live view give the same numbers from one definition. Variables naming the same graph
// share one pass over a run.
//   iq: graphVariable(join(import.meta.dirname, "iq.json"), "az.iq", { title: "I(q)" }),
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  analyseRun,
  formatGraph,
  type GraphDocument,
  GraphRunner,
  graphBaseDir,
  isImage,
  isVector,
  parseGraphDocument,
  type PortValue,
  type ResultCollector,
  type RunAnalysisOptions,
} from "../analysis/index.ts";
import type { NDArray } from "../core/index.ts";
import type { DataCollection } from "../files/index.ts";
import { ContextError, type Variable, type VariableResult } from "./variables.ts";

/** How the per-train values of an output become the run's value. */
export type GraphReduce = "mean" | "last" | "trains";

export interface GraphVariableOptions extends Pick<RunAnalysisOptions, "detector" | "geometry" | "frame"> {
  /** Column heading (default: the output's name). */
  title?: string;
  unit?: string;
  /**
   * "mean": over the trains where the node gave a value, NaN skipped (numbers and curves; the default
   * for nodes that work train by train). "last": the value after the last train (the default for
   * accumulating nodes, whose value covers the run: correlations, histograms, binning, statistics).
   * "trains": a number output as an array, one value per train.
   */
  reduce?: GraphReduce;
}

// One pass of a graph over a run, shared by the variables that read it (keyed by the graph's version).
const passes = new WeakMap<DataCollection, Map<string, Promise<ResultCollector>>>();

/** The graph document in `path`, checked to have `output`'s node, and its version. */
function loadGraph(path: string, output: string, opts: GraphVariableOptions) {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ContextError(`cannot read analysis graph ${path}: ${(e as Error).message}`);
  }
  let doc: GraphDocument;
  try {
    doc = parseGraphDocument(JSON.parse(text));
  } catch (e) {
    throw new ContextError(`analysis graph ${path}: ${(e as Error).message}`);
  }
  const [nodeId, port] = output.split(".");
  if (!port || !doc.nodes.some((n) => n.id === nodeId)) {
    throw new ContextError(
      `analysis graph ${path} has no node "${nodeId}" (output "${output}" is "node.port"; nodes: ${doc.nodes.map((n) => n.id).join(", ")})`,
    );
  }
  const version = createHash("sha256")
    .update(JSON.stringify([formatGraph(doc), opts.frame ?? 0, opts.detector?.karaboId ?? ""]))
    .digest("hex")
    .slice(0, 16);
  return { doc, version };
}

/**
 * A table variable: output `output` ("node.port") of the analysis graph in `graphFile`. The file is
 * read when the context loads (a wrong graph or output is refused then) and again for each version
 * check and computation, so an edited graph recomputes its variables in a long-lived process too.
 */
export function graphVariable(graphFile: string, output: string, opts: GraphVariableOptions = {}): Variable {
  const path = resolve(graphFile);
  loadGraph(path, output, opts);
  const { title, unit, reduce, ...analysis } = opts;
  const pass = (run: DataCollection, doc: GraphDocument, version: string): Promise<ResultCollector> => {
    const byGraph = passes.get(run) ?? new Map<string, Promise<ResultCollector>>();
    passes.set(run, byGraph);
    let p = byGraph.get(version);
    if (!p) {
      p = GraphRunner.create(doc, { baseDir: graphBaseDir(path) }).then((runner) =>
        analyseRun(run, runner, analysis),
      );
      byGraph.set(version, p);
    }
    return p;
  };
  return {
    title: title ?? output,
    ...(unit === undefined ? {} : { unit }),
    get definition() {
      try {
        return `${loadGraph(path, output, opts).version} ${output} ${reduce ?? ""}`;
      } catch (e) {
        return `unreadable: ${(e as Error).message}`; // the computation then fails in its cell
      }
    },
    async compute(run) {
      const { doc, version } = loadGraph(path, output, opts);
      const results = await pass(run, doc, version);
      const column = results.columns.find((c) => `${c.node}.${c.port}` === output);
      if (!column) {
        const outs = results.columns.map((c) => `${c.node}.${c.port}`).join(", ");
        throw new ContextError(`the graph has no output ${output} (it has: ${outs})`);
      }
      const accumulates = results.graph.nodes.find((n) => n.id === column.node)?.kind.accumulates ?? false;
      return reduceValues(output, results.values(output), reduce ?? (accumulates ? "last" : "mean"));
    },
  };
}

/** One value for the run from an output's per-train values (undefined where the node skipped). */
function reduceValues(output: string, values: (PortValue | undefined)[], how: GraphReduce): VariableResult {
  const given = values.filter((v): v is PortValue => v !== undefined);
  if (how === "trains") {
    if (given.some((v) => typeof v !== "number"))
      throw new ContextError(
        `${output}: reduce "trains" keeps numbers only; this output is a curve or image`,
      );
    return Float64Array.from(values, (v) => (typeof v === "number" ? v : Number.NaN));
  }
  if (given.length === 0)
    throw new ContextError(`${output}: the graph gave no value for any train of the run`);
  if (how === "last") {
    const v = given[given.length - 1]!;
    if (typeof v === "number") return v;
    if (isVector(v)) return v.y.slice();
    const image: NDArray = { dtype: "float32", shape: [v.height, v.width], data: v.data.slice() };
    return image;
  }
  // Mean over trains, each element skipping NaN (a masked pixel, an empty bin).
  if (given.some(isImage))
    throw new ContextError(`${output}: images are not kept per train; reduce "last" on an accumulating node`);
  const rows = given.map((v) => (typeof v === "number" ? [v] : (v as { y: Float64Array }).y));
  const n = Math.max(...rows.map((r) => r.length));
  const sum = new Float64Array(n);
  const count = new Float64Array(n);
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) {
      const x = r[i]!;
      if (Number.isNaN(x)) continue;
      sum[i]! += x;
      count[i]! += 1;
    }
  }
  const mean = sum.map((s, i) => (count[i]! > 0 ? s / count[i]! : Number.NaN));
  return typeof given[0] === "number" ? mean[0]! : mean;
}
