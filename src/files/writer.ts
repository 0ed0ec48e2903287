// Writes runs in the EXDF layout: one sequence file per aggregator at a time, rolling to the next
// sequence after a set number of trains. Trains are buffered and written every `flushEvery` trains,
// then the file is flushed, so that whatever was flushed is a complete, readable file even if the
// process dies before close(). close() writes the run index beside the files.
import { statSync } from "node:fs";
import {
  allocTyped,
  createLogger,
  SaseError,
  SerialCalls,
  shapeSize,
  showValue,
  type Timestamp,
  type TypedArray,
} from "../core/index.ts";
import { Aggregator } from "./aggregator.ts";
import { runRowWrites } from "./direct.ts";
import { FilesError } from "./errors.ts";
import { h5Ready } from "./h5.ts";
import { writeRunIndex } from "./runindex.ts";
import {
  type ControlSourceSpec,
  type DatasetPlan,
  type GroupPlan,
  type InstrumentSourceSpec,
  type KeySpec,
  nsOf,
  type RunWriterOptions,
  type SourcePlan,
  type TrainInput,
  toEntries,
  type WriterSettings,
} from "./write-plan.ts";

export {
  type ControlSourceSpec,
  type InstrumentSourceSpec,
  type KeySpec,
  type KeyValue,
  type RunWriterOptions,
  type TrainInput,
  WRITTEN_FORMAT_VERSION,
} from "./write-plan.ts";

const log = createLogger("files.writer");

/** Chunks of at least this many bytes start at CHUNK_ALIGNMENT in the file (Aggregator.alignForChunks). */
const ALIGNED_CHUNK_BYTES = 1 << 20;
/**
 * HDF5's default chunk cache per dataset (8 MiB since HDF5 2.0, which h5wasm 0.10.3 holds): only
 * bigger chunks can be written without passing through it.
 */
const HDF5_CHUNK_CACHE_BYTES = 8 << 20;

/** Writes one run directory. */
export class RunWriter {
  readonly dir: string;
  private readonly opts: WriterSettings;
  private readonly sources = new Map<string, SourcePlan>();
  private readonly aggregators = new Map<string, Aggregator>();
  private lastTrain = -1;
  private closed = false;
  /** writeTrainAsync's calls, one after another. */
  private readonly asyncCalls = new SerialCalls();
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
    return this.asyncCalls.run(async () => {
      const due = this.buffer(trainId, data, options);
      const begun = due.map(({ agg, what }) => ({ agg, what, flush: agg.beginFlush() }));
      await runRowWrites(begun.flatMap((b) => b.flush?.writes ?? []));
      for (const { agg, what, flush } of begun) {
        flush?.finish(what === "close");
        if (what === "close") agg.closeFile();
      }
    });
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
    if (this.asyncCalls.pending > 0)
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
    await this.asyncCalls.idle();
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
