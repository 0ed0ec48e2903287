// Lazy reading of EXDF runs, with EXtra-data's nouns: a DataCollection of trains, sources and keys;
// select()/selectTrains() narrow it; keyData() reads one key as arrays aligned on train IDs across all
// sequence files. Nothing is read from HDF5 until data is asked for; the structure comes from the run
// index.
import { statSync } from "node:fs";
import { SaseError, showValue } from "../core/index.ts";
import { FilesError } from "./errors.ts";
import { h5Loaded, h5Ready } from "./h5.ts";
import { FileHandles, type RunState } from "./handles.ts";
import type { ArrayInFile } from "./infile.ts";
import { KeyData, type KeyValues } from "./keydata.ts";
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
