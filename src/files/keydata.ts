// One key of one source over a run's selected trains (EXtra-data's KeyData): its rows found through
// the run index, then read straight from the files where they are plain (direct.ts, rawh5.ts) or
// through HDF5, whole or train by train, into fresh or given memory.
import { join } from "node:path";
import {
  allocTyped,
  type DType,
  itemSize,
  type NDArray,
  ndarray,
  shapeSize,
  type TypedArray,
} from "../core/index.ts";
import { FilesError } from "./errors.ts";
import { type PlacedExtents, readExtentsParallel, readRowsDirect, rowExtents } from "./direct.ts";
import { type ArrayInFile, arrayInFile, type InFilePiece } from "./infile.ts";
import type { DatasetInfo, H5File } from "./h5.ts";
import type { KeyDType, RecordField } from "./element-types.ts";
import type { RunState } from "./handles.ts";
import type { FileEntry, KeyInfo, Section } from "./model.ts";

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

/** True for the entries of a record key. */
export function isRecordData(v: unknown): v is RecordData {
  return typeof v === "object" && v !== null && (v as RecordData).kind === "records";
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
