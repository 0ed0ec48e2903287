// The run index: a small JSON file holding everything the reader needs to open a run without touching
// every file: per file its trains, sources, first/count per train and keys; per source its RUN values.
// Each file's entry is keyed by name, size and mtime, so a stale entry is noticed and only that file is
// re-read. Only the writer puts it beside the HDF5 files, at acquisition; readers keep theirs in the
// user's cache folder (keyed by the run's path), because read commands never write into data folders:
// a migrated copy is checksummed, and an extra or changed file there would fail its verification.
import { createHash } from "node:crypto";
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  opendirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../core/index.ts";
import { FilesError } from "./errors.ts";
import type { KeyDType, RecordField } from "./element-types.ts";
import { H5File, h5Ready } from "./h5.ts";
import type {
  FileEntry,
  FileProblem,
  FileSource,
  GroupIndex,
  KeyInfo,
  RunMetadata,
  RunValue,
  Section,
  SkippedKey,
} from "./model.ts";
import {
  readFileMetadata,
  readFileMetadataRaw,
  readRunValues,
  readRunValuesRaw,
  scanFile,
  scanFileRaw,
} from "./scan.ts";
import { treeReady } from "./tree.ts";

const log = createLogger("files.runindex");

/** File name of the run index; not *.h5, so EXtra-data and other readers ignore it. */
export const RUN_INDEX_NAME = ".sase-run-index.json";
const FORMAT = "sase-run-index/2";

/** What a run index holds once loaded. */
export interface RunIndex {
  readonly dir: string;
  /** Readable files, in directory order (EXtra-data takes run metadata from the first one). */
  readonly files: readonly FileEntry[];
  /** RUN values per control source, from the first file that holds it. */
  readonly runValues: ReadonlyMap<string, Record<string, RunValue>>;
  readonly problems: readonly FileProblem[];
  /** "index" when a valid index was used as is, "built" when (part of) it was (re)built from the files. */
  readonly origin: "index" | "built";
  /** Where the index was read from or written to (null when it could not be written anywhere). */
  readonly indexPath: string | null;
}

/** Options for opening a run. */
export interface RunIndexOptions {
  /** Use and write the run index (default true). With false, every file is read. */
  readonly useIndex?: boolean;
  /** Called while files are being read: (done, total). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Where a (re)built index is saved: beside the files (the writer, at acquisition) or in the cache. */
type IndexHome = "beside" | "cache";

interface DirFile {
  readonly name: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** The run's HDF5 files in the order the directory lists them (like os.listdir), with size and mtime. */
export function listRunFiles(dir: string): DirFile[] {
  let names: string[] = [];
  try {
    const d = opendirSync(dir);
    try {
      for (let e = d.readSync(); e; e = d.readSync()) names.push(e.name);
    } finally {
      d.closeSync();
    }
  } catch (err) {
    throw new FilesError(`cannot list run directory: ${(err as Error).message}`, { file: dir });
  }
  names = names.filter((n) => n.endsWith(".h5") && n.toLowerCase() !== "overview.h5");
  return names.map((name) => {
    const st = statSync(join(dir, name));
    return { name, size: st.size, mtimeMs: st.mtimeMs };
  });
}

// ---- compact JSON encoding: run-length pairs [value, repeat, ...] ----

function rle(values: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; ) {
    const v = values[i] as number;
    let j = i + 1;
    while (j < values.length && values[j] === v) j++;
    out.push(v, j - i);
    i = j;
  }
  return out;
}

function unrle(pairs: readonly number[]): Float64Array {
  let n = 0;
  for (let i = 1; i < pairs.length; i += 2) n += pairs[i] as number;
  const out = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    const end = k + (pairs[i + 1] as number);
    out.fill(pairs[i] as number, k, end);
    k = end;
  }
  return out;
}

function deltas(a: Float64Array): Float64Array {
  const d = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = (a[i] as number) - (i ? (a[i - 1] as number) : 0);
  return d;
}

function cumsum(d: Float64Array): Float64Array {
  const a = new Float64Array(d.length);
  let s = 0;
  for (let i = 0; i < d.length; i++) a[i] = s += d[i] as number;
  return a;
}

/** Residual of `first` against the running sum of `count` (all zeros for a contiguous index). */
function firstResidual(g: GroupIndex, sign: 1 | -1, first: Float64Array): Float64Array {
  const out = new Float64Array(first.length);
  let s = 0;
  for (let i = 0; i < first.length; i++) {
    out[i] = (first[i] as number) - sign * s;
    s += g.count[i] as number;
  }
  return out;
}

interface JsonSource {
  s: Section;
  g: Record<string, { f: number[]; c: number[] }>;
  k: number;
}
interface JsonFile {
  name: string;
  size: number;
  mtimeMs: number;
  v: string;
  t: number[];
  bad: number[];
  md?: RunMetadata;
  src: Record<string, JsonSource>;
  skip?: SkippedKey[];
}
interface JsonIndex {
  format: string;
  files: JsonFile[];
  keyTables: JsonKey[][];
  problems: (FileProblem & { size: number; mtimeMs: number })[];
  runValues: Record<string, Record<string, RunValue>>;
}

/** A key in a key table: name, dtype, entry shape and, for records, the fields. */
type JsonKey = [string, KeyDType, number[]] | [string, KeyDType, number[], RecordField[]];

function encode(index: RunIndex, dirFiles: readonly DirFile[]): JsonIndex {
  const tables: JsonKey[][] = [];
  const tableIds = new Map<string, number>();
  const files = index.files.map((f): JsonFile => {
    const src: Record<string, JsonSource> = {};
    for (const [name, s] of f.sources) {
      const table = [...s.keys].map(
        ([k, i]): JsonKey =>
          i.fields ? [k, i.dtype, [...i.entryShape], [...i.fields]] : [k, i.dtype, [...i.entryShape]],
      );
      const text = JSON.stringify(table);
      let id = tableIds.get(text);
      if (id === undefined) {
        id = tables.length;
        tables.push(table);
        tableIds.set(text, id);
      }
      const g: JsonSource["g"] = {};
      for (const [gn, gi] of s.groups) g[gn] = { c: rle(gi.count), f: rle(firstResidual(gi, 1, gi.first)) };
      src[name] = { s: s.section, g, k: id };
    }
    const bad: number[] = [];
    f.valid.forEach((v, i) => {
      if (!v) bad.push(i);
    });
    return {
      name: f.name,
      size: f.size,
      mtimeMs: f.mtimeMs,
      v: f.formatVersion,
      t: rle(deltas(f.trainIds)),
      bad,
      ...(f.metadata ? { md: f.metadata } : {}),
      src,
      ...(f.skipped.length ? { skip: [...f.skipped] } : {}),
    };
  });
  const stat = new Map(dirFiles.map((d) => [d.name, d]));
  const problems = index.problems.map((p) => ({
    ...p,
    size: stat.get(p.file)?.size ?? -1,
    mtimeMs: stat.get(p.file)?.mtimeMs ?? -1,
  }));
  return {
    format: FORMAT,
    files,
    keyTables: tables,
    problems,
    runValues: Object.fromEntries(index.runValues),
  };
}

function decodeFile(j: JsonFile, tables: JsonIndex["keyTables"]): FileEntry {
  const sources = new Map<string, FileSource>();
  for (const [name, s] of Object.entries(j.src)) {
    const groups = new Map<string, GroupIndex>();
    for (const [gn, gi] of Object.entries(s.g)) {
      const count = unrle(gi.c);
      const resid = unrle(gi.f);
      const first = new Float64Array(count.length);
      let sum = 0;
      for (let i = 0; i < count.length; i++) {
        first[i] = (resid[i] as number) + sum;
        sum += count[i] as number;
      }
      groups.set(gn, { first, count });
    }
    const table = tables[s.k] ?? [];
    const keys = new Map<string, KeyInfo>(
      table.map(([k, dtype, shape, fields]) => [
        k,
        { dtype, entryShape: shape, ...(fields ? { fields } : {}) },
      ]),
    );
    sources.set(name, { section: s.s, groups, keys });
  }
  const trainIds = cumsum(unrle(j.t));
  const valid = new Uint8Array(trainIds.length).fill(1);
  for (const i of j.bad) valid[i] = 0;
  return {
    name: j.name,
    size: j.size,
    mtimeMs: j.mtimeMs,
    formatVersion: j.v,
    trainIds,
    valid,
    ...(j.md ? { metadata: j.md } : {}),
    sources,
    skipped: j.skip ?? [],
  };
}

/** Where an index for `dir` may be cached when `dir` itself is read-only. */
function cachePath(dir: string): string {
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), ".cache") : tmpdir());
  const hash = createHash("sha1").update(realpathSync(dir)).digest("hex").slice(0, 20);
  return join(base, "sase", "run-index", `${hash}.json`);
}

function readJson(path: string): JsonIndex | null {
  try {
    const j = JSON.parse(readFileSync(path, "utf8")) as JsonIndex;
    return j.format === FORMAT && Array.isArray(j.files) ? j : null;
  } catch {
    return null;
  }
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * True when the run directory is meant to be written: its mode has a write bit and we may write.
 * The mode check matters for root, who may write anywhere: a run made read-only stays untouched.
 */
function dirWritable(dir: string): boolean {
  try {
    if ((statSync(dir).mode & 0o222) === 0) return false;
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes the index beside the files (only for the writer, and only into a writable directory), else in
 * the user's cache folder; returns where (null if nowhere).
 */
function saveIndex(dir: string, json: JsonIndex, home: IndexHome): string | null {
  const text = JSON.stringify(json);
  const beside = join(dir, RUN_INDEX_NAME);
  if (home === "beside" && dirWritable(dir)) {
    try {
      writeAtomic(beside, text);
      return beside;
    } catch {
      // not writable after all: fall back to the cache folder
    }
  }
  try {
    const path = cachePath(dir);
    mkdirSync(join(path, ".."), { recursive: true });
    writeAtomic(path, text);
    return path;
  } catch (err) {
    log.warn("cannot write run index", { dir, error: (err as Error).message });
    return null;
  }
}

/** How many of the directory's files an index describes as they are now. */
function freshCount(j: JsonIndex, dirFiles: readonly DirFile[]): number {
  const byName = new Map<string, { size: number; mtimeMs: number }>(j.files.map((f) => [f.name, f]));
  for (const p of j.problems) byName.set(p.file, p);
  let n = 0;
  for (const d of dirFiles) {
    const e = byName.get(d.name);
    if (e && e.size === d.size && e.mtimeMs === d.mtimeMs) n++;
  }
  return n;
}

/**
 * Loads the run index of `dir`, re-reading only the files it does not describe as they are now. A
 * rebuilt index is saved in the cache folder; nothing is written into `dir`.
 */
export async function loadRunIndex(dir: string, options: RunIndexOptions = {}): Promise<RunIndex> {
  return loadIndex(dir, options, "cache");
}

async function loadIndex(dir: string, options: RunIndexOptions, home: IndexHome): Promise<RunIndex> {
  const useIndex = options.useIndex ?? true;
  const dirFiles = listRunFiles(dir);
  if (dirFiles.length === 0) throw new FilesError("no HDF5 files (*.h5) in run directory", { file: dir });
  let cached: JsonIndex | null = null;
  let cachedAt: string | null = null;
  if (useIndex) {
    // Beside the files first; the cache folder when that is missing or describes fewer files as they
    // are now (a stale index left in a run directory that has since become read-only).
    let best = -1;
    for (const p of [join(dir, RUN_INDEX_NAME), cachePath(dir)]) {
      const j = readJson(p);
      if (!j) continue;
      const fresh = freshCount(j, dirFiles);
      if (fresh > best) {
        best = fresh;
        cached = j;
        cachedAt = p;
      }
      if (fresh === dirFiles.length) break;
    }
  }
  const known = new Map((cached?.files ?? []).map((f) => [f.name, f]));
  const knownBad = new Map((cached?.problems ?? []).map((p) => [p.file, p]));
  const same = (a: { size: number; mtimeMs: number }, b: DirFile) =>
    a.size === b.size && a.mtimeMs === b.mtimeMs;
  const files: FileEntry[] = [];
  const problems: FileProblem[] = [];
  let rescanned = 0;
  const stale = dirFiles.filter((d) => {
    const k = known.get(d.name);
    const b = knownBad.get(d.name);
    return !((k && same(k, d)) || (b && same(b, d)));
  }).length;
  // Files are scanned without HDF5 where they can be (rawscan.ts); HDF5 loads for the first that cannot.
  const hdf5 = () => Promise.all([h5Ready(), treeReady()]);
  for (const d of dirFiles) {
    const k = known.get(d.name);
    const b = knownBad.get(d.name);
    if (k && same(k, d)) {
      files.push(decodeFile(k, cached?.keyTables ?? []));
      continue;
    }
    if (b && same(b, d)) {
      problems.push({ file: b.file, message: b.message });
      continue;
    }
    try {
      const path = join(dir, d.name);
      const raw = scanFileRaw(path, files.length === 0);
      if (!raw) await hdf5();
      files.push(raw ?? scanFile(path, files.length === 0));
    } catch (err) {
      problems.push({ file: d.name, message: (err as Error).message });
    }
    options.onProgress?.(++rescanned, stale);
  }
  // The run's metadata is its first file's: read it when that file was known without it (the file
  // before it has gone, or became unreadable).
  const first = files[0];
  let metadataRead = false;
  if (first && !first.metadata) {
    try {
      const path = join(dir, first.name);
      let metadata = readFileMetadataRaw(path);
      if (!metadata) {
        await hdf5();
        metadata = readFileMetadata(path);
      }
      files[0] = { ...first, metadata };
      metadataRead = true;
    } catch (err) {
      log.warn("cannot read METADATA", { file: first.name, error: (err as Error).message });
    }
  }
  const dirty =
    stale > 0 ||
    metadataRead ||
    (cached !== null && cached.files.length + cached.problems.length !== dirFiles.length);
  // RUN values come from the first file holding each control source; re-read only if that file changed.
  const runValues = new Map<string, Record<string, RunValue>>();
  const firstFileOf = new Map<string, FileEntry>();
  for (const f of files)
    for (const [s, fs] of f.sources)
      if (fs.section === "CONTROL" && !firstFileOf.has(s)) firstFileOf.set(s, f);
  const rescannedNames = new Set(
    dirFiles.filter((d) => !(known.get(d.name) && same(known.get(d.name) as JsonFile, d))).map((d) => d.name),
  );
  const bySourceFile = new Map<string, string[]>();
  for (const [s, f] of firstFileOf) {
    const old = cached?.runValues[s];
    if (old && !rescannedNames.has(f.name)) runValues.set(s, old);
    else bySourceFile.set(f.name, [...(bySourceFile.get(f.name) ?? []), s]);
  }
  const runValuesRead = bySourceFile.size > 0;
  for (const [name, sources] of bySourceFile) {
    const raw = readRunValuesRaw(join(dir, name), sources);
    if (raw) {
      for (const [s, v] of raw) runValues.set(s, v);
      bySourceFile.delete(name);
    }
  }
  if (bySourceFile.size) {
    await h5Ready();
    for (const [name, sources] of bySourceFile) {
      let h5: H5File | null = null;
      try {
        h5 = H5File.open(join(dir, name));
        for (const s of sources) runValues.set(s, readRunValues(h5, s));
      } catch (err) {
        log.warn("cannot read RUN values", { file: name, error: (err as Error).message });
      } finally {
        h5?.close();
      }
    }
  }
  const index: RunIndex = {
    dir,
    files,
    runValues,
    problems,
    origin: dirty || !cached ? "built" : "index",
    indexPath: cachedAt,
  };
  if (useIndex && (dirty || !cached || runValuesRead)) {
    return { ...index, origin: "built", indexPath: saveIndex(dir, encode(index, dirFiles), home) };
  }
  return index;
}

/** Builds the run index of `dir` and writes it beside the files (the writer, on close, at acquisition). */
export async function writeRunIndex(dir: string): Promise<RunIndex> {
  const index = await loadIndex(dir, { useIndex: true }, "beside");
  if (index.indexPath === join(dir, RUN_INDEX_NAME)) return index;
  // Already valid in the cache (or not writable beside): write it beside the files now, if we may.
  const saved = saveIndex(dir, encode(index, listRunFiles(dir)), "beside");
  return { ...index, indexPath: saved };
}

/** The run index of a single file (never cached). */
export async function fileIndex(path: string): Promise<RunIndex> {
  await Promise.all([h5Ready(), treeReady()]);
  const entry = scanFile(path);
  const runValues = new Map<string, Record<string, RunValue>>();
  const h5 = H5File.open(path);
  try {
    for (const [s, fs] of entry.sources) if (fs.section === "CONTROL") runValues.set(s, readRunValues(h5, s));
  } finally {
    h5.close();
  }
  return { dir: join(path, ".."), files: [entry], runValues, problems: [], origin: "built", indexPath: null };
}
