// The analysis graph on the live stream, server side: the proposal's latest saved graph runs on every
// assembled train (at most 10 Hz, latest first; slow nodes drop trains, see analysis/runner.ts), device
// properties come from the broker as they change, and each processed train's results go to the pages
// watching. Saving validates the document, stores it as the next revision and swaps it in.
import {
  GraphError,
  GraphRunner,
  type GraphStore,
  type ImageGeometry,
  imageGeometry,
  isImage,
  isVector,
  LiveGraph,
  type LiveUpdate,
  liveTrain,
  NODE_KINDS,
  parseGraphDocument,
} from "../../analysis/index.ts";
import type { Logger } from "../../core/index.ts";
import type { DetectorGeometry } from "../../detector/index.ts";
import type { AnalysisRequest, NodeKindInfo, WireResult } from "../analysis-api.ts";
import type { ServerMessage } from "../api.ts";
import {
  asRequestError,
  type FacilityBackend,
  GuiRequestError,
  type ImageFeed,
  type LiveFrame,
} from "./backend.ts";
import { SaseError, showValue } from "../../core/index.ts";

/** A page that watches the graph. */
export interface AnalysisViewer {
  send(m: ServerMessage): void;
  /** Whether the page's socket is backed up (then an update is skipped: the next supersedes it). */
  backedUp(): boolean;
}

/** Where the graphs live and which proposal's graph runs. */
export interface AnalysisOptions {
  store: GraphStore;
  proposal: number;
}

const MAX_CURVE_POINTS = 4000;
const MAX_IMAGE_PIXELS = 65536;

/** The kinds the editor offers, as data. */
export function nodeKindInfo(): NodeKindInfo[] {
  return [...NODE_KINDS.values()].map((k) => ({
    kind: k.kind,
    group: k.group,
    doc: k.doc,
    inputs: Object.entries(k.inputs).map(([name, s]) => ({
      name,
      types: typeof s.type === "string" ? [s.type] : [...s.type],
      optional: s.optional === true,
    })),
    outputs: Object.entries(k.outputs).map(([name, type]) => ({ name, type })),
    params: Object.entries(k.params).map(([name, spec]) => ({ name, ...spec })),
  }));
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** One result as JSON: NaN as null, long curves thinned, big images left out. */
function wire(v: unknown): WireResult | undefined {
  if (typeof v === "number") return finiteOrNull(v);
  if (isImage(v as never)) {
    const img = v as { width: number; height: number; data: Float32Array };
    if (img.data.length > MAX_IMAGE_PIXELS) return undefined;
    return { width: img.width, height: img.height, data: Array.from(img.data, finiteOrNull) };
  }
  if (isVector(v as never)) {
    const c = v as { x: Float64Array; y: Float64Array };
    const step = Math.ceil(c.y.length / MAX_CURVE_POINTS);
    const x: (number | null)[] = [];
    const y: (number | null)[] = [];
    for (let i = 0; i < c.y.length; i += step) {
      x.push(finiteOrNull(c.x[i]!));
      y.push(finiteOrNull(c.y[i]!));
    }
    return { x, y };
  }
  return undefined;
}

/** Checks an analysis request from the page; throws a SaseError (BAD_REQUEST) saying what is wrong (protocol.ts reports it). */
export function parseAnalysisRequest(o: Record<string, unknown>): AnalysisRequest {
  const req = o.req;
  if (typeof req !== "number" || !Number.isFinite(req))
    throw new SaseError("BAD_REQUEST", `"req" must be a finite number`, { value: showValue(req) });
  switch (o.op) {
    case "watch":
      if (typeof o.on !== "boolean")
        throw new SaseError("BAD_REQUEST", `"on" must be true or false`, { value: showValue(o.on) });
      return { t: "analysis", req, op: "watch", on: o.on };
    case "save":
      if (typeof o.graph !== "object" || o.graph === null)
        throw new SaseError("BAD_REQUEST", `"graph" must be an object`, { value: showValue(o.graph) });
      return { t: "analysis", req, op: "save", graph: o.graph };
    case "reset":
      if (o.node !== undefined && typeof o.node !== "string")
        throw new SaseError("BAD_REQUEST", `"node" must be a string`, { value: showValue(o.node) });
      return o.node === undefined
        ? { t: "analysis", req, op: "reset" }
        : { t: "analysis", req, op: "reset", node: o.node };
    default:
      throw new SaseError("BAD_REQUEST", `"op" must be watch, save or reset`, { value: showValue(o.op) });
  }
}

/** The live graph of a GUI server. */
export class AnalysisService {
  readonly #opts: AnalysisOptions;
  readonly #feed: ImageFeed;
  readonly #backend: FacilityBackend;
  readonly #log: Logger;
  readonly #viewers = new Set<AnalysisViewer>();
  readonly #kinds = nodeKindInfo();
  readonly #properties = new Map<string, number>();
  #propertyWatches: Promise<() => void>[] = [];
  #live: LiveGraph | null = null;
  #doc: unknown = null;
  #offFeed: (() => void) | null = null;
  #geometry: ImageGeometry | null = null;

  private constructor(opts: AnalysisOptions, feed: ImageFeed, backend: FacilityBackend, log: Logger) {
    this.#opts = opts;
    this.#feed = feed;
    this.#backend = backend;
    this.#log = log;
  }

  /** Starts with the proposal's latest saved graph, if it has one that is valid. */
  static async start(
    opts: AnalysisOptions,
    feed: ImageFeed,
    backend: FacilityBackend,
    log: Logger,
  ): Promise<AnalysisService> {
    const s = new AnalysisService(opts, feed, backend, log);
    try {
      const doc = opts.store.latest(opts.proposal);
      if (doc) await s.#run(doc);
    } catch (e) {
      log.warn("the saved analysis graph does not load", { error: (e as Error).message });
    }
    return s;
  }

  /** Starts or stops sending the graph and its results to `viewer`. */
  watch(viewer: AnalysisViewer, on: boolean): void {
    if (!on) {
      this.#viewers.delete(viewer);
      return;
    }
    this.#viewers.add(viewer);
    viewer.send(this.#graphMessage());
  }

  /** Validates, saves and runs a graph; returns its revision. Throws GuiRequestError naming the fault. */
  async save(raw: unknown): Promise<number> {
    let doc: ReturnType<typeof parseGraphDocument>;
    try {
      doc = parseGraphDocument({ ...(raw as object), proposal: this.#opts.proposal });
      // Validate (and load user nodes) before anything is written.
      (await GraphRunner.create(doc, { baseDir: this.#baseDir() })).close();
    } catch (e) {
      if (e instanceof GraphError) throw asRequestError(e, e.path);
      throw e;
    }
    const saved = this.#opts.store.save(doc);
    await this.#run(saved);
    for (const v of this.#viewers) v.send(this.#graphMessage());
    return saved.revision;
  }

  /** Clears accumulations. */
  reset(node?: string): void {
    if (!this.#live) throw new GuiRequestError("no analysis graph is running", undefined, "WRONG_STATE");
    try {
      this.#live.reset(node);
    } catch (e) {
      throw asRequestError(e, "node");
    }
  }

  close(): void {
    this.#offFeed?.();
    this.#offFeed = null;
    this.#live?.close();
    this.#live = null;
    for (const w of this.#propertyWatches) void w.then((off) => off()).catch(() => {});
    this.#propertyWatches = [];
    this.#viewers.clear();
  }

  #baseDir(): string {
    return `${this.#opts.store.root}/p${String(this.#opts.proposal).padStart(6, "0")}`;
  }

  #graphMessage(): ServerMessage {
    return { t: "analysisGraph", proposal: this.#opts.proposal, graph: this.#doc, kinds: this.#kinds };
  }

  async #run(doc: unknown): Promise<void> {
    const runner = await GraphRunner.create(doc, {
      baseDir: this.#baseDir(),
      watchUserNodes: true,
      nodeBudgetMs: 50,
    });
    this.#doc = runner.graph.doc;
    if (this.#live) this.#live.replace(runner);
    else {
      this.#live = new LiveGraph(runner);
      this.#live.onUpdate((u) => this.#broadcast(u));
    }
    this.#watchProperties(runner);
    this.#offFeed ??= this.#feed.subscribe((f) => this.#onFrame(f));
  }

  #watchProperties(runner: GraphRunner): void {
    for (const w of this.#propertyWatches) void w.then((off) => off()).catch(() => {});
    this.#properties.clear();
    const devices = new Set(
      runner.graph.nodes.filter((n) => n.kind.kind === "property").map((n) => n.params.device as string),
    );
    this.#propertyWatches = [...devices].map((device) => {
      const w = this.#backend.watch(device, (updates) => {
        for (const u of updates)
          if (typeof u.value === "number") this.#properties.set(`${device}\u0000${u.key}`, u.value);
      });
      w.catch((e) =>
        this.#log.warn("analysis: cannot watch a device", { device, error: (e as Error).message }),
      );
      return w;
    });
  }

  #onFrame(f: LiveFrame): void {
    if (!this.#live) return;
    const detector = (this.#feed as { geometry?: DetectorGeometry }).geometry;
    let geometry: ImageGeometry;
    if (detector) geometry = imageGeometry(detector);
    else {
      // A single camera image: the beam at the frame's centre, 200 µm pixels unless told.
      const centre = f.centre ?? [f.height / 2, f.width / 2];
      if (this.#geometry?.centre[0] !== centre[0] || this.#geometry.centre[1] !== centre[1]) {
        this.#geometry = { centre, pixelSize: 2e-4 };
      }
      geometry = this.#geometry;
    }
    const props = this.#properties;
    this.#live.push(liveTrain(f, geometry, (device, key) => props.get(`${device}\u0000${key}`)));
  }

  #broadcast(u: LiveUpdate): void {
    if (this.#viewers.size === 0) return;
    const results: Record<string, WireResult> = {};
    for (const [name, v] of u.results) {
      const w = wire(v);
      if (w !== undefined) results[name] = w;
    }
    const stats = u.stats.map((s) => ({
      id: s.id,
      processed: s.processed,
      skipped: s.skipped,
      dropped: s.dropped,
      rateHz: s.rateHz,
      meanMs: s.meanMs,
      error: s.error,
    }));
    const m: ServerMessage = { t: "analysisUpdate", trainId: u.trainId, results, stats, dropped: u.dropped };
    for (const v of this.#viewers) if (!v.backedUp()) v.send(m);
  }
}
