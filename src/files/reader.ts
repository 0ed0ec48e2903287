// Lazy reading of EXDF runs, with EXtra-data's nouns: a DataCollection of trains, sources and keys;
// select()/selectTrains() narrow it; keyData() reads one key as arrays aligned on train IDs across all
// sequence files. Nothing is read from HDF5 until data is asked for; the structure comes from the run
// index.
import { statSync } from "node:fs";
import { join } from "node:path";
import {
  allocTyped,
  type DType,
  itemSize,
  type NDArray,
  ndarray,
  shapeSize,
  type TypedArray,
  SaseError,
  showValue,
} from "../core/index.ts";
import { FilesError } from "./errors.ts";
import { type PlacedExtents, readExtentsParallel, readRowsDirect, rowExtents } from "./direct.ts";
import { type ArrayInFile, arrayInFile, type InFilePiece } from "./infile.ts";
import { type DatasetInfo, directReadsOn, H5File, h5Loaded, h5Ready } from "./h5.ts";
import type { KeyDType, RecordField } from "./element-types.ts";
import { type RawDataset, RawH5File, type RawStrings } from "./rawh5.ts";
import type { FileEntry, FileProblem, KeyInfo, RunMetadata, RunValue, Section, SkippedKey } from "./model.ts";
import { fileIndex, loadRunIndex, type RunIndex, type RunIndexOptions } from "./runindex.ts";
import { treeReady } from "./tree.ts";

/** Options for openRun / openFile. */
export interface OpenOptions extends RunIndexOptions {
  /** Include trains whose INDEX/flag marks them bad (default false: left out, so data stays aligned). */
  readonly includeSuspectTrains?: boolean;
  /**
   * "now" (default): load HDF5 (its WebAssembly build, ~0.5 s of CPU) before returning. "when-needed":
   * not before a read needs it: `trains()` reads plain numeric datasets without HDF5 and loads it
   * only for the rest (strings, records, filters...), so a stream starts sooner. Synchronous reads
   * (`keyData().ndarray()`...) of such datasets then fail with WRONG_STATE until `h5Ready()` is awaited.
   */
  readonly hdf5?: "now" | "when-needed";
}

/** Which trains to keep: by train ID (a list, or a [start, stop) range) or by position in the run. */
export type TrainSelection =
  | { readonly ids: readonly number[] }
  | { readonly idRange: readonly [number, number] }
  | { readonly indices: readonly number[] }
  | { readonly indexRange: readonly [number, number] };

/**
 * The entries of a record (HDF5 compound) key: one array per field, [entries, ...entry shape, ...field
 * shape], or the strings of a fixed-length string field.
 */
export interface RecordData {
  readonly kind: "records";
  readonly count: number;
  readonly fields: Readonly<Record<string, NDArray | string[]>>;
}

/** What one key holds over some trains: numbers, strings or records. */
export type KeyValues = NDArray | string[] | RecordData;

/** The data of one train: source → key → entries of that train. */
export type TrainData = Record<string, Record<string, KeyValues>>;

/** A train from `trainsInFile`: large numeric keys may be left in the file. */
export type TrainDataInFile = Record<string, Record<string, KeyValues | ArrayInFile>>;

/** Options of iterating over trains. */
export interface TrainsOptions {
  /** Trains read at a time per key, at most (default 32). */
  batch?: number;
  /** Bytes read at a time over all keys, about (default 64 MB). */
  batchBytes?: number;
}

/** True for the entries of a record key. */
export function isRecordData(v: unknown): v is RecordData {
  return typeof v === "object" && v !== null && (v as RecordData).kind === "records";
}

const MAX_OPEN_FILES = 64;

/** Open handles by file name, most recently used last; past MAX_OPEN_FILES the oldest is closed. */
class RecentlyUsed<T extends { close(): void }> {
  private readonly open = new Map<string, T>();

  /** The handle of `name`, opened with `open` if it is not open. */
  get(name: string, open: () => T): T {
    const known = this.open.get(name);
    if (known) {
      this.open.delete(name);
      this.open.set(name, known);
      return known;
    }
    const handle = open();
    this.open.set(name, handle);
    if (this.open.size > MAX_OPEN_FILES) {
      const [oldest, old] = this.open.entries().next().value as [string, T];
      old.close();
      this.open.delete(oldest);
    }
    return handle;
  }

  /** The handle of `name` if it is open, leaving the order as it is. */
  peek(name: string): T | undefined {
    return this.open.get(name);
  }

  closeAll(): void {
    for (const h of this.open.values()) h.close();
    this.open.clear();
  }
}

/** Open files of one run: through HDF5, and without it (see rawh5.ts). */
class FileHandles {
  private readonly h5 = new RecentlyUsed<H5File>();
  private readonly raw = new RecentlyUsed<RawH5File>();
  constructor(readonly dir: string) {}

  /** A dataset of file `name` found without HDF5, or null (read it through HDF5). */
  rawDataset(name: string, path: string, dtype: KeyDType): RawDataset | null {
    if (!directReadsOn() || dtype === "object" || dtype === "record" || dtype === "bool") return null;
    return this.rawFile(name)?.dataset(path, dtype) ?? null;
  }

  /** A string dataset of file `name` found without HDF5, or null. */
  rawStrings(name: string, path: string): RawStrings | null {
    return directReadsOn() ? (this.rawFile(name)?.strings(path) ?? null) : null;
  }

  /** Rows of a string dataset read without HDF5, or null (read them through HDF5). */
  readRawStrings(name: string, path: string, start: number, count: number): string[] | null {
    return directReadsOn() ? (this.rawFile(name)?.readStrings(path, start, count) ?? null) : null;
  }

  private rawFile(name: string): RawH5File | null {
    try {
      return this.raw.get(name, () => RawH5File.open(join(this.dir, name)));
    } catch {
      return null; // HDF5 will say what is wrong with the file
    }
  }

  rawFd(name: string): number {
    return this.raw.peek(name)?.fd ?? -1;
  }

  get(name: string): H5File {
    return this.h5.get(name, () => H5File.open(join(this.dir, name)));
  }

  closeAll(): void {
    this.h5.closeAll();
    this.raw.closeAll();
  }
}

interface RunState {
  readonly index: RunIndex;
  readonly handles: FileHandles;
  readonly includeSuspect: boolean;
  /** Source → section and the files holding it (in train order). */
  readonly sources: ReadonlyMap<string, { section: Section; files: FileEntry[] }>;
}

function globToRegExp(glob: string): RegExp {
  const esc = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replaceAll("*", ".*")
    .replaceAll("?", ".");
  return new RegExp(`^${esc}$`);
}

function describeRun(index: RunIndex): Map<string, { section: Section; files: FileEntry[] }> {
  const out = new Map<string, { section: Section; files: FileEntry[] }>();
  const byFirstTrain = [...index.files].sort(
    (a, b) => (a.trainIds[0] ?? 0) - (b.trainIds[0] ?? 0) || (a.name < b.name ? -1 : 1),
  );
  for (const f of byFirstTrain) {
    for (const [s, fs] of f.sources) {
      const e = out.get(s);
      if (e) e.files.push(f);
      else out.set(s, { section: fs.section, files: [f] });
    }
  }
  return out;
}

function runTrainIds(index: RunIndex, includeSuspect: boolean): number[] {
  const ids = new Set<number>();
  for (const f of index.files) {
    f.trainIds.forEach((t, i) => {
      if (includeSuspect || f.valid[i]) ids.add(t);
    });
  }
  return [...ids].sort((a, b) => a - b);
}

/** Opens a run directory (all its *.h5 files), using and refreshing the run index. */
export async function openRun(dir: string, options: OpenOptions = {}): Promise<DataCollection> {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch {
    throw new FilesError("run directory not found", { file: dir, code: "NOT_FOUND" });
  }
  if (!st.isDirectory()) throw new FilesError("not a directory (use openFile for one file)", { file: dir });
  // treeReady puts the block cache under HDF5's small reads: opening a file and finding a dataset's
  // type, shape and layout take ~10 small reads each, a system call apiece without it.
  if (options.hdf5 !== "when-needed") await Promise.all([h5Ready(), treeReady()]);
  return fromIndex(await loadRunIndex(dir, options), options);
}

/** Opens one EXDF file as a DataCollection. */
export async function openFile(path: string, options: OpenOptions = {}): Promise<DataCollection> {
  await Promise.all([h5Ready(), treeReady()]);
  return fromIndex(await fileIndex(path), options);
}

function fromIndex(index: RunIndex, options: OpenOptions): DataCollection {
  if (index.files.length === 0) {
    const why = index.problems.map((p) => `${p.file}: ${p.message}`).join("; ");
    throw new FilesError(`no readable EXDF files (${why})`, { file: index.dir });
  }
  const includeSuspect = options.includeSuspectTrains ?? false;
  const state: RunState = {
    index,
    handles: new FileHandles(index.dir),
    includeSuspect,
    sources: describeRun(index),
  };
  return new DataCollection(state, runTrainIds(index, includeSuspect), null);
}

/** A run, a file or a selection of them: trains × sources × keys, read lazily. */
export class DataCollection {
  /** Train IDs of the collection, ascending. */
  readonly trainIds: readonly number[];
  private readonly state: RunState;
  /** Selected keys per source (null: every key of every source). */
  private readonly selection: ReadonlyMap<string, ReadonlySet<string> | null> | null;

  /** @internal use openRun / openFile */
  constructor(
    state: RunState,
    trainIds: readonly number[],
    selection: ReadonlyMap<string, ReadonlySet<string> | null> | null,
  ) {
    this.state = state;
    this.trainIds = trainIds;
    this.selection = selection;
  }

  /** Names of the files of the collection (in directory order). */
  get files(): string[] {
    const used = new Set(this.sources.flatMap((s) => this.sourceInfo(s).files.map((f) => f.name)));
    return this.state.index.files.map((f) => f.name).filter((n) => used.has(n));
  }

  /** Files of the run that could not be read, with the reason. */
  get problems(): readonly FileProblem[] {
    return this.state.index.problems;
  }

  /** Datasets of the selected sources left out because sase cannot decode them (once per source and key). */
  get skippedKeys(): SkippedKey[] {
    const seen = new Map<string, SkippedKey>();
    const selected = new Set(this.sources);
    for (const f of this.state.index.files)
      for (const k of f.skipped) {
        const id = `${k.source}\0${k.key}`;
        if (selected.has(k.source) && !seen.has(id)) seen.set(id, k);
      }
    return [...seen.values()];
  }

  /** Whether the structure came from a valid run index ("index") or was (partly) read from the files. */
  get indexOrigin(): "index" | "built" {
    return this.state.index.origin;
  }

  /** Every selected source, sorted. */
  get sources(): string[] {
    const all = [...this.state.sources.keys()];
    return (this.selection ? all.filter((s) => this.selection?.has(s)) : all).sort();
  }

  /** Selected CONTROL sources (slow data, one entry per train). */
  get controlSources(): string[] {
    return this.sources.filter((s) => this.sourceInfo(s).section === "CONTROL");
  }

  /** Selected INSTRUMENT sources (fast data, any number of entries per train). */
  get instrumentSources(): string[] {
    return this.sources.filter((s) => this.sourceInfo(s).section === "INSTRUMENT");
  }

  private sourceInfo(source: string): { section: Section; files: FileEntry[] } {
    const s = this.state.sources.get(source);
    if (!s || (this.selection && !this.selection.has(source))) {
      throw new FilesError(`source not in this data: ${source}`, { code: "NOT_FOUND" });
    }
    return s;
  }

  /** CONTROL or INSTRUMENT. */
  section(source: string): Section {
    return this.sourceInfo(source).section;
  }

  private allKeys(source: string): ReadonlyMap<string, KeyInfo> {
    const f = this.sourceInfo(source).files[0];
    return f?.sources.get(source)?.keys ?? new Map();
  }

  /** Selected keys of a source, sorted (control keys come as <property>.value and <property>.timestamp). */
  keys(source: string): string[] {
    const keys = [...this.allKeys(source).keys()];
    const sel = this.selection?.get(source);
    return (sel ? keys.filter((k) => sel.has(k)) : keys).sort();
  }

  /** METADATA of the run (from the first file, as EXtra-data does): proposal, run number, dates... */
  runMetadata(): RunMetadata {
    return { ...(this.state.index.files[0]?.metadata ?? {}) };
  }

  /** RUN values (constants at run start) of a control source: key → value. */
  runValues(source: string): Record<string, RunValue> {
    this.sourceInfo(source);
    return { ...(this.state.index.runValues.get(source) ?? {}) };
  }

  /**
   * A collection of the sources matching `sources` (globs, e.g. "SPB_DET_AGIPD1M-1/DET/*CH0:xtdf"),
   * keeping the keys matching `keys` (globs, default all). Throws if nothing matches.
   */
  select(sources: string | readonly string[], keys: string | readonly string[] = "*"): DataCollection {
    const srcRes = (typeof sources === "string" ? [sources] : sources).map(globToRegExp);
    const keyRes = (typeof keys === "string" ? [keys] : keys).map(globToRegExp);
    const all = keyRes.length === 1 && keyRes[0]?.source === "^.*$";
    const sel = new Map<string, ReadonlySet<string> | null>();
    for (const s of this.sources) {
      if (!srcRes.some((r) => r.test(s))) continue;
      const ks = this.keys(s).filter((k) => keyRes.some((r) => r.test(k)));
      if (ks.length === 0 && !all) continue;
      sel.set(s, all && !this.selection?.get(s) ? null : new Set(ks));
    }
    if (sel.size === 0) throw new FilesError(`no source/key matches ${JSON.stringify({ sources, keys })}`);
    return new DataCollection(this.state, this.trainIds, sel);
  }

  /** A collection of some of the trains (by ID or by position); sources and keys stay. */
  selectTrains(sel: TrainSelection): DataCollection {
    let ids: number[];
    if ("ids" in sel) {
      const want = new Set(sel.ids);
      ids = this.trainIds.filter((t) => want.has(t));
    } else if ("idRange" in sel) {
      ids = this.trainIds.filter((t) => t >= sel.idRange[0] && t < sel.idRange[1]);
    } else if ("indices" in sel) {
      const picked = sel.indices.map((i) => {
        const t = this.trainIds[i < 0 ? this.trainIds.length + i : i];
        if (t === undefined)
          throw new SaseError("BAD_OPTION", `train index ${i} outside 0..${this.trainIds.length - 1}`, {
            value: showValue(i),
          });
        return t;
      });
      ids = [...new Set(picked)].sort((a, b) => a - b);
    } else {
      ids = this.trainIds.slice(sel.indexRange[0], sel.indexRange[1]);
    }
    return new DataCollection(this.state, ids, this.selection);
  }

  /** One key of one source, aligned on this collection's trains. */
  keyData(source: string, key: string): KeyData {
    const src = this.sourceInfo(source);
    const info =
      this.allKeys(source).get(key) ??
      (src.section === "CONTROL" ? this.allKeys(source).get(`${key}.value`) : undefined);
    const fullKey = this.allKeys(source).has(key) ? key : `${key}.value`;
    if (!info || (this.selection?.get(source) && !this.selection.get(source)?.has(fullKey))) {
      throw new FilesError(`key not in source ${source}: ${key}`, { code: "NOT_FOUND" });
    }
    return new KeyData(this.state, source, fullKey, src.section, info, src.files, this.trainIds);
  }

  /**
   * Iterates over trains in order, yielding each train's data for every selected source and key.
   * Reads several trains at a time per key (at most `batch`, default 32, and about `batchBytes`,
   * default 64 MB, of data), so iterating costs about as much as reading whole keys while memory
   * stays near one batch: a detector run of hundreds of MB per train is read one train at a time.
   */
  trains(options: TrainsOptions = {}): AsyncGenerator<{ trainId: number; data: TrainData }> {
    return this.iterate(options, Number.POSITIVE_INFINITY) as AsyncGenerator<{
      trainId: number;
      data: TrainData;
    }>;
  }

  /**
   * As `trains`, but a numeric key of `fromBytes` or more per train (on average) that can be read
   * without HDF5 is not read: it comes as an ArrayInFile, read on demand in pieces (a bridge server
   * streams such trains through a few reused buffers instead of holding each one in fresh memory).
   */
  trainsInFile(
    fromBytes: number,
    options: TrainsOptions = {},
  ): AsyncGenerator<{ trainId: number; data: TrainDataInFile }> {
    return this.iterate(options, fromBytes);
  }

  private async *iterate(
    options: TrainsOptions,
    inFileFrom: number,
  ): AsyncGenerator<{ trainId: number; data: TrainDataInFile }> {
    const all = this.sources.flatMap((s) => this.keys(s).map((k) => this.keyData(s, k)));
    const ntrains = Math.max(1, this.trainIds.length);
    const perTrain = (kd: KeyData) => (kd.size * kd.entryBytes) / ntrains;
    const inFile = all.filter((kd) => kd.canStayInFile() && perTrain(kd) >= inFileFrom);
    const kds = all.filter((kd) => !inFile.includes(kd));
    const bytesPerTrain = kds.reduce((sum, kd) => sum + perTrain(kd), 0);
    const byBytes = Math.floor((options.batchBytes ?? 64 << 20) / Math.max(1, bytesPerTrain));
    const batch = Math.max(1, Math.min(options.batch ?? 32, byBytes));
    // The first train alone: a consumer (a bridge server starting) gets it before a batch is read.
    for (
      let a = 0, b = Math.min(1, this.trainIds.length);
      a < this.trainIds.length;
      a = b, b = Math.min(a + batch, this.trainIds.length)
    ) {
      if (!h5Loaded() && kds.some((kd) => !kd.readableWithoutHdf5(a, b)))
        await Promise.all([h5Ready(), treeReady()]);
      const parts = kds.map((kd) => kd.readTrainRange(a, b));
      for (let i = a; i < b; i++) {
        const data: TrainDataInFile = {};
        const put = (kd: KeyData, entry: KeyValues | ArrayInFile | null) => {
          if (entry === null) return;
          const src = data[kd.source] ?? {};
          src[kd.key] = entry;
          data[kd.source] = src;
        };
        kds.forEach((kd, j) => {
          put(kd, parts[j]?.train(i - a) ?? null);
        });
        for (const kd of inFile) {
          const there = kd.trainInFile(i);
          if (there !== undefined) put(kd, there);
          else {
            // Not readable without HDF5 for this train (a chunk HDF5 must fill): read it.
            if (!h5Loaded()) await Promise.all([h5Ready(), treeReady()]);
            put(kd, kd.readTrainRange(i, i + 1).train(0));
          }
        }
        yield { trainId: this.trainIds[i] as number, data };
      }
      // Let other work run between batches (this is an async iterator for a reason).
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Closes the HDF5 files this collection (and every selection of it) opened. */
  close(): void {
    this.state.handles.closeAll();
  }
}

/** Rows read for a range of trains, with per-train offsets. */
interface TrainRangeData {
  train(i: number): KeyValues | null;
}

/** One key of one source over the selected trains. */
export class KeyData {
  readonly source: string;
  readonly key: string;
  readonly section: Section;
  /** Element type ("object" for strings, "record" for compound types: see `fields`). */
  readonly dtype: KeyDType;
  /** The fields of a record key (empty for others). */
  readonly fields: readonly RecordField[];
  /** Shape of one entry (e.g. [2, 512, 128] for one AGIPD frame, [] for a scalar). */
  readonly entryShape: readonly number[];
  readonly trainIds: readonly number[];
  private readonly state: RunState;
  /** Per selected train: which file holds it (index into files, -1 none), its first row and count. */
  private readonly fileOf: Int32Array;
  private readonly firstOf: Float64Array;
  private readonly countOf: Float64Array;
  private readonly files: readonly FileEntry[];
  private readonly group: string;

  /** @internal use DataCollection.keyData */
  constructor(
    state: RunState,
    source: string,
    key: string,
    section: Section,
    info: KeyInfo,
    files: readonly FileEntry[],
    trainIds: readonly number[],
  ) {
    this.state = state;
    this.source = source;
    this.key = key;
    this.section = section;
    this.dtype = info.dtype;
    this.fields = info.fields ?? [];
    this.entryShape = info.entryShape;
    this.trainIds = trainIds;
    this.files = files;
    this.group = section === "CONTROL" ? "" : (key.split(".", 1)[0] as string);
    const n = trainIds.length;
    this.fileOf = new Int32Array(n).fill(-1);
    this.firstOf = new Float64Array(n);
    this.countOf = new Float64Array(n);
    const pos = new Map<number, number>();
    trainIds.forEach((t, i) => {
      pos.set(t, i);
    });
    files.forEach((f, fi) => {
      const g = f.sources.get(source)?.groups.get(this.group);
      if (!g) return;
      for (let i = 0; i < f.trainIds.length; i++) {
        if (!state.includeSuspect && !f.valid[i]) continue;
        const p = pos.get(f.trainIds[i] as number);
        if (p === undefined || this.fileOf[p] !== -1) continue;
        this.fileOf[p] = fi;
        this.firstOf[p] = g.first[i] as number;
        this.countOf[p] = g.count[i] as number;
      }
    });
  }

  /** HDF5 path of the key's dataset in a file. */
  get datasetPath(): string {
    return `/${this.section}/${this.source}/${this.key.replaceAll(".", "/")}`;
  }

  /** Bytes of one entry (a whole record for record keys; strings count as 16 bytes each). */
  get entryBytes(): number {
    const n = shapeSize(this.entryShape);
    if (this.dtype === "object") return n * 16;
    if (this.dtype === "record") return n * this.fields.reduce((s, f) => s + f.size, 0);
    return n * itemSize(this.dtype);
  }

  /** Number of entries over the selected trains. */
  get size(): number {
    let n = 0;
    for (const c of this.countOf) n += c;
    return n;
  }

  /** Entries per train, for every selected train (0 where the source recorded nothing). */
  dataCounts(): { trainIds: readonly number[]; counts: Float64Array } {
    return { trainIds: this.trainIds, counts: this.countOf.slice() };
  }

  /** Groups consecutive trains [a, b) stored back to back in one file into single reads. */
  private runs(a: number, b: number): { file: number; start: number; count: number; out: number }[] {
    const runs: { file: number; start: number; count: number; out: number }[] = [];
    let out = 0;
    for (let i = a; i < b; i++) {
      const c = this.countOf[i] as number;
      const f = this.fileOf[i] as number;
      if (c === 0 || f < 0) continue;
      const s = this.firstOf[i] as number;
      const last = runs[runs.length - 1];
      if (last && last.file === f && last.start + last.count === s) last.count += c;
      else runs.push({ file: f, start: s, count: c, out });
      out += c;
    }
    return runs;
  }

  private readInto(a: number, b: number, out?: TypedArray): KeyValues {
    const rowLen = shapeSize(this.entryShape);
    const runs = this.runs(a, b);
    const total = runs.reduce((s, r) => s + r.count, 0);
    if (this.dtype === "record") {
      const parts = runs.map((r) => {
        const f = this.files[r.file] as FileEntry;
        const h5 = this.state.handles.get(f.name);
        return h5.readRecords(this.datasetPath, this.checkedInfo(h5, f, r), r.start, r.count);
      });
      const fields: Record<string, NDArray | string[]> = {};
      for (const field of this.fields) {
        const pieces = parts.map((p) => p[field.name] ?? []);
        if (field.dtype === "object") fields[field.name] = (pieces as string[][]).flat();
        else {
          const arrays = pieces as NDArray[];
          const data = allocTyped(field.dtype, total * rowLen * shapeSize(field.shape));
          let at = 0;
          for (const p of arrays) {
            (data as Uint8Array).set(p.data as Uint8Array, at);
            at += p.data.length;
          }
          fields[field.name] = ndarray(data, [total, ...this.entryShape, ...field.shape], field.dtype);
        }
      }
      return { kind: "records", count: total, fields };
    }
    if (this.dtype === "object") {
      const out: string[] = [];
      for (const r of runs) {
        const f = this.files[r.file] as FileEntry;
        const raw = this.state.handles.readRawStrings(f.name, this.datasetPath, r.start, r.count);
        if (raw) {
          out.push(...raw);
          continue;
        }
        const h5 = this.state.handles.get(f.name);
        const info = this.checkedInfo(h5, f, r);
        out.push(...h5.readStrings(this.datasetPath, info, r.start, r.count));
      }
      return out;
    }
    const data = this.destination(total * rowLen, out);
    for (const r of runs) {
      const f = this.files[r.file] as FileEntry;
      // Plain datasets straight from the file, without HDF5 (rawh5.ts); the rest through HDF5.
      const raw = this.state.handles.rawDataset(f.name, this.datasetPath, this.dtype);
      if (raw && r.start + r.count <= raw.rows) {
        const size = data.BYTES_PER_ELEMENT;
        const bytes = new Uint8Array(
          data.buffer,
          data.byteOffset + r.out * rowLen * size,
          r.count * rowLen * size,
        );
        const fd = this.state.handles.rawFd(f.name);
        if (readRowsDirect(fd, raw.layout, r.start, r.count, bytes, !out)) continue;
      }
      const h5 = this.state.handles.get(f.name);
      const info = this.checkedInfo(h5, f, r);
      h5.readRows(this.datasetPath, info, r.start, r.count, data, r.out * rowLen, !out);
    }
    return ndarray(data as TypedArray, [total, ...this.entryShape], this.dtype as DType);
  }

  /** `out` cut to `elements` (checked), or fresh memory of that many elements of this key's type. */
  private destination(elements: number, out?: TypedArray): TypedArray {
    if (!out) return allocTyped(this.dtype as DType, elements);
    if (out.length < elements || allocTyped(this.dtype as DType, 0).constructor !== out.constructor)
      throw new FilesError(
        `${this.source} ${this.key}: output buffer needs ${elements} ${this.dtype} elements`,
      );
    return out.subarray(0, elements);
  }

  /** @internal whether this key's trains may be left in the file (numeric, found without HDF5). */
  canStayInFile(): boolean {
    if (this.dtype === "object" || this.dtype === "record" || this.dtype === "bool") return false;
    const f = this.files.find((_, fi) => this.fileOf.includes(fi));
    return f !== undefined && this.state.handles.rawDataset(f.name, this.datasetPath, this.dtype) !== null;
  }

  /**
   * One train's entries left in the file, to read only the bytes wanted (ArrayInFile.read: one frame
   * of a detector module's train is 1/64 of its bytes at 64 memory cells, its first plane half of
   * that). Null when the source recorded nothing for the train; undefined when they cannot be read
   * without HDF5 (compressed, or chunks HDF5 must fill): read them with trainData().
   */
  entriesInFile(trainId: number): ArrayInFile | null | undefined {
    const i = this.trainIds.indexOf(trainId);
    if (i < 0) throw new FilesError(`train ${trainId} not in this data`, { trainId, code: "NOT_FOUND" });
    return this.trainInFile(i);
  }

  /**
   * @internal the entries of selected train `i` left in the file: null when the source has nothing
   * for it, undefined when they cannot be read without HDF5 (read them instead).
   */
  trainInFile(i: number): ArrayInFile | null | undefined {
    if (this.fileOf[i] === -1 || this.countOf[i] === 0) return null;
    const pieces: InFilePiece[] = [];
    let count = 0;
    for (const r of this.runs(i, i + 1)) {
      const name = (this.files[r.file] as FileEntry).name;
      const raw = this.state.handles.rawDataset(name, this.datasetPath, this.dtype);
      if (!raw || r.start + r.count > raw.rows) return undefined;
      const extents = rowExtents(raw.layout, r.start, r.count);
      if (!extents) return undefined;
      const handles = this.state.handles;
      const path = this.datasetPath;
      const dtype = this.dtype;
      pieces.push({
        file: name,
        extents,
        // Reopened if the run closed it since (it keeps a bounded number of files open).
        fd: () => {
          handles.rawDataset(name, path, dtype);
          return handles.rawFd(name);
        },
      });
      count += r.count;
    }
    return arrayInFile(this.dtype as DType, [count, ...this.entryShape], pieces);
  }

  /** @internal whether trains [a, b) of this key can be read before HDF5 has loaded (rawh5.ts). */
  readableWithoutHdf5(a: number, b: number): boolean {
    for (const r of this.runs(a, b)) {
      const f = this.files[r.file] as FileEntry;
      const raw =
        this.dtype === "object"
          ? this.state.handles.rawStrings(f.name, this.datasetPath)
          : this.state.handles.rawDataset(f.name, this.datasetPath, this.dtype);
      if (!raw || r.start + r.count > raw.rows) return false;
      const { layout } = raw;
      if (!layout.fillZero && layout.contiguous === null) return false; // chunks never written need HDF5's fill
    }
    return true;
  }

  private checkedInfo(h5: H5File, f: FileEntry, r: { start: number; count: number }): DatasetInfo {
    const found = h5.datasetInfo(this.datasetPath, r.start + r.count);
    if (!found) throw new FilesError("dataset missing", { file: f.name, dataset: this.datasetPath });
    const info = found.shape.length ? found : { ...found, shape: [0] };
    const rows = info.shape[0] ?? 0;
    if (r.start + r.count > rows) {
      const t = this.trainAtRow(f, r.start + r.count - 1);
      throw new FilesError(
        `INDEX points to entries ${r.start}..${r.start + r.count} but the dataset has ${rows}`,
        {
          file: f.name,
          dataset: this.datasetPath,
          ...(t !== undefined ? { trainId: t } : {}),
        },
      );
    }
    return info;
  }

  private trainAtRow(f: FileEntry, row: number): number | undefined {
    const g = f.sources.get(this.source)?.groups.get(this.group);
    if (!g) return undefined;
    for (let i = 0; i < g.first.length; i++) {
      if ((g.first[i] as number) <= row && row < (g.first[i] as number) + (g.count[i] as number))
        return f.trainIds[i];
    }
    return undefined;
  }

  /**
   * All entries of the selected trains as one array [entries, ...entryShape] (numeric keys). With
   * `out` (same element type, at least size × entry size elements) the data lands there: reusing a
   * buffer spares the page faults of fresh memory, which dominate reading from the page cache.
   */
  ndarray(options: { out?: TypedArray } = {}): NDArray {
    if (this.dtype === "record")
      throw new FilesError(`${this.source} ${this.key} holds records: use records()`);
    const r = this.readInto(0, this.trainIds.length, options.out);
    if (Array.isArray(r)) throw new FilesError(`${this.source} ${this.key} holds strings: use strings()`);
    return r as NDArray;
  }

  /**
   * What ndarray() returns, its reads spread over libuv's thread pool: from the page cache a read is
   * the kernel's copy, and several cores copy at once (see readExtentsParallel). Datasets that need
   * HDF5 (compressed, unwritten chunks with a fill value) are read as ndarray() reads them.
   */
  async ndarrayAsync(options: { out?: TypedArray } = {}): Promise<NDArray> {
    if (this.dtype === "record" || this.dtype === "object" || this.dtype === "bool")
      return this.ndarray(options);
    const rowLen = shapeSize(this.entryShape);
    const runs = this.runs(0, this.trainIds.length);
    const total = runs.reduce((s, r) => s + r.count, 0);
    const data = this.destination(total * rowLen, options.out);
    const size = data.BYTES_PER_ELEMENT;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const placed: PlacedExtents[] = [];
    for (const r of runs) {
      const f = this.files[r.file] as FileEntry;
      const raw = this.state.handles.rawDataset(f.name, this.datasetPath, this.dtype);
      const extents = raw && r.start + r.count <= raw.rows ? rowExtents(raw.layout, r.start, r.count) : null;
      if (extents) {
        placed.push({ file: join(this.state.handles.dir, f.name), extents, offset: r.out * rowLen * size });
        continue;
      }
      const h5 = this.state.handles.get(f.name);
      h5.readRows(
        this.datasetPath,
        this.checkedInfo(h5, f, r),
        r.start,
        r.count,
        data,
        r.out * rowLen,
        !options.out,
      );
    }
    await readExtentsParallel(placed, bytes, !options.out);
    return ndarray(data, [total, ...this.entryShape], this.dtype as DType);
  }

  /** All entries of a string key. */
  strings(): string[] {
    const r = this.readInto(0, this.trainIds.length);
    if (!Array.isArray(r))
      throw new FilesError(`${this.source} ${this.key} holds ${this.dtype}: use ndarray()`);
    return r;
  }

  /** All entries of a record (compound) key: one array per field. */
  records(): RecordData {
    const r = this.readInto(0, this.trainIds.length);
    if (!isRecordData(r)) throw new FilesError(`${this.source} ${this.key} holds ${this.dtype}, not records`);
    return r;
  }

  /** The entries of one train ([count, ...entryShape]; count 0 when the source has nothing for it). */
  trainData(trainId: number): KeyValues {
    const i = this.trainIds.indexOf(trainId);
    if (i < 0) throw new FilesError(`train ${trainId} not in this data`, { trainId, code: "NOT_FOUND" });
    return this.readInto(i, i + 1);
  }

  /** @internal reads trains [a, b) at once and hands them out per train. */
  readTrainRange(a: number, b: number): TrainRangeData {
    const all = this.readInto(a, b);
    const offsets: number[] = [0];
    for (let i = a; i < b; i++)
      offsets.push(
        (offsets[offsets.length - 1] as number) + (this.fileOf[i] === -1 ? 0 : (this.countOf[i] as number)),
      );
    const rowLen = shapeSize(this.entryShape);
    return {
      train: (i: number) => {
        if (this.fileOf[a + i] === -1 || this.countOf[a + i] === 0) return null;
        const s = offsets[i] as number;
        const e = offsets[i + 1] as number;
        if (Array.isArray(all)) return all.slice(s, e);
        if (isRecordData(all)) {
          const fields: Record<string, NDArray | string[]> = {};
          for (const f of this.fields) {
            const v = all.fields[f.name] as NDArray | string[];
            const per = rowLen * Math.max(1, shapeSize(f.shape));
            fields[f.name] = Array.isArray(v)
              ? v.slice(s * per, e * per)
              : ndarray(
                  v.data.subarray(s * per, e * per) as TypedArray,
                  [e - s, ...v.shape.slice(1)],
                  v.dtype,
                );
          }
          return { kind: "records", count: e - s, fields };
        }
        return ndarray(
          all.data.subarray(s * rowLen, e * rowLen) as TypedArray,
          [e - s, ...this.entryShape],
          all.dtype,
        );
      },
    };
  }
}
