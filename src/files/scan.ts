// Reads the structure of one EXDF file (formats 0.5 to 1.3): METADATA, INDEX and the key tree of each
// source, but no data. This is what the run index caches.
import { statSync } from "node:fs";
import { basename } from "node:path";
import type { TypedArray } from "../core/index.ts";
import { FilesError } from "./errors.ts";
import { type DatasetInfo, H5File } from "./h5.ts";
import { NeedsHdf5, RawScanFile } from "./rawscan.ts";
import { fileTree, type H5Tree, treeLoaded } from "./tree.ts";
import type {
  FileEntry,
  FileSource,
  GroupIndex,
  KeyInfo,
  RunMetadata,
  RunValue,
  Section,
  SkippedKey,
} from "./model.ts";

/**
 * What a scan asks of a file: an HDF5 file (H5File) or the same file read without HDF5 (RawScanFile,
 * which throws NeedsHdf5 where only HDF5 can answer).
 */
export interface ScanSource {
  readonly path: string;
  info(path: string): DatasetInfo;
  isDataset(path: string): boolean;
  isGroup(path: string): boolean;
  /** Every object of the file, where the source has the listing already (RawScanFile). */
  tree?(): H5Tree;
  datasetsBelow(path: string): string[];
  readStrings(path: string, info: DatasetInfo, start?: number, count?: number): string[];
  readRows(path: string, info: DatasetInfo, start: number, count: number): TypedArray;
}

function treeOf(h5: ScanSource): H5Tree {
  return h5.tree?.() ?? fileTree(h5 as H5File);
}

function toFloat64(a: TypedArray): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]);
  return out;
}

/** Reads a whole 1-D numeric dataset as float64 numbers. */
export function readNumbers(h5: ScanSource, path: string, info?: DatasetInfo): Float64Array {
  const i = info ?? h5.info(path);
  return toFloat64(h5.readRows(path, i, 0, i.shape[0] ?? 0));
}

/** The format version of an open file ("0.5" when METADATA/dataFormatVersion is absent). */
export function formatVersionOf(h5: ScanSource, tree?: H5Tree): string {
  const path = "/METADATA/dataFormatVersion";
  if (!(tree ? tree.isLeaf(path) : h5.isDataset(path))) return "0.5";
  const v = h5.readStrings(path, h5.info(path))[0];
  return v ?? "0.5";
}

/** METADATA scalars of a file, as EXtra-data's run_metadata() gives them. */
export function readMetadata(h5: ScanSource, formatVersion: string, tree?: H5Tree): RunMetadata {
  if (formatVersion === "0.5") return { dataFormatVersion: "0.5" };
  const out: RunMetadata = {};
  const t = tree ?? (h5.tree || treeLoaded() ? treeOf(h5) : null);
  // Without a listing the source is an HDF5 file (a RawScanFile always has one).
  for (const name of t ? t.leavesIn("/METADATA") : (h5 as H5File).children("/METADATA")) {
    const path = `/METADATA/${name}`;
    let info: DatasetInfo;
    try {
      info = h5.info(path);
    } catch (err) {
      if (h5.isGroup(path)) continue; // an empty group
      throw err;
    }
    if ((info.shape[0] ?? 0) < 1) continue;
    if (info.dtype === "object") out[name] = h5.readStrings(path, info, 0, 1)[0] ?? "";
    else out[name] = Number(h5.readRows(path, info, 0, 1)[0]);
  }
  return out;
}

/** Valid-train guess for files without INDEX/flag: keep the longest monotonic train sequence. */
function guessValid(trainIds: Float64Array): Uint8Array {
  const n = trainIds.length;
  const flag = new Uint8Array(n).fill(1);
  for (let ix = 0; ix + 1 < n; ix++) {
    if ((trainIds[ix + 1] as number) > (trainIds[ix] as number)) continue;
    // A downward jump: invalidate whichever side needs fewer trains dropped.
    let before = 0;
    let after = 0;
    for (let j = 0; j <= ix; j++) if ((trainIds[j] as number) >= (trainIds[ix + 1] as number)) before++;
    for (let j = ix + 1; j < n; j++) if ((trainIds[j] as number) <= (trainIds[ix] as number)) after++;
    if (before < after) {
      for (let j = 0; j <= ix; j++) if ((trainIds[j] as number) >= (trainIds[ix + 1] as number)) flag[j] = 0;
    } else {
      for (let j = ix + 1; j < n; j++) if ((trainIds[j] as number) <= (trainIds[ix] as number)) flag[j] = 0;
    }
  }
  return flag;
}

/** The data sources a file declares: source name → section and index groups. */
function declaredSources(
  h5: ScanSource,
  tree: H5Tree,
  formatVersion: string,
  file: string,
): Map<string, { section: Section; groups: Set<string> }> {
  const base = formatVersion === "0.5" ? "/METADATA" : "/METADATA/dataSources";
  const path = `${base}/dataSourceId`;
  if (!tree.isLeaf(path)) throw new FilesError("METADATA data source list missing", { file, dataset: path });
  const ids = h5.readStrings(path, h5.info(path));
  const out = new Map<string, { section: Section; groups: Set<string> }>();
  for (const id of ids) {
    if (!id) continue;
    const slash = id.indexOf("/");
    const category = id.slice(0, slash);
    const rest = id.slice(slash + 1);
    if (category === "CONTROL") {
      out.set(rest, { section: "CONTROL", groups: new Set([""]) });
    } else if (category === "INSTRUMENT") {
      const colon = rest.indexOf(":");
      const device = rest.slice(0, colon);
      const chanGroup = rest.slice(colon + 1);
      const gslash = chanGroup.indexOf("/");
      const channel = gslash < 0 ? chanGroup : chanGroup.slice(0, gslash);
      const group = gslash < 0 ? "" : chanGroup.slice(gslash + 1);
      const source = `${device}:${channel}`;
      const entry = out.get(source) ?? { section: "INSTRUMENT" as Section, groups: new Set<string>() };
      if (group) entry.groups.add(group);
      out.set(source, entry);
    }
    // Other categories (Karabo_TimerServer in format 1.1) carry no per-train data.
  }
  return out;
}

function readIndexGroup(
  h5: ScanSource,
  tree: H5Tree,
  path: string,
  ntrains: number,
  file: string,
): GroupIndex {
  const firstPath = `${path}/first`;
  if (!tree.isLeaf(firstPath))
    throw new FilesError("index group has no 'first' dataset", { file, dataset: path });
  const first = readNumbers(h5, firstPath).subarray(0, ntrains);
  let count: Float64Array;
  if (tree.isLeaf(`${path}/count`)) {
    count = readNumbers(h5, `${path}/count`).subarray(0, ntrains);
  } else {
    // Oldest layout: first/last/status, where status 0 means no data.
    const last = readNumbers(h5, `${path}/last`);
    const status = readNumbers(h5, `${path}/status`);
    count = new Float64Array(first.length);
    for (let i = 0; i < first.length; i++)
      count[i] = status[i] ? (last[i] as number) - (first[i] as number) + 1 : 0;
  }
  if (first.length !== ntrains || count.length !== ntrains) {
    throw new FilesError(`index has ${Math.min(first.length, count.length)} entries for ${ntrains} trains`, {
      file,
      dataset: path,
    });
  }
  return { first, count };
}

/**
 * Keys of a source: dotted paths of its datasets. Names that contain a dot cannot be addressed, so are
 * left out; datasets of a type we cannot decode are left out and reported in `skipped`.
 */
function readKeys(
  h5: ScanSource,
  tree: H5Tree,
  root: string,
  source: string,
  skipped: SkippedKey[],
): Map<string, KeyInfo> {
  const keys = new Map<string, KeyInfo>();
  for (const rel of tree.leavesBelow(root).sort()) {
    if (rel.includes(".")) continue;
    const key = rel.replaceAll("/", ".");
    let info: DatasetInfo;
    try {
      info = h5.info(`${root}/${rel}`);
    } catch (err) {
      if (!(err instanceof FilesError) || err instanceof NeedsHdf5) throw err;
      if (!h5.isDataset(`${root}/${rel}`)) continue; // an empty group, a named type: no key
      skipped.push({ file: basename(h5.path), source, key, message: err.message });
      continue;
    }
    keys.set(key, {
      dtype: info.dtype,
      entryShape: info.shape.slice(1),
      ...(info.fields ? { fields: info.fields } : {}),
    });
  }
  return keys;
}

/**
 * Reads the structure of an open EXDF file; its METADATA only `withMetadata` (a run's metadata is its
 * first file's, as in EXtra-data: reading it from every file cost a third of opening a run).
 */
export function scanOpenFile(
  h5: ScanSource,
  name: string,
  size: number,
  mtimeMs: number,
  withMetadata = true,
): FileEntry {
  const file = name;
  const tree = treeOf(h5);
  if (!tree.isGroup("/METADATA"))
    throw new FilesError("METADATA group missing: not an EXDF file", {
      file,
      dataset: "METADATA",
      code: "NOT_EXDF",
    });
  if (!tree.isLeaf("/INDEX/trainId"))
    throw new FilesError("INDEX/trainId missing", { file, dataset: "INDEX/trainId", code: "NOT_EXDF" });
  const formatVersion = formatVersionOf(h5, tree);
  const allIds = readNumbers(h5, "/INDEX/trainId");
  // Sequence files are padded with train ID 0 at the end; those entries are not trains.
  let ntrains = allIds.length;
  while (ntrains > 0 && allIds[ntrains - 1] === 0) ntrains--;
  const trainIds = allIds.slice(0, ntrains);
  let valid: Uint8Array;
  if (formatVersion === "0.5" || !tree.isLeaf("/INDEX/flag")) {
    valid = guessValid(trainIds);
  } else {
    const flag = readNumbers(h5, "/INDEX/flag");
    valid = new Uint8Array(ntrains);
    // Format 1.1 stored an index in INDEX/flag (0 = the time server, i.e. valid); 1.0 and 1.2+ a flag.
    const inverted = formatVersion === "1.1";
    for (let i = 0; i < ntrains; i++) valid[i] = (flag[i] ?? 0) !== 0 ? (inverted ? 0 : 1) : inverted ? 1 : 0;
  }
  const sources = new Map<string, FileSource>();
  const skipped: SkippedKey[] = [];
  for (const [source, decl] of declaredSources(h5, tree, formatVersion, file)) {
    const groups = new Map<string, GroupIndex>();
    if (decl.section === "CONTROL") {
      groups.set("", readIndexGroup(h5, tree, `/INDEX/${source}`, ntrains, file));
    } else {
      for (const g of decl.groups)
        groups.set(g, readIndexGroup(h5, tree, `/INDEX/${source}/${g}`, ntrains, file));
    }
    const all = readKeys(h5, tree, `/${decl.section}/${source}`, source, skipped);
    // Instrument keys belong to an index group by their first component; keep only indexed ones.
    const keys =
      decl.section === "CONTROL"
        ? all
        : new Map([...all].filter(([k]) => groups.has(k.split(".", 1)[0] as string)));
    sources.set(source, { section: decl.section, groups, keys });
  }
  return {
    name,
    size,
    mtimeMs,
    formatVersion,
    trainIds,
    valid,
    ...(withMetadata ? { metadata: readMetadata(h5, formatVersion, tree) } : {}),
    sources,
    skipped: skipped.filter((k) => isKeyOf(sources, k)),
  };
}

/** Whether a skipped dataset would have been a key (instrument keys only in indexed groups). */
function isKeyOf(sources: ReadonlyMap<string, FileSource>, k: SkippedKey): boolean {
  const s = sources.get(k.source);
  return !!s && (s.section === "CONTROL" || s.groups.has(k.key.split(".", 1)[0] as string));
}

/** Opens and scans one file on disk (its METADATA too, unless `withMetadata` is false). */
export function scanFile(path: string, withMetadata = true): FileEntry {
  const st = statSync(path);
  const h5 = H5File.open(path);
  try {
    return scanOpenFile(h5, basename(path), st.size, st.mtimeMs, withMetadata);
  } finally {
    h5.close();
  }
}

/**
 * scanFile without HDF5 (see rawscan.ts), or null when the file needs HDF5: a structure or type the
 * JavaScript reader does not follow, or any error (HDF5's scan then reports it as it always has).
 */
export function scanFileRaw(path: string, withMetadata = true): FileEntry | null {
  return withRaw(path, (raw, st) => scanOpenFile(raw, basename(path), st.size, st.mtimeMs, withMetadata));
}

/** readRunValues for each of `sources` without HDF5, or null when the file needs HDF5. */
export function readRunValuesRaw(
  path: string,
  sources: readonly string[],
): Map<string, Record<string, RunValue>> | null {
  return withRaw(path, (raw) => new Map(sources.map((s) => [s, readRunValues(raw, s)])));
}

/** readFileMetadata without HDF5, or null when the file needs HDF5. */
export function readFileMetadataRaw(path: string): RunMetadata | null {
  return withRaw(path, (raw) => readMetadata(raw, formatVersionOf(raw, raw.tree()), raw.tree()));
}

function withRaw<T>(
  path: string,
  f: (raw: RawScanFile, st: { size: number; mtimeMs: number }) => T,
): T | null {
  let raw: RawScanFile | null = null;
  try {
    const st = statSync(path);
    raw = RawScanFile.open(path);
    return raw ? f(raw, st) : null;
  } catch {
    return null;
  } finally {
    raw?.close();
  }
}

/** RUN-section values of a source (run constants), read from one file: small entries only. */
export function readRunValues(h5: ScanSource, source: string): Record<string, RunValue> {
  const root = `/RUN/${source}`;
  const out: Record<string, RunValue> = {};
  for (const rel of h5.datasetsBelow(root).sort()) {
    if (rel.includes(".")) continue;
    const path = `${root}/${rel}`;
    let info: DatasetInfo;
    try {
      info = h5.info(path);
    } catch (err) {
      if (err instanceof NeedsHdf5) throw err;
      continue; // an undecodable type: reported with the keys
    }
    const n = info.shape.slice(1).reduce((a, b) => a * b, 1);
    if ((info.shape[0] ?? 0) < 1 || n > 64 || info.dtype === "record") continue;
    const key = rel.replaceAll("/", ".");
    if (info.dtype === "object") {
      const s = h5.readStrings(path, info, 0, 1);
      out[key] = info.shape.length === 1 ? (s[0] ?? "") : s;
    } else {
      const v = Array.from(h5.readRows(path, info, 0, 1), Number);
      out[key] = info.shape.length === 1 ? (info.dtype === "bool" ? v[0] !== 0 : (v[0] as number)) : v;
    }
  }
  return out;
}

/** The METADATA of one file on disk. */
export function readFileMetadata(path: string): RunMetadata {
  const h5 = H5File.open(path);
  try {
    return readMetadata(h5, formatVersionOf(h5));
  } finally {
    h5.close();
  }
}
