// Runs a checked graph train by train. The same runner serves the live stream and an offline run, so
// both compute the same numbers. Live, a node whose runs take longer than its share of the train
// period is let through only when it has been idle for as long as its last run took: it processes
// fewer trains (each one counted as dropped) while the other nodes keep up with every train.
import { dirname } from "node:path";
import { type CheckedGraph, type CheckedNode, checkGraph } from "./graph.ts";
import type { NodeInputs, NodeInstance } from "./node.ts";
import { GraphError } from "./params.ts";
import type { AnalysisTrain, PortValue, TrainResults } from "./types.ts";
import { UserNodeFile } from "./user-node.ts";

/** Counters of one node, as the GUI shows them beside it. */
export interface NodeStats {
  id: string;
  kind: string;
  /** Trains the node processed. */
  processed: number;
  /** Trains it skipped because an input had no value (e.g. a property not yet known). */
  skipped: number;
  /** Trains it let pass because it was still too slow (live only). */
  dropped: number;
  /** Duration of its last run, ms, and a moving average. */
  lastMs: number;
  meanMs: number;
  /** Trains processed per second over the last few seconds. */
  rateHz: number;
  /** The last error it threw, or null. */
  error: string | null;
}

/** How to run a graph. */
export interface RunnerOptions {
  /** Folder user-node paths are relative to (default: the working directory). */
  baseDir?: string;
  /** Reload user nodes when their file changes (live). */
  watchUserNodes?: boolean;
  /** Live: ms one node may take per train before it starts dropping trains (default: run every train). */
  nodeBudgetMs?: number;
}

interface Running {
  readonly node: CheckedNode;
  readonly instance: NodeInstance;
  readonly stats: NodeStats;
  /** Recent run times (ms since epoch), for the rate. */
  readonly recent: number[];
  /** Live: not before this time (performance.now()) if slow. */
  nextAllowed: number;
}

/** Runs a graph on trains. */
export class GraphRunner {
  readonly graph: CheckedGraph;
  readonly #nodes: Running[];
  readonly #userFiles: UserNodeFile[];
  readonly #budgetMs: number | undefined;

  private constructor(graph: CheckedGraph, userFiles: Map<string, UserNodeFile>, opts: RunnerOptions) {
    this.graph = graph;
    this.#budgetMs = opts.nodeBudgetMs;
    this.#userFiles = [...userFiles.values()];
    this.#nodes = graph.nodes.map((node) => ({
      node,
      instance:
        node.kind.kind === "user"
          ? userInstance(userFiles.get(node.params.file as string)!)
          : node.kind.create(node.params),
      stats: {
        id: node.id,
        kind: node.kind.kind,
        processed: 0,
        skipped: 0,
        dropped: 0,
        lastMs: 0,
        meanMs: 0,
        rateHz: 0,
        error: null,
      },
      recent: [],
      nextAllowed: 0,
    }));
  }

  /** Validates `doc`, loads its user nodes and prepares every node; throws GraphError on problems. */
  static async create(doc: unknown, opts: RunnerOptions = {}): Promise<GraphRunner> {
    const baseDir = opts.baseDir ?? process.cwd();
    const files = new Map<string, UserNodeFile>();
    const nodes = (doc as { nodes?: unknown })?.nodes;
    if (Array.isArray(nodes)) {
      for (const n of nodes as { kind?: unknown; params?: { file?: unknown } }[]) {
        const file = n?.kind === "user" ? n.params?.file : undefined;
        if (typeof file === "string" && file && !files.has(file)) {
          files.set(file, await UserNodeFile.load(file, baseDir));
        }
      }
    }
    let graph: CheckedGraph;
    try {
      graph = checkGraph(doc, (f) => files.get(f)?.node);
    } catch (e) {
      for (const f of files.values()) f.close();
      throw e;
    }
    if (opts.watchUserNodes) for (const f of files.values()) f.watch();
    return new GraphRunner(graph, files, opts);
  }

  /** Runs every node (live: every node within its budget) on one train; returns all outputs. */
  process(train: AnalysisTrain): TrainResults {
    const results: TrainResults = new Map();
    const budget = this.#budgetMs;
    for (const r of this.#nodes) {
      const inputs: Record<string, PortValue> = {};
      let missing = false;
      for (const [port, src] of r.node.inputs) {
        const v = results.get(`${src.node}.${src.port}`);
        if (v === undefined) {
          missing = true;
          break;
        }
        inputs[port] = v;
      }
      if (missing) {
        r.stats.skipped++;
        continue;
      }
      const t0 = performance.now();
      if (budget !== undefined && t0 < r.nextAllowed) {
        r.stats.dropped++;
        continue;
      }
      let out: Record<string, PortValue> | null;
      try {
        out = r.instance.run(inputs as NodeInputs, train);
        r.stats.error = null;
      } catch (e) {
        r.stats.error = (e as Error).message;
        out = null;
      }
      const ms = performance.now() - t0;
      r.stats.lastMs = ms;
      r.stats.meanMs = r.stats.processed === 0 ? ms : 0.8 * r.stats.meanMs + 0.2 * ms;
      // A node slow on average rests as long as it ran: at most half of the time goes to it.
      if (budget !== undefined) r.nextAllowed = r.stats.meanMs > budget ? t0 + 2 * ms : 0;
      if (!out) {
        r.stats.skipped++;
        continue;
      }
      r.stats.processed++;
      const now = Date.now();
      r.recent.push(now);
      while (r.recent.length && r.recent[0]! < now - 3000) r.recent.shift();
      for (const [port, v] of Object.entries(out)) {
        if (port in r.node.outputs) results.set(`${r.node.id}.${port}`, v);
      }
    }
    return results;
  }

  /** Per-node counters; rates over the last three seconds. */
  stats(): NodeStats[] {
    const now = Date.now();
    return this.#nodes.map((r) => {
      while (r.recent.length && r.recent[0]! < now - 3000) r.recent.shift();
      const span = r.recent.length > 1 ? (now - r.recent[0]!) / 1000 : 0;
      return { ...r.stats, rateHz: span > 0 ? (r.recent.length - 1) / span : 0 };
    });
  }

  /** Clears accumulated state (correlations, histograms, backgrounds, statistics) of one node or all. */
  reset(nodeId?: string): void {
    if (nodeId !== undefined && !this.#nodes.some((r) => r.node.id === nodeId)) {
      throw new GraphError("reset", `no node "${nodeId}" in the graph`);
    }
    for (const r of this.#nodes) if (nodeId === undefined || r.node.id === nodeId) r.instance.reset?.();
  }

  /** The user node files the graph loaded (watch their reloads in tests and the GUI). */
  get userFiles(): readonly UserNodeFile[] {
    return this.#userFiles;
  }

  /** Stops watching user node files. */
  close(): void {
    for (const f of this.#userFiles) f.close();
  }
}

function userInstance(file: UserNodeFile): NodeInstance {
  let state: Record<string, unknown> = {};
  return {
    reset() {
      state = {};
    },
    run: (inputs, train) => file.node.run(inputs, train, state),
  };
}

/** The folder a graph file's user nodes are relative to. */
export function graphBaseDir(graphFile: string): string {
  return dirname(graphFile);
}
