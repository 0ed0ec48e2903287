// Writes runs in the EXDF layout: one sequence file per aggregator at a time, rolling to the next
// sequence after a set number of trains. Trains are buffered and written every `flushEvery` trains,
// then the file is flushed, so that whatever was flushed is a complete, readable file even if the
// process dies before close(). close() writes the run index beside the files.
import { statSync } from "node:fs";
import { join } from "node:path";
import {
  allocTyped,
  createLogger,
  type DType,
  isNDArray,
  type NDArray,
  SASE_VERSION,
  shapeSize,
  type Timestamp,
  type TypedArray,
  SaseError,
  showValue,
} from "../core/index.ts";
import { pwriteSync, type RowWrite, runRowWrites } from "./direct.ts";
import { FilesError } from "./errors.ts";
import { H5File, type H5Snapshot, h5Ready } from "./h5.ts";
import { formatFileName } from "./naming.ts";
import { writeRunIndex } from "./runindex.ts";

const log = createLogger("files.writer");

/** The EXDF format version written (the newest whose layout we can check against EXtra-data's files). */
export const WRITTEN_FORMAT_VERSION = "1.2";

/** Options of a run writer. */
export interface RunWriterOptions {
  readonly proposal: number;
  readonly run: number;
  /** File name prefix (data category), default "RAW". */
  readonly category?: string;
  /** Trains per sequence file before rolling to the next (default 256). */
  readonly trainsPerSequence?: number;
  /** Write and flush every N trains (default 1: every train is durable once writeTrain returns). */
  readonly flushEvery?: number;
  /** gzip level 1-9 for per-train datasets, 0 for none (default 0). */
  readonly compression?: number;
  /**
   * Target chunk size in bytes for per-train datasets (default 16 MiB, 1 MiB when compressed). Chunks
   * bigger than HDF5's chunk cache (8 MiB) are written from the caller's buffer (see H5File.writeChunksDirect).
   */
  readonly chunkBytes?: number;
  readonly runType?: string;
  readonly sample?: string;
  readonly daqLibrary?: string;
  readonly karaboFramework?: string;
  /** Write the run index on close (default true). */
  readonly writeIndex?: boolean;
}

/** One key of a source: element type and shape of one entry ([] for a scalar). */
export interface KeySpec {
  readonly dtype: DType;
  readonly entryShape?: readonly number[];
}

/** A control (slow data) source: one entry per train for each property. */
export interface ControlSourceSpec {
  /** Which aggregator's files hold it (e.g. "DA01"). */
  readonly aggregator: string;
  /** Property name (e.g. "pulseEnergy.photonFlux") → type; written as <property>.value/.timestamp. */
  readonly properties: Readonly<Record<string, KeySpec>>;
  /** Values at run start, written to the RUN section (defaults to zeros). */
  readonly runValues?: Readonly<Record<string, number | bigint | boolean | string | TypedArray>>;
}

/** An instrument (fast data) source: any number of entries per train in each index group. */
export interface InstrumentSourceSpec {
  readonly aggregator: string;
  /** Key (e.g. "image.data"; the first component is the index group) → type and entry shape. */
  readonly keys: Readonly<Record<string, KeySpec>>;
}

/** A value for one key in one train: a scalar, a typed array (entries × entry size) or an NDArray. */
export type KeyValue = number | bigint | boolean | TypedArray | NDArray;

/** The data of one train: source → key (control: property) → value. */
export type TrainInput = Readonly<Record<string, Readonly<Record<string, KeyValue>>>>;

interface DatasetPlan {
  readonly path: string;
  readonly dtype: DType;
  readonly entryShape: readonly number[];
  readonly rowLen: number;
  readonly chunkRows: number;
  /** Uncompressed chunks of at least ALIGNED_CHUNK_BYTES: they start at CHUNK_ALIGNMENT in the file. */
  readonly alignedChunks: boolean;
  /**
   * Allocated by HDF5 unfilled, rows written by pwrite from the caller's arrays
   * (H5File.writeChunksDirect): aligned chunks bigger than HDF5's chunk cache, and small chunks (see
   * plan).
   */
  readonly unfilled: boolean;
  /** Pieces written since the last flush. */
  pending: TypedArray[];
  pendingRows: number;
  rows: number;
  /**
   * Rows the dataset has in the open file: those written and, for a dataset written directly, room
   * allocated ahead for a few more trains (cut to `rows` at close).
   */
  capacity: number;
}

interface GroupPlan {
  readonly source: string;
  readonly indexPath: string;
  readonly datasets: Map<string, DatasetPlan>;
  pendingCounts: number[];
  rows: number;
  written: number;
}

interface SourcePlan {
  readonly name: string;
  readonly section: "CONTROL" | "INSTRUMENT";
  readonly aggregator: string;
  readonly groups: Map<string, GroupPlan>;
  readonly control?: ControlSourceSpec;
  /** key → [group, dataset key inside group] */
  readonly keyMap: Map<string, { group: string; dataset: string }>;
}

/** Chunks of at least this many bytes start at CHUNK_ALIGNMENT in the file (see alignForChunks). */
const ALIGNED_CHUNK_BYTES = 1 << 20;
const CHUNK_ALIGNMENT = 4096;
/**
 * HDF5's default chunk cache per dataset (8 MiB since HDF5 2.0, which h5wasm 0.10.3 holds): only
 * bigger chunks can be written without passing through it.
 */
const HDF5_CHUNK_CACHE_BYTES = 8 << 20;

function nsOf(ts: Timestamp | undefined): bigint {
  if (!ts) return BigInt(Date.now()) * 1_000_000n;
  return BigInt(ts.sec) * 1_000_000_000n + ts.frac / 1_000_000_000n;
}

function dateText(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

function concat(dtype: DType, pieces: TypedArray[], n: number): TypedArray {
  if (pieces.length === 1 && pieces[0]?.length === n) return pieces[0];
  const out = allocTyped(dtype, n);
  let off = 0;
  for (const p of pieces) {
    (out as Uint8Array).set(p as Uint8Array, off);
    off += p.length;
  }
  return out;
}

/** Converts one key's value to a typed array of `dtype` and returns it with its number of entries. */
function toEntries(v: KeyValue, plan: DatasetPlan, where: string): { data: TypedArray; rows: number } {
  const big = plan.dtype === "int64" || plan.dtype === "uint64";
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") {
    if (plan.rowLen !== 1)
      throw new FilesError(`${where}: a scalar given for entries of shape [${plan.entryShape}]`, {
        code: "BAD_DATA",
      });
    const a = allocTyped(plan.dtype, 1);
    if (big) (a as BigInt64Array)[0] = BigInt(typeof v === "boolean" ? Number(v) : v);
    else (a as Float64Array)[0] = Number(v);
    return { data: a, rows: 1 };
  }
  let data: TypedArray;
  if (isNDArray(v)) {
    const shape = v.shape;
    const tail = shape.slice(shape.length - plan.entryShape.length);
    if (shape.length < plan.entryShape.length || tail.some((d, i) => d !== plan.entryShape[i])) {
      throw new FilesError(
        `${where}: array of shape [${shape}] does not end with the entry shape [${plan.entryShape}]`,
        { code: "BAD_DATA" },
      );
    }
    data = v.data;
  } else {
    data = v;
  }
  if (data.length % plan.rowLen !== 0) {
    throw new FilesError(
      `${where}: ${data.length} elements is not a whole number of entries of ${plan.rowLen}`,
      { code: "BAD_DATA" },
    );
  }
  const target = allocTyped(plan.dtype, 0).constructor as { name: string };
  if (data.constructor.name !== target.name) {
    // Convert element type (a copy); same-type arrays are written as they are.
    const conv = allocTyped(plan.dtype, data.length);
    if (big)
      for (let i = 0; i < data.length; i++) (conv as BigInt64Array)[i] = BigInt(data[i] as number | bigint);
    else for (let i = 0; i < data.length; i++) (conv as Float64Array)[i] = Number(data[i]);
    data = conv;
  }
  return { data, rows: data.length / plan.rowLen };
}

/** Writes one run directory. */
export class RunWriter {
  readonly dir: string;
  private readonly opts: Required<
    Omit<RunWriterOptions, "runType" | "sample" | "daqLibrary" | "karaboFramework">
  > &
    RunWriterOptions;
  private readonly sources = new Map<string, SourcePlan>();
  private readonly aggregators = new Map<string, Aggregator>();
  private lastTrain = -1;
  private closed = false;
  /** writeTrainAsync's calls, one after another, and how many have not ended yet. */
  private queue: Promise<void> = Promise.resolve();
  private asyncCalls = 0;
  readonly created = new Date();

  /** @internal use createRunWriter */
  constructor(dir: string, options: RunWriterOptions) {
    this.dir = dir;
    this.opts = {
      category: "RAW",
      trainsPerSequence: 256,
      flushEvery: 1,
      compression: 0,
      // Big uncompressed chunks read fastest (HDF5 reads a partial chunk straight from the file) and,
      // bigger than HDF5's chunk cache, are written without a copy in HDF5 (HDF5_CHUNK_CACHE_BYTES);
      // compressed chunks are decompressed whole, so they stay small.
      chunkBytes: options.compression ? 1 << 20 : 16 << 20,
      writeIndex: true,
      // An option given as undefined keeps its default (the DAQ's recorder passes its own optional ones on).
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as RunWriterOptions),
    };
    if (!Number.isInteger(options.run) || options.run < 0)
      throw new SaseError("BAD_OPTION", `run number must be a non-negative integer`, {
        value: showValue(options.run),
      });
    if (this.opts.trainsPerSequence < 1 || this.opts.flushEvery < 1)
      throw new SaseError("BAD_OPTION", "trainsPerSequence and flushEvery must be >= 1");
  }

  private chunkRows(rowBytes: number, perTrain: boolean): number {
    const rows = Math.max(1, Math.floor(this.opts.chunkBytes / Math.max(rowBytes, 1)));
    return Math.min(rows, perTrain ? this.opts.trainsPerSequence : 4096);
  }

  private plan(path: string, spec: KeySpec, perTrain: boolean): DatasetPlan {
    const entryShape = [...(spec.entryShape ?? [])];
    const rowLen = shapeSize(entryShape);
    const bytes = rowLen * allocTyped(spec.dtype, 1).BYTES_PER_ELEMENT;
    const chunkRows = this.chunkRows(bytes, perTrain);
    return {
      path,
      dtype: spec.dtype,
      entryShape,
      rowLen,
      chunkRows,
      alignedChunks: this.opts.compression === 0 && chunkRows * bytes >= ALIGNED_CHUNK_BYTES,
      // Small chunks too (a detector's cellId and pulseId, a control source's values): through HDF5
      // each train cost a resize, a write and a second flush per aggregator (~0.4 ms); written
      // directly, a train's few bytes are a pwrite, and HDF5 allocates a chunk every few hundred or
      // thousand trains. Chunks from 1 MiB up to HDF5's cache stay with HDF5, which writes them whole;
      // booleans too (HDF5's enum, not raw bytes of ours).
      unfilled:
        this.opts.compression === 0 &&
        (chunkRows * bytes > HDF5_CHUNK_CACHE_BYTES ||
          (chunkRows * bytes < ALIGNED_CHUNK_BYTES && spec.dtype !== "bool")),
      pending: [],
      pendingRows: 0,
      rows: 0,
      capacity: 0,
    };
  }

  private register(name: string, plan: SourcePlan): void {
    if (this.lastTrain >= 0)
      throw new FilesError(`source ${name} added after the first train`, { code: "BAD_DATA" });
    if (this.sources.has(name)) throw new FilesError(`source ${name} added twice`, { code: "BAD_DATA" });
    this.sources.set(name, plan);
    let agg = this.aggregators.get(plan.aggregator);
    if (!agg) {
      agg = new Aggregator(this, plan.aggregator);
      this.aggregators.set(plan.aggregator, agg);
    }
    agg.addSource(plan);
  }

  /** Declares a control source (before the first train). */
  addControlSource(name: string, spec: ControlSourceSpec): void {
    if (name.includes(":"))
      throw new FilesError(`control source names have no output channel: ${name}`, { code: "BAD_DATA" });
    const datasets = new Map<string, DatasetPlan>();
    const keyMap = new Map<string, { group: string; dataset: string }>();
    for (const [prop, ks] of Object.entries(spec.properties)) {
      const base = `/CONTROL/${name}/${prop.replaceAll(".", "/")}`;
      datasets.set(`${prop}.value`, this.plan(`${base}/value`, ks, true));
      datasets.set(`${prop}.timestamp`, this.plan(`${base}/timestamp`, { dtype: "uint64" }, true));
      keyMap.set(prop, { group: "", dataset: `${prop}.value` });
    }
    const group: GroupPlan = {
      source: name,
      indexPath: `/INDEX/${name}`,
      datasets,
      pendingCounts: [],
      rows: 0,
      written: 0,
    };
    this.register(name, {
      name,
      section: "CONTROL",
      aggregator: spec.aggregator,
      groups: new Map([["", group]]),
      control: spec,
      keyMap,
    });
  }

  /** Declares an instrument source "<device>:<channel>" (before the first train). */
  addInstrumentSource(name: string, spec: InstrumentSourceSpec): void {
    if (!/^[^:]+:[^:/]+$/.test(name))
      throw new FilesError(`instrument source must be "<device>:<channel>": ${name}`, { code: "BAD_DATA" });
    const groups = new Map<string, GroupPlan>();
    const keyMap = new Map<string, { group: string; dataset: string }>();
    for (const [key, ks] of Object.entries(spec.keys)) {
      const dot = key.indexOf(".");
      if (dot <= 0)
        throw new FilesError(`instrument key needs a group prefix ("image.data"): ${key} of ${name}`, {
          code: "BAD_DATA",
        });
      const g = key.slice(0, dot);
      let gp = groups.get(g);
      if (!gp) {
        gp = {
          source: name,
          indexPath: `/INDEX/${name}/${g}`,
          datasets: new Map(),
          pendingCounts: [],
          rows: 0,
          written: 0,
        };
        groups.set(g, gp);
      }
      gp.datasets.set(key, this.plan(`/INSTRUMENT/${name}/${key.replaceAll(".", "/")}`, ks, false));
      keyMap.set(key, { group: g, dataset: key });
    }
    this.register(name, { name, section: "INSTRUMENT", aggregator: spec.aggregator, groups, keyMap });
  }

  /** Checks and buffers one train; the aggregators with a flush or a close now due. */
  private buffer(trainId: number, data: TrainInput, options: { timestamp?: Timestamp; flag?: 0 | 1 }): Due[] {
    if (this.closed) throw new FilesError("writer is closed", { code: "CLOSED" });
    if (!Number.isSafeInteger(trainId) || trainId <= 0)
      throw new FilesError(`bad train ID ${trainId}`, { code: "BAD_DATA" });
    if (trainId <= this.lastTrain)
      throw new FilesError(`train IDs must increase: ${trainId} after ${this.lastTrain}`, {
        code: "BAD_DATA",
        trainId,
      });
    for (const s of Object.keys(data))
      if (!this.sources.has(s)) throw new FilesError(`unknown source ${s}`, { code: "BAD_DATA", trainId });
    // Check and convert everything before touching any buffer, so a bad train leaves no trace.
    const converted = new Map<DatasetPlan, TypedArray>();
    const counts = new Map<GroupPlan, number>();
    for (const src of this.sources.values()) {
      const given = data[src.name];
      for (const g of src.groups.values()) counts.set(g, 0);
      if (!given) continue;
      for (const k of Object.keys(given)) {
        if (!src.keyMap.has(k))
          throw new FilesError(`unknown key ${k} of source ${src.name}`, { code: "BAD_DATA", trainId });
      }
      for (const [key, where] of src.keyMap) {
        const g = src.groups.get(where.group) as GroupPlan;
        const plan = g.datasets.get(where.dataset) as DatasetPlan;
        const v = given[key];
        const label = `source ${src.name} key ${key} train ${trainId}`;
        if (v === undefined)
          throw new FilesError(`${label}: missing (every key of a source must be given)`, {
            code: "BAD_DATA",
          });
        const { data: arr, rows } = toEntries(v, plan, label);
        if (src.section === "CONTROL" && rows !== 1)
          throw new FilesError(`${label}: control keys take one entry per train`, { code: "BAD_DATA" });
        const prev = counts.get(g) ?? 0;
        if (prev !== 0 && prev !== rows)
          throw new FilesError(
            `${label}: ${rows} entries, other keys of group "${where.group}" have ${prev}`,
            { code: "BAD_DATA" },
          );
        counts.set(g, rows);
        converted.set(plan, arr);
        if (src.section === "CONTROL") {
          const ts = allocTyped("uint64", 1) as BigUint64Array;
          ts[0] = nsOf(options.timestamp);
          converted.set(g.datasets.get(`${key}.timestamp`) as DatasetPlan, ts);
        }
      }
    }
    for (const [plan, arr] of converted) {
      plan.pending.push(arr);
      plan.pendingRows += arr.length / plan.rowLen;
    }
    for (const [g, c] of counts) g.pendingCounts.push(c);
    const ns = nsOf(options.timestamp);
    const due: Due[] = [];
    for (const agg of this.aggregators.values()) {
      const what = agg.addTrain(trainId, ns, options.flag ?? 1);
      if (what) due.push({ agg, what });
    }
    this.lastTrain = trainId;
    return due;
  }

  /**
   * writeTrain, with the rows written directly (big detector data) going out on libuv's thread pool,
   * several files at a time: where a train's data spreads over several aggregators' files (one per
   * detector module), its pwrites run in parallel (see runRowWrites). Resolves once the train is
   * written as writeTrain would have left it; the given arrays must not change until then. Calls are
   * taken one at a time, in the order made.
   */
  writeTrainAsync(
    trainId: number,
    data: TrainInput,
    options: { timestamp?: Timestamp; flag?: 0 | 1 } = {},
  ): Promise<void> {
    this.asyncCalls++;
    const run = this.queue.then(async () => {
      try {
        const due = this.buffer(trainId, data, options);
        const begun = due.map(({ agg, what }) => ({ agg, what, flush: agg.beginFlush() }));
        await runRowWrites(begun.flatMap((b) => b.flush?.writes ?? []));
        for (const { agg, what, flush } of begun) {
          flush?.finish(what === "close");
          if (what === "close") agg.closeFile();
        }
      } finally {
        this.asyncCalls--;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** Buffers one train (train IDs must increase); writes and flushes every `flushEvery` trains. */
  writeTrain(trainId: number, data: TrainInput, options: { timestamp?: Timestamp; flag?: 0 | 1 } = {}): void {
    this.checkIdle("writeTrain");
    for (const { agg, what } of this.buffer(trainId, data, options)) {
      if (what === "close") agg.close();
      else agg.flush();
    }
  }

  // A sync call while writeTrainAsync's calls are queued or writing would overtake them, or interleave
  // HDF5 calls with their writes.
  private checkIdle(what: string): void {
    if (this.asyncCalls > 0)
      throw new FilesError(`${what} while writeTrainAsync calls are pending: await them first`, {
        code: "WRONG_STATE",
      });
  }

  /** Trains buffered and not yet written (their arrays are still referenced, not copied). */
  get bufferedTrains(): number {
    let n = 0;
    for (const agg of this.aggregators.values()) n = Math.max(n, agg.buffered);
    return n;
  }

  /** Writes what is buffered and flushes every open file. */
  flush(): void {
    this.checkIdle("flush");
    for (const agg of this.aggregators.values()) agg.flush();
  }

  /** Flushes, closes every file and writes the run index (after any writeTrainAsync still going). */
  async close(): Promise<void> {
    if (this.closed) return;
    // Calls of writeTrainAsync made before this one are written first; any made after, refused.
    await this.queue;
    if (this.closed) return;
    this.closed = true;
    for (const agg of this.aggregators.values()) agg.close();
    if (this.opts.writeIndex) await writeRunIndex(this.dir);
    log.debug("run written", { dir: this.dir, run: this.opts.run, lastTrain: this.lastTrain });
  }

  /** @internal */
  get options() {
    return this.opts;
  }
}

/** An aggregator with a flush, or the close of its file, due after a train. */
interface Due {
  readonly agg: Aggregator;
  readonly what: "flush" | "close";
}

/**
 * Trains a dataset written directly is grown ahead by (within its sequence): HDF5 then allocates its
 * chunks, and the file is flushed to list them, once every few trains instead of at every flush.
 */
const TRAINS_AHEAD = 3;

/**
 * A first sequence file's bytes before any train, and where it holds the values that differ between
 * the files made from it (file positions of METADATA's sequenceNumber, runNumber, proposalNumber,
 * creationDate and updateDate, each stored contiguously).
 */
interface Skeleton {
  readonly file: H5Snapshot;
  readonly at: {
    readonly sequence: number;
    readonly run: number;
    readonly proposal: number;
    readonly creationDate: number;
    readonly updateDate: number;
  };
  readonly indexCapacity: number;
}

/**
 * Skeletons of this process's runs by layout (Aggregator.layoutKey), the newest last: a DAQ records
 * run after run from the same sources, and each run's first files then start as copies too (a file
 * made through HDF5 costs ~4 ms warm, ~15 ms cold; 16 detector modules at every run start).
 */
const skeletons = new Map<string, Skeleton>();
const SKELETONS_KEPT = 64;

function rememberSkeleton(key: string, skeleton: Skeleton): void {
  skeletons.delete(key);
  skeletons.set(key, skeleton);
  for (const oldest of skeletons.keys()) {
    if (skeletons.size <= SKELETONS_KEPT) break;
    skeletons.delete(oldest);
  }
}

function uint32Bytes(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  return b;
}

function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Rows per chunk of INDEX's datasets: a whole sequence, up to 4096 trains. */
const indexChunkRows = (trainsPerSequence: number) => Math.min(trainsPerSequence, 4096);

/** The sequence files of one aggregator. */
class Aggregator {
  /** Added with addSource. */
  readonly sources: SourcePlan[] = [];
  /** Its datasets in the order a flush writes them; worked out again when a source is added. */
  private writeOrder: readonly DatasetPlan[] | null = null;
  private file: H5File | null = null;
  private sequence = -1;
  private trainsInFile = 0;
  private readonly pendingTrains: { id: number; ns: bigint; flag: number }[] = [];
  private indexRows = 0;
  /** Rows INDEX's datasets have in the open file (trains written and room for more: growIndex). */
  private indexCapacity = 0;
  /** Whether any dataset of this aggregator has aligned chunks (set as sources are added). */
  private alignedChunks = false;
  /** The open file's METADATA/updateDate as last written (whole seconds), and that second. */
  private updateDate = "";
  private updateSecond = 0;
  /** The first file's bytes before any train: later sequence files start as copies of it (see open). */
  private skeleton: Skeleton | null = null;

  constructor(
    private readonly writer: RunWriter,
    readonly name: string,
  ) {}

  /** Adds a source (the writer allows it before the first train only). */
  addSource(plan: SourcePlan): void {
    this.sources.push(plan);
    this.writeOrder = null;
    for (const g of plan.groups.values())
      for (const d of g.datasets.values()) if (d.alignedChunks) this.alignedChunks = true;
  }

  /** Trains buffered, not yet written. */
  get buffered(): number {
    return this.pendingTrains.length;
  }

  /** Buffers a train's place in this aggregator's files; what is due now: a flush, or closing the file. */
  addTrain(id: number, ns: bigint, flag: number): "flush" | "close" | undefined {
    if (!this.file) this.open();
    this.pendingTrains.push({ id, ns, flag });
    this.trainsInFile++;
    const o = this.writer.options;
    if (this.trainsInFile >= o.trainsPerSequence) return "close";
    if (this.pendingTrains.length >= o.flushEvery) return "flush";
    return undefined;
  }

  private get fileName(): string {
    const o = this.writer.options;
    return formatFileName({
      category: o.category,
      run: o.run,
      aggregator: this.name,
      sequence: this.sequence,
    });
  }

  private open(): void {
    this.sequence++;
    this.trainsInFile = 0;
    this.indexRows = 0;
    this.indexCapacity = 0;
    // A new file holds no rows yet.
    for (const s of this.sources)
      for (const g of s.groups.values()) {
        g.rows = 0;
        g.written = 0;
        for (const d of g.datasets.values()) {
          d.rows = 0;
          d.capacity = 0;
        }
      }
    const o = this.writer.options;
    // Built under a hidden name and published once its skeleton is flushed: a process killed while
    // HDF5 writes the first headers leaves no file under the EXDF name that h5py cannot open.
    const part = join(this.writer.dir, `.${this.fileName}.part`);
    const skeleton = this.skeleton ?? this.cachedSkeleton();
    if (skeleton) {
      // The sources are fixed since the first train, so every later file starts as the first did but
      // for its sequence number (and, from an earlier run's skeleton, its run): one write instead of
      // ~40 datasets and groups made through HDF5.
      this.skeleton = skeleton;
      const second = Math.floor(Date.now() / 1000);
      this.updateDate = dateText(new Date(second * 1000));
      this.updateSecond = second;
      this.file = H5File.createFrom(part, skeleton.file, [
        [skeleton.at.sequence, uint32Bytes(this.sequence)],
        [skeleton.at.updateDate, asciiBytes(this.updateDate)],
      ]);
      this.indexCapacity = skeleton.indexCapacity;
      this.file.moveTo(join(this.writer.dir, this.fileName), { replace: true });
      return;
    }
    const h5 = H5File.create(part);
    this.file = h5;
    // METADATA
    const ids: string[] = [];
    for (const s of this.sources) {
      if (s.section === "CONTROL") ids.push(`CONTROL/${s.name}`);
      else for (const g of s.groups.keys()) ids.push(`INSTRUMENT/${s.name}/${g}`);
    }
    h5.createStrings("/METADATA/dataSources/dataSourceId", ids, 0, true);
    h5.createStrings(
      "/METADATA/dataSources/root",
      ids.map((i) => i.slice(0, i.indexOf("/"))),
      0,
      true,
    );
    h5.createStrings(
      "/METADATA/dataSources/deviceId",
      ids.map((i) => i.slice(i.indexOf("/") + 1)),
      0,
      true,
    );
    h5.createStrings("/METADATA/dataFormatVersion", [WRITTEN_FORMAT_VERSION]);
    // Fixed-length, as updateDate: a later run's files start as copies of this one's (see Skeleton).
    h5.createStrings("/METADATA/creationDate", [dateText(this.writer.created)], 16);
    // Fixed-length so that it can be rewritten at every flush.
    this.updateDate = dateText(new Date());
    this.updateSecond = 0;
    h5.createStrings("/METADATA/updateDate", [this.updateDate], 16);
    h5.createStrings("/METADATA/daqLibrary", [o.daqLibrary ?? `sase-${SASE_VERSION}`]);
    h5.createStrings("/METADATA/karaboFramework", [o.karaboFramework ?? `sase-${SASE_VERSION}`]);
    h5.createStrings("/METADATA/runType", [o.runType ?? ""]);
    h5.createStrings("/METADATA/sample", [o.sample ?? ""]);
    h5.createFixed("/METADATA/proposalNumber", "uint32", new Uint32Array([o.proposal]), [1]);
    h5.createFixed("/METADATA/runNumber", "uint32", new Uint32Array([o.run]), [1]);
    h5.createFixed("/METADATA/sequenceNumber", "uint32", new Uint32Array([this.sequence]), [1]);
    // INDEX
    const idxChunk = indexChunkRows(o.trainsPerSequence);
    h5.createExtendable("/INDEX/trainId", "uint64", [], idxChunk);
    h5.createExtendable("/INDEX/timestamp", "uint64", [], idxChunk);
    h5.createExtendable("/INDEX/flag", "int32", [], idxChunk);
    h5.createExtendable("/INDEX/origin", "int32", [], idxChunk);
    // INDEX is written like the big datasets: sized for the whole sequence once (below), a flush
    // writes its rows with a few pwrites instead of an HDF5 resize and write per dataset (~0.1 ms
    // each here), the train list last; close cuts it to the trains written.
    for (const k of ["trainId", "timestamp", "flag", "origin"]) h5.writeChunksDirect(`/INDEX/${k}`);
    for (const s of this.sources) {
      for (const g of s.groups.values()) {
        for (const k of ["first", "count"]) {
          h5.createExtendable(`${g.indexPath}/${k}`, "uint64", [], idxChunk);
          h5.writeChunksDirect(`${g.indexPath}/${k}`);
        }
        for (const d of g.datasets.values()) {
          h5.createExtendable(d.path, d.dtype, d.entryShape, d.chunkRows, o.compression);
          // Every row is written before INDEX lists it (rows grown ahead are cut at close), so no chunk
          // needs HDF5's fill (see writeChunksDirect); the chunk index of such a dataset is made once
          // that is set (at the end of open).
          if (d.unfilled) h5.writeChunksDirect(d.path);
          // HDF5 allocates a chunk index's first node (3.6 KB for 3-D entries) just before the first
          // chunk; made now, the first chunk lands where the skeleton's end is aligned.
          else if (d.alignedChunks) h5.createChunkIndex(d.path, d.dtype, d.entryShape);
        }
      }
      if (s.control) this.writeRunSection(h5, s, s.control);
    }
    h5.ensureGroup("/RUN");
    h5.flush();
    // Replacing is what creating in place did: the writer's callers decide about existing runs.
    h5.moveTo(join(this.writer.dir, this.fileName), { replace: true });
    // Sets the fill and allocation times of the datasets written directly (closing and reopening the
    // file), and aligns the end while at it: below a multiple by the size of the chunk indexes made
    // next, so that the file's end is aligned after them. (INDEX's chunks, allocated after those,
    // move it off again: the end check below closes and reopens once more.)
    const unfilled = this.datasetsInWriteOrder().filter((d) => d.unfilled);
    let nodes = 0;
    for (const d of unfilled) nodes += H5File.chunkIndexNodeBytes(d.entryShape);
    h5.alignEnd(CHUNK_ALIGNMENT, nodes);
    // The chunk indexes of datasets written unfilled are made once their fill time is set (the file
    // was reopened just now): the row written to make one then costs a row, not a whole filled chunk.
    for (const d of unfilled) h5.createChunkIndex(d.path, d.dtype, d.entryShape);
    // INDEX for a chunk of trains (every train of a sequence of up to 4096), allocated now: unwritten,
    // zeros in a new file, which readers take for the padding a sequence file of the facility's DAQ
    // has at its end.
    this.growIndex(h5, 1);
    h5.flush();
    // Aligns the end after INDEX's chunks (closing and reopening when it is not).
    this.alignForChunks(h5);
    // Flushed (and aligned): the file as it is now starts every later sequence of this aggregator,
    // and the first sequence of its later runs in this process.
    const at = {
      sequence: h5.contiguousAt("/METADATA/sequenceNumber", 4),
      run: h5.contiguousAt("/METADATA/runNumber", 4),
      proposal: h5.contiguousAt("/METADATA/proposalNumber", 4),
      creationDate: h5.contiguousAt("/METADATA/creationDate", 16),
      updateDate: h5.contiguousAt("/METADATA/updateDate", 16),
    };
    if (Object.values(at).every((x) => x !== null)) {
      this.skeleton = {
        file: h5.snapshot(),
        at: at as Skeleton["at"],
        indexCapacity: this.indexCapacity,
      };
      const key = this.layoutKey();
      if (key !== null) rememberSkeleton(key, this.skeleton);
    }
  }

  /**
   * An earlier run's skeleton for these sources (see rememberSkeleton), its run, proposal and
   * creation date made this run's; null when there is none.
   */
  private cachedSkeleton(): Skeleton | null {
    const key = this.layoutKey();
    const earlier = key === null ? undefined : skeletons.get(key);
    if (!earlier) return null;
    const o = this.writer.options;
    const bytes = new Uint8Array(earlier.file.bytes);
    bytes.set(uint32Bytes(o.run), earlier.at.run);
    bytes.set(uint32Bytes(o.proposal), earlier.at.proposal);
    bytes.set(asciiBytes(dateText(this.writer.created)), earlier.at.creationDate);
    return { ...earlier, file: { bytes, headers: earlier.file.headers } };
  }

  /**
   * What a first file's skeleton depends on besides run, proposal, sequence and dates: its sources
   * with every dataset's type and chunking, and the options written into it. Null when it also holds
   * a RUN section (control sources: their values and timestamps at this run's start).
   */
  private layoutKey(): string | null {
    if (this.sources.some((s) => s.control)) return null;
    const o = this.writer.options;
    return JSON.stringify([
      WRITTEN_FORMAT_VERSION,
      [o.trainsPerSequence, o.compression, o.daqLibrary, o.karaboFramework, o.runType, o.sample],
      this.sources.map((s) => [
        s.name,
        s.section,
        [...s.groups.values()].map((g) => [
          g.indexPath,
          [...g.datasets.values()].map((d) => [d.path, d.dtype, d.entryShape, d.chunkRows]),
        ]),
      ]),
    ]);
  }

  private writeRunSection(h5: H5File, s: SourcePlan, spec: ControlSourceSpec): void {
    for (const [prop, ks] of Object.entries(spec.properties)) {
      const base = `/RUN/${s.name}/${prop.replaceAll(".", "/")}`;
      const shape = [1, ...(ks.entryShape ?? [])];
      const v = spec.runValues?.[prop];
      if (typeof v === "string") {
        h5.createStrings(`${base}/value`, [v]);
      } else {
        const arr = allocTyped(ks.dtype, shapeSize(shape));
        if (v !== undefined) {
          const plan: DatasetPlan = { ...this.dummyPlan(ks), path: base };
          arr.set(toEntries(v, plan, `RUN value ${s.name} ${prop}`).data as never);
        }
        h5.createFixed(`${base}/value`, ks.dtype, arr, shape);
      }
      h5.createFixed(`${base}/timestamp`, "uint64", new BigUint64Array([nsOf(undefined)]), [1]);
    }
  }

  private dummyPlan(ks: KeySpec): DatasetPlan {
    const entryShape = ks.entryShape ?? [];
    return {
      path: "",
      dtype: ks.dtype,
      entryShape,
      rowLen: shapeSize(entryShape),
      chunkRows: 1,
      alignedChunks: false,
      unfilled: false,
      pending: [],
      pendingRows: 0,
      rows: 0,
      capacity: 0,
    };
  }

  /**
   * Writes buffered trains of this aggregator's sources, then flushes the file; unless the file is
   * about to close, its end is then aligned for the next big chunks (see alignForChunks).
   */
  flush(closing = false): void {
    const begun = this.beginFlush();
    if (!begun) return;
    for (const w of begun.writes) pwriteSync(w.fd, w.bytes, w.position);
    begun.finish(closing);
  }

  /**
   * The first part of a flush: HDF5 allocates what the buffered trains need, and the pwrites of the
   * rows written directly are worked out, for the caller to do (flush: one after another; the
   * writer's writeTrainAsync: several files at a time) before it calls `finish`, which writes the
   * rest and INDEX. Undefined when nothing is buffered.
   */
  beginFlush(): { writes: RowWrite[]; finish: (closing: boolean) => void } | undefined {
    const h5 = this.file;
    if (!h5 || this.pendingTrains.length === 0) return undefined;
    const n = this.pendingTrains.length;
    const t = this.pendingTrains.splice(0, n);
    // INDEX of these trains, written like the big datasets (see open).
    const index: { path: string; data: BigUint64Array | Int32Array }[] = [];
    for (const s of this.sources) {
      for (const g of s.groups.values()) {
        const counts = g.pendingCounts.splice(0, n);
        const first = new BigUint64Array(n);
        const count = new BigUint64Array(n);
        counts.forEach((c, i) => {
          first[i] = BigInt(g.rows);
          count[i] = BigInt(c);
          g.rows += c;
        });
        index.push(
          { path: `${g.indexPath}/first`, data: first },
          { path: `${g.indexPath}/count`, data: count },
        );
      }
    }
    index.push(
      { path: "/INDEX/timestamp", data: BigUint64Array.from(t, (x) => x.ns) },
      { path: "/INDEX/flag", data: Int32Array.from(t, (x) => x.flag) },
      { path: "/INDEX/origin", data: new Int32Array(n).fill(-1) },
      // Last: see the end of this method.
      { path: "/INDEX/trainId", data: BigUint64Array.from(t, (x) => BigInt(x.id)) },
    );
    const order = this.datasetsInWriteOrder();
    // Datasets written directly: HDF5 allocates their new chunks as they grow (big ones first, at the
    // aligned end of the file), the flush puts the chunk indexes in the file, and the rows go from the
    // caller's arrays (and INDEX's) to their places there. INDEX/trainId does not list the trains yet:
    // a writer killed meanwhile leaves rows past it, which readers do not read.
    const direct = order.filter((d) => d.unfilled && d.pendingRows > 0);
    // Whether HDF5 allocates anything in this flush (so the chunk indexes in the file change).
    let allocated = false;
    const ahead = Math.min(TRAINS_AHEAD, this.writer.options.trainsPerSequence - this.trainsInFile);
    const grow = (d: DatasetPlan) => {
      const need = d.rows + d.pendingRows;
      if (need <= d.capacity) return;
      // Room for `ahead` more trains like these, in whole chunks: one resize and flush for several.
      const rows = need + Math.ceil((d.pendingRows / n) * ahead);
      d.capacity = Math.ceil(rows / d.chunkRows) * d.chunkRows;
      h5.resize(d.path, d.capacity, d.entryShape);
      allocated = true;
    };
    for (const d of direct) if (d.alignedChunks) grow(d);
    // Other big datasets next, through HDF5: their new chunks follow (no small chunk in between).
    for (const d of order)
      if (d.alignedChunks && d.pendingRows > 0 && !d.unfilled) {
        this.writeThroughHdf5(h5, d);
        allocated = true;
      }
    // Then the small chunks of datasets written directly.
    for (const d of direct) if (!d.alignedChunks) grow(d);
    // INDEX's next chunk, when these trains need one, after the big ones (which start aligned).
    if (this.growIndex(h5, this.indexRows + n)) allocated = true;
    if (allocated) h5.flush();
    const writes: RowWrite[] = [];
    for (const d of direct) {
      const itemBytes = allocTyped(d.dtype, 0).BYTES_PER_ELEMENT;
      let row = d.rows;
      for (const piece of d.pending) {
        const rows = piece.length / d.rowLen;
        writes.push(...h5.rowWrites(d.path, itemBytes, d.entryShape, row, rows, piece));
        row += rows;
      }
      d.rows += d.pendingRows;
      d.pending = [];
      d.pendingRows = 0;
    }
    return { writes, finish: (closing) => this.finishFlush(h5, order, index, n, allocated, closing) };
  }

  /** The rest of a flush, once beginFlush's writes are done: the other datasets, then INDEX. */
  private finishFlush(
    h5: H5File,
    order: readonly DatasetPlan[],
    index: readonly { path: string; data: BigUint64Array | Int32Array }[],
    n: number,
    allocated: boolean,
    closing: boolean,
  ): void {
    // The other datasets through HDF5, and a second flush for them, before INDEX lists their trains.
    let hdf5Wrote = false;
    for (const d of order)
      if (d.pendingRows > 0) {
        this.writeThroughHdf5(h5, d);
        hdf5Wrote = true;
      }
    // Whole seconds: within the second already written, rewriting it would write the same bytes.
    // Written where the skeleton says it is, by pwrite: through HDF5 it cost a write and a flush
    // (~0.5 ms) once a second for every aggregator.
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.updateSecond) {
      const updated = dateText(new Date(second * 1000));
      if (updated !== this.updateDate) {
        const at = this.skeleton?.at.updateDate;
        if (at !== undefined) h5.writeAt(at, asciiBytes(updated));
        else {
          h5.writeFixedStrings("/METADATA/updateDate", [updated]);
          hdf5Wrote = true;
        }
      }
      this.updateDate = updated;
      this.updateSecond = second;
    }
    if (hdf5Wrote) h5.flush();
    // INDEX last, the train list after the rest of it: a reader trusts INDEX/trainId, so it only
    // lists a train once everything of it is in the file.
    for (const x of index)
      h5.writeRowsDirect(x.path, x.data.BYTES_PER_ELEMENT, [], this.indexRows, n, x.data);
    this.indexRows += n;
    if (!closing && (allocated || hdf5Wrote)) this.alignForChunks(h5);
  }

  /**
   * Sizes INDEX for at least `rows` trains, a whole chunk at a time (never past the sequence's
   * length): HDF5 allocates the new chunks, the next flush puts them in the file. True when it grew.
   */
  private growIndex(h5: H5File, rows: number): boolean {
    if (rows <= this.indexCapacity) return false;
    const o = this.writer.options;
    const chunk = indexChunkRows(o.trainsPerSequence);
    this.indexCapacity = Math.min(o.trainsPerSequence, Math.ceil(rows / chunk) * chunk);
    for (const path of this.indexPaths()) h5.resize(path, this.indexCapacity, []);
    return true;
  }

  /** Every INDEX dataset of this aggregator's files: the train list, its columns, each group's. */
  private indexPaths(): string[] {
    const paths = ["/INDEX/trainId", "/INDEX/timestamp", "/INDEX/flag", "/INDEX/origin"];
    for (const s of this.sources)
      for (const g of s.groups.values()) paths.push(`${g.indexPath}/first`, `${g.indexPath}/count`);
    return paths;
  }

  /**
   * Every per-train dataset of this aggregator, those with big chunks first (declaration order
   * otherwise); worked out once, since sources are only added before the first train.
   */
  private datasetsInWriteOrder(): readonly DatasetPlan[] {
    if (this.writeOrder) return this.writeOrder;
    const all: DatasetPlan[] = [];
    for (const s of this.sources) for (const g of s.groups.values()) all.push(...g.datasets.values());
    this.writeOrder = [...all.filter((d) => d.alignedChunks), ...all.filter((d) => !d.alignedChunks)];
    return this.writeOrder;
  }

  /**
   * HDF5 puts a flushed file's next new chunk at the end of the file, wherever its metadata and small
   * chunks left it (sase's data sat at 8 and 40 mod 64); the kernel copies a chunk from the page
   * cache ~25 % slower into a buffer not aligned as the chunk is in the file. So a file holding big
   * chunks has its end moved to the next 4 KiB (at most 4 KiB of unused space per flush that needed it:
   * usually the first, or one that allocated small chunks or index nodes).
   */
  private alignForChunks(h5: H5File): void {
    if (this.alignedChunks) h5.alignEnd(CHUNK_ALIGNMENT);
  }

  /** Writes a dataset's buffered rows through HDF5 (resized first). */
  private writeThroughHdf5(h5: H5File, d: DatasetPlan): void {
    const data = concat(d.dtype, d.pending, d.pendingRows * d.rowLen);
    h5.resize(d.path, d.rows + d.pendingRows, d.entryShape);
    h5.writeRows(d.path, d.entryShape, d.rows, d.pendingRows, data);
    d.rows += d.pendingRows;
    d.pending = [];
    d.pendingRows = 0;
  }

  close(): void {
    if (!this.file) return;
    this.flush(true);
    this.closeFile();
  }

  /** Closes the file, flushed already (close, or a flush with `closing` set). */
  closeFile(): void {
    if (!this.file) return;
    // INDEX was sized a chunk of trains at a time, datasets written directly a few trains ahead: the
    // file keeps only what was written.
    if (this.indexRows < this.indexCapacity)
      for (const path of this.indexPaths()) this.file.resize(path, this.indexRows, []);
    for (const d of this.datasetsInWriteOrder())
      if (d.capacity > d.rows) this.file.resize(d.path, d.rows, d.entryShape);
    this.file.close();
    this.file = null;
  }
}

/** Starts writing a run into `dir` (which must exist). */
export async function createRunWriter(dir: string, options: RunWriterOptions): Promise<RunWriter> {
  // Checked here, not left to HDF5's "unable to open file" at the first train: the writer does not
  // make the directory itself, so that a mistyped path is not recorded into silently.
  const kind = statSync(dir, { throwIfNoEntry: false });
  if (!kind?.isDirectory())
    throw new FilesError(kind ? "run directory is not a directory" : "run directory not found", {
      file: dir,
      code: "NOT_FOUND",
    });
  await h5Ready();
  return new RunWriter(dir, options);
}
