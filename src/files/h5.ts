// Thin layer over h5wasm (HDF5 compiled to WebAssembly, node build with the host file system): open
// files, walk groups, describe datasets and move rows between HDF5 and our own typed arrays with one
// copy. HDF5 errors become FilesError naming the file and the dataset.
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeSync,
} from "node:fs";
import type * as H5wasm from "h5wasm/node";
import type { Dataset, Group } from "h5wasm/node";
import {
  allocTyped,
  type DType,
  itemSize,
  type NDArray,
  ndarray,
  shapeSize,
  type TypedArray,
} from "../core/index.ts";
import {
  pwriteSync,
  type RowLayout,
  type RowWrite,
  readRowsDirect,
  rowLayout,
  rowWrites,
  setChunksAllocatedUnfilled,
} from "./direct.ts";
import { dtypeOfMeta, h5wasmDtype, type KeyDType, type RecordField, recordFields } from "./element-types.ts";
import { FilesError } from "./errors.ts";

type H5Module = Awaited<typeof H5wasm.ready>;
let module: H5Module | undefined;
// h5wasm is loaded on first use, not when this layer is imported: its 4 MB of JavaScript take a
// while to load, and many users of the files layer (the bridge, most CLI commands) may never open HDF5.
let h5wasm: typeof H5wasm.default;

/** Loads the HDF5 WebAssembly module once; every other function here needs it. */
export async function h5Ready(): Promise<void> {
  if (module) return;
  const loaded = await import("h5wasm/node");
  module = await loaded.ready;
  h5wasm = loaded.default;
  // Turn HDF5's error stack into thrown exceptions instead of text printed on stderr.
  module.activate_throwing_error_handler();
}

/** True once h5Ready has loaded HDF5. */
export function h5Loaded(): boolean {
  return module !== undefined;
}

function mod(): H5Module {
  if (!module) throw new FilesError("HDF5 not loaded yet (await h5Ready() first)", { code: "WRONG_STATE" });
  return module;
}

/** Read big uncompressed row ranges straight from the file (SASE_FILES_DIRECT=0: always through HDF5). */
let directReads = process.env.SASE_FILES_DIRECT !== "0";
const DIRECT_MIN_BYTES = 1 << 20;

/** Switches direct reads on or off (for tests and benchmarks comparing both paths). */
export function setDirectReads(on: boolean): void {
  directReads = on;
}

/** Whether direct reads are on (see setDirectReads). */
export function directReadsOn(): boolean {
  return directReads;
}

/** Rows move through one reused WebAssembly buffer, in pieces of about this many bytes. */
const PIECE_BYTES = 16 << 20;
let scratchPtr = 0;
let scratchSize = 0;

/** A WebAssembly heap buffer of at least `n` bytes, reused between calls (never freed while in use). */
function scratch(n: number): number {
  if (n <= scratchSize) return scratchPtr;
  const m = mod();
  if (scratchPtr) m._free(scratchPtr);
  scratchPtr = m._malloc(n);
  scratchSize = scratchPtr ? n : 0;
  if (!scratchPtr) throw new FilesError(`out of WebAssembly memory (${n} bytes)`);
  return scratchPtr;
}

/** Shape, type and layout of one dataset. */
export interface DatasetInfo {
  readonly dtype: KeyDType;
  /** Full shape; the first axis counts entries. */
  readonly shape: readonly number[];
  readonly chunks: readonly number[] | null;
  /** Fixed-length string size in bytes, or 0 for variable-length strings and numbers. */
  readonly stringSize: number;
  readonly littleEndian: boolean;
  /** Bytes of one element as HDF5 hands it over (a whole record for compound types). */
  readonly elementBytes: number;
  /** Fields of a compound type, in the file's order (only for dtype "record"). */
  readonly fields?: readonly RecordField[];
}

/** The shortest useful text of an HDF5 error stack (its innermost "minor" line). */
function h5Message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const minors = [...text.matchAll(/minor: (.+)/g)].map((m) => m[1]?.trim());
  const firstCall = text.match(/#000: .* in (\w+\(\)): (.+)/);
  if (firstCall && minors.length) return `${firstCall[2]} (${minors[minors.length - 1]})`;
  return text.split("\n")[0] ?? text;
}

/** An HDF5 error as a FilesError naming file and dataset. */
export function h5Error(file: string, dataset: string | undefined, err: unknown): FilesError {
  if (err instanceof FilesError) return err;
  return new FilesError(`HDF5: ${h5Message(err)}`, { file, dataset, code: "HDF5_FAILED" });
}

/** A whole HDF5 file's bytes, and object header addresses known in it (see H5File.snapshot). */
export interface H5Snapshot {
  readonly bytes: Uint8Array;
  readonly headers: ReadonlyMap<string, number>;
}

/** An open HDF5 file. */
export class H5File {
  private currentPath: string;
  readonly writable: boolean;
  private file: InstanceType<typeof h5wasm.File> | null;
  /** Row layouts for direct reads, per dataset (null: read through HDF5). */
  private readonly layouts = new Map<string, RowLayout | null>();
  /** Dataset infos asked for by readers (see datasetInfo). */
  private readonly infos = new Map<string, DatasetInfo>();
  private fd = -1;
  /** A read-write descriptor for writeRowsDirect and writeAt (see writeFd). */
  private wfd = -1;
  /** Datasets whose chunks alignEnd sets to be allocated unfilled (see writeChunksDirect). */
  private readonly unfilled = new Set<string>();
  /** Groups known to exist (made or found by ensureGroup; groups are never removed here). */
  private readonly groups = new Set<string>(["/"]);
  /**
   * Created empty by this object (create), so every group in it was made by ensureGroup: one not in
   * `groups` does not exist, and HDF5 need not be asked (half of a new group's cost).
   */
  private madeHere = false;
  /** Object header addresses looked up (they never move; see headerOf). */
  private readonly headers = new Map<string, number>();
  /** The chunks of datasets written with writeRowsDirect, as last read from the file. */
  private readonly writeLayouts = new Map<string, RowLayout>();

  private constructor(path: string, file: InstanceType<typeof h5wasm.File>, writable: boolean) {
    this.currentPath = path;
    this.file = file;
    this.writable = writable;
  }

  /** Opens an existing file read-only (or read-write with mode "a"). */
  static open(path: string, mode: "r" | "a" = "r"): H5File {
    mod();
    try {
      return new H5File(path, new h5wasm.File(path, mode), mode === "a");
    } catch (err) {
      throw new FilesError(`cannot open as HDF5: ${h5Message(err)}`, { file: path });
    }
  }

  /** Creates (truncates) a file readable by HDF5 1.10 (Debian's h5py): object headers of v1.10 at most. */
  static create(path: string): H5File {
    mod();
    try {
      const file = new H5File(path, new h5wasm.File(path, "w", { libver: WRITTEN_LIBVER }), true);
      file.madeHere = true;
      return file;
    } catch (err) {
      throw new FilesError(`cannot create HDF5 file: ${h5Message(err)}`, { file: path });
    }
  }

  /**
   * Creates a file holding `bytes` (a whole HDF5 file, see `bytes()`) with `patches` written over them
   * (position, new bytes) and opens it read-write: a writer's next sequence file from the first one's
   * skeleton, at the cost of one write instead of creating every group and dataset through HDF5.
   */
  static createFrom(
    path: string,
    from: H5Snapshot,
    patches: readonly (readonly [number, Uint8Array])[] = [],
  ): H5File {
    mod();
    const copy = Buffer.from(from.bytes);
    for (const [position, b] of patches) copy.set(b, position);
    const fd = openSync(path, "w");
    try {
      pwriteSync(fd, copy, 0);
    } finally {
      closeSync(fd);
    }
    let file: H5File;
    try {
      file = new H5File(path, new h5wasm.File(path, "a", { libver: WRITTEN_LIBVER }), true);
    } catch (err) {
      throw new FilesError(`cannot open as HDF5: ${h5Message(err)}`, { file: path });
    }
    for (const [dataset, address] of from.headers) file.headers.set(dataset, address);
    return file;
  }

  /**
   * The whole file as it is on disk (call after `flush`: HDF5 has then written everything and cut the
   * file to its allocated end), with the object header addresses looked up so far.
   */
  snapshot(): H5Snapshot {
    return { bytes: readFileSync(this.currentPath), headers: new Map(this.headers) };
  }

  /**
   * File position of the first byte of a dataset stored contiguously (its data written and flushed),
   * or null for any other layout.
   */
  contiguousAt(path: string, itemBytes: number): number | null {
    const rows = this.info(path).shape[0] ?? 0;
    const fd = openSync(this.currentPath, "r");
    try {
      return rowLayout(fd, this.headerAddress(path), [rows], itemBytes)?.contiguous ?? null;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Moves the end of the file's allocated space up to a multiple of `alignment` bytes, so that what
   * HDF5 allocates next at the end (a flushed writer's next new chunk) starts there. HDF5 keeps that
   * end in memory, and h5wasm exposes neither H5Pset_alignment nor another way to move it, so the file
   * is closed, its end raised in the superblock (version 0, the earliest format we write) and the file
   * reopened; the bytes skipped are unused space, as HDF5 itself leaves between objects. Datasets
   * named with writeChunksDirect get their fill and allocation times in the same close and reopen.
   * With `reserve`, the end is set `reserve` bytes below a multiple instead, so that after HDF5 has
   * allocated that many bytes more at the end (chunk indexes made next: chunkIndexNodeBytes) it sits
   * on a multiple again without another close and reopen. Returns the bytes skipped (0 when already
   * where it should be, or when the superblock is of another kind: left as it is).
   */
  alignEnd(alignment: number, reserve = 0): number {
    if (!this.writable) throw new FilesError("file is open read-only", { file: this.path });
    const end = superblockEnd(this.path);
    const unfilled = [...this.unfilled].map((path) => [path, this.headerOf(path)] as const);
    this.unfilled.clear();
    if ((end === null || (end + reserve) % alignment === 0) && unfilled.length === 0) return 0;
    this.close();
    const fd = openSync(this.currentPath, "r+");
    let skipped = 0;
    let unknown: string[] = [];
    try {
      unknown = unfilled
        .filter(([, address]) => !setChunksAllocatedUnfilled(fd, address))
        .map(([path]) => path);
      // Read again after closing: closing may release space HDF5 held at the end.
      const now = superblockEnd(this.currentPath);
      if (now !== null && (now + reserve) % alignment !== 0) {
        const target = Math.ceil((now + reserve) / alignment) * alignment - reserve;
        // The file grows first, so that a process killed in between leaves an end HDF5 accepts.
        ftruncateSync(fd, target);
        const field = Buffer.alloc(8);
        field.writeBigUInt64LE(BigInt(target));
        writeSync(fd, field, 0, 8, SUPERBLOCK_END_AT);
        skipped = target - now;
      }
    } finally {
      closeSync(fd);
    }
    try {
      this.file = new h5wasm.File(this.currentPath, "a", { libver: WRITTEN_LIBVER });
    } catch (err) {
      throw new FilesError(`cannot reopen after aligning its end: ${h5Message(err)}`, { file: this.path });
    }
    if (unknown.length)
      throw new FilesError("cannot set the fill time: object header of a kind not known here", {
        file: this.path,
        dataset: unknown[0],
      });
    return skipped;
  }

  /**
   * Lets the dataset's rows be written straight from the caller's buffer into the file (writeRowsDirect):
   * at the next alignEnd its fill time becomes "never" and its space allocation time "early" (HDF5
   * reads both from the object header when the file is reopened; h5wasm exposes neither
   * H5Pset_fill_time nor H5Pset_alloc_time). HDF5 then allocates a chunk, unfilled and unwritten, as
   * soon as the dataset is extended over it. Rows never written read as whatever the file held there
   * (zeros in a file that grew), not as the fill value: only for datasets whose rows are read through
   * INDEX, which lists a row once it is written (the writer grows them ahead and cuts them at close).
   */
  writeChunksDirect(path: string): void {
    this.unfilled.add(path);
  }

  /**
   * Writes `count` rows from `data` at row `start` of a dataset set up by writeChunksDirect, with
   * pwrite at their chunks' places, which it reads from the file's chunk index: the dataset must have
   * been resized over these rows and the file flushed since (so that the index in the file lists the
   * chunks). HDF5 never holds these chunks: it allocated them and never writes them.
   */
  writeRowsDirect(
    path: string,
    itemBytes: number,
    entryShape: readonly number[],
    start: number,
    count: number,
    data: TypedArray,
  ): void {
    for (const w of this.rowWrites(path, itemBytes, entryShape, start, count, data))
      pwriteSync(w.fd, w.bytes, w.position);
  }

  /** The pwrites of writeRowsDirect, for the caller to do (runRowWrites: several files at a time). */
  rowWrites(
    path: string,
    itemBytes: number,
    entryShape: readonly number[],
    start: number,
    count: number,
    data: TypedArray,
  ): RowWrite[] {
    if (count === 0) return [];
    const header = this.headerOf(path);
    const fd = this.writeFd();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // An uncompressed chunk never moves once allocated: the index is read again only for new chunks.
    const known = this.writeLayouts.get(path);
    const writes = known && rowWrites(fd, known, start, count, bytes);
    if (writes) return writes;
    const layout = rowLayout(fd, header, [start + count, ...entryShape], itemBytes);
    if (layout) this.writeLayouts.set(path, layout);
    const fresh = layout && rowWrites(fd, layout, start, count, bytes);
    if (!fresh)
      throw new FilesError(`rows ${start}..${start + count} have no chunk allocated in the file`, {
        file: this.path,
        dataset: path,
        code: "HDF5_FAILED",
      });
    return fresh;
  }

  /**
   * Writes `bytes` at file `position` with pwrite, past HDF5: for the data of a small contiguous
   * dataset HDF5 has flushed and will not write again (the writer's METADATA/updateDate, found with
   * contiguousAt), so that no HDF5 write and flush is needed to change it.
   */
  writeAt(position: number, bytes: Uint8Array): void {
    if (!this.writable) throw new FilesError("file is open read-only", { file: this.path });
    pwriteSync(this.writeFd(), bytes, position);
  }

  /** The read-write descriptor of writeRowsDirect and writeAt, opened on first use (closed by close). */
  private writeFd(): number {
    if (this.wfd < 0) this.wfd = openSync(this.currentPath, "r+");
    return this.wfd;
  }

  /** File address of a dataset's object header, remembered (objects never move in a file). */
  private headerOf(path: string): number {
    let address = this.headers.get(path);
    if (address === undefined) {
      address = this.headerAddress(path);
      this.headers.set(path, address);
    }
    return address;
  }

  /** File address of a dataset's object header. */
  private headerAddress(path: string): number {
    try {
      const ref = Uint8Array.from(mod().create_object_reference(this.id, path));
      return Number(new DataView(ref.buffer).getBigUint64(0, true));
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
  }

  /** Where the file is now (it moves once, see `moveTo`). */
  get path(): string {
    return this.currentPath;
  }

  /**
   * Renames the open file (HDF5 keeps writing through its open descriptor), so that a writer can
   * build a file under a temporary name and publish it once it is whole. An existing file at `path`
   * is refused unless `replace` (a writer whose caller already chose to overwrite, as create() does).
   */
  moveTo(path: string, options: { replace?: boolean } = {}): void {
    if (!options.replace && existsSync(path))
      throw new FilesError("refusing to replace an existing file", { file: path, code: "FILE_EXISTS" });
    renameSync(this.currentPath, path);
    this.currentPath = path;
  }

  private get f(): InstanceType<typeof h5wasm.File> {
    if (!this.file) throw new FilesError("file is closed", { file: this.path });
    return this.file;
  }

  get id(): bigint {
    return this.f.file_id;
  }

  /** 1 for a group, 2 for a dataset ... or -1 when `path` does not exist. */
  private typeOf(path: string): number {
    try {
      return mod().get_type(this.id, path);
    } catch {
      return -1;
    }
  }

  /** True when `path` names a group. */
  isGroup(path: string): boolean {
    return this.typeOf(path) === mod().H5O_TYPE_GROUP;
  }

  /** True when `path` names a dataset. */
  isDataset(path: string): boolean {
    return this.typeOf(path) === mod().H5O_TYPE_DATASET;
  }

  /** Names directly inside a group (empty when it does not exist). */
  children(path: string): string[] {
    if (!this.isGroup(path)) return [];
    try {
      return mod().get_names(this.id, path, false);
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
  }

  /** Paths (relative to `path`) of every dataset below a group. */
  datasetsBelow(path: string): string[] {
    if (!this.isGroup(path)) return [];
    let names: string[];
    try {
      names = mod().get_names(this.id, path, true);
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
    const m = mod();
    return names.filter((n) => m.get_type(this.id, `${path}/${n}`) === m.H5O_TYPE_DATASET);
  }

  /** Type, shape and layout of a dataset. */
  info(path: string): DatasetInfo {
    let meta: ReturnType<H5Module["get_dataset_metadata"]>;
    try {
      meta = mod().get_dataset_metadata(this.id, path);
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
    const dtype = dtypeOfMeta(meta, this.path, path);
    return {
      dtype,
      shape: meta.shape ?? [],
      chunks: meta.chunks,
      stringSize: meta.type === 3 && !meta.vlen ? meta.size : 0,
      littleEndian: meta.littleEndian,
      elementBytes: meta.size,
      ...(dtype === "record" ? { fields: recordFields(meta, this.path, path) } : {}),
    };
  }

  /**
   * info() of a dataset holding at least `minRows` rows, or null when `path` is no dataset. Read once
   * per dataset and remembered, so that reading train after train asks HDF5 nothing more; asked again
   * only when a row past the remembered shape is wanted (a file still being written).
   */
  datasetInfo(path: string, minRows = 0): DatasetInfo | null {
    const known = this.infos.get(path);
    if (known && (known.shape[0] ?? 0) >= minRows) return known;
    let info: DatasetInfo;
    try {
      info = this.info(path);
    } catch (err) {
      if (!this.isDataset(path)) return null;
      throw err;
    }
    this.infos.set(path, info);
    return info;
  }

  /**
   * Reads rows [start, start+count) of a numeric dataset into `out` at element `outOffset`
   * (or a new typed array). One copy, from the WebAssembly heap into `out`. `outZeroed`: `out` is fresh
   * memory (all zeros), so rows of chunks never written need no filling (nor page faults, nor memory).
   */
  readRows(
    path: string,
    info: DatasetInfo,
    start: number,
    count: number,
    out?: TypedArray,
    outOffset = 0,
    outZeroed = out === undefined,
  ): TypedArray {
    if (info.dtype === "object" || info.dtype === "record")
      throw new FilesError(`${info.dtype === "object" ? "string" : "record"} dataset read as numbers`, {
        file: this.path,
        dataset: path,
      });
    const rowLen = shapeSize(info.shape.slice(1));
    const n = count * rowLen;
    const dest = out ?? allocTyped(info.dtype, n);
    if (n === 0) return dest;
    if (start < 0 || start + count > (info.shape[0] ?? 0)) {
      throw new FilesError(`rows ${start}..${start + count} outside dataset of ${info.shape[0] ?? 0} rows`, {
        file: this.path,
        dataset: path,
      });
    }
    const size = itemSize(info.dtype);
    // Small reads stay with HDF5: finding the layout would cost more than it saves.
    const layout = n * size >= DIRECT_MIN_BYTES ? this.rowLayoutOf(path, info) : null;
    if (layout && this.fd >= 0) {
      const bytes = new Uint8Array(dest.buffer, dest.byteOffset + outOffset * size, n * size);
      if (readRowsDirect(this.fd, layout, start, count, bytes, outZeroed)) return dest;
      this.layouts.set(path, null); // e.g. chunks never written (fill value): HDF5 knows what to return
    }
    const m = mod();
    const rank = info.shape.length;
    const rowBytes = rowLen * size;
    const piece = Math.max(1, Math.floor(PIECE_BYTES / rowBytes));
    const tail = info.shape.slice(1).map(BigInt);
    const zeros = new Array<bigint>(rank - 1).fill(0n);
    const strides = new Array<bigint>(rank).fill(1n);
    try {
      for (let done = 0; done < count; done += piece) {
        const rows = Math.min(piece, count - done);
        const nbytes = rows * rowBytes;
        const ptr = scratch(nbytes);
        const status = m.get_dataset_data(
          this.id,
          path,
          [BigInt(rows), ...tail],
          [BigInt(start + done), ...zeros],
          strides,
          BigInt(ptr),
        );
        if (status < 0) throw new FilesError("H5Dread failed", { code: "HDF5_FAILED" });
        // HEAPU8 is looked up after the read: the heap may have grown (and moved) meanwhile.
        const src = new Uint8Array(m.HEAPU8.buffer, ptr, nbytes);
        new Uint8Array(dest.buffer, dest.byteOffset + (outOffset + done * rowLen) * size, nbytes).set(src);
      }
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
    return dest;
  }

  /** The dataset's row layout for direct reads, when it is plain enough (cached per dataset). */
  private rowLayoutOf(path: string, info: DatasetInfo): RowLayout | null {
    if (
      !directReads ||
      this.writable ||
      !info.littleEndian ||
      info.dtype === "object" ||
      info.dtype === "record"
    )
      return null;
    let layout = this.layouts.get(path);
    if (layout && layout.rows !== (info.shape[0] ?? 0)) layout = undefined; // the dataset grew: look again
    if (layout === undefined) {
      layout = null;
      try {
        const address = this.headerAddress(path);
        if (this.fd < 0) this.fd = openSync(this.path, "r");
        layout = rowLayout(this.fd, address, info.shape, itemSize(info.dtype));
      } catch {
        layout = null;
      }
      this.layouts.set(path, layout);
    }
    return layout;
  }

  /**
   * Reads rows [start, start+count) of a compound dataset and splits the records into one array per
   * field: [count, ...entry shape, ...field shape] (numbers) or the strings in C order.
   */
  readRecords(
    path: string,
    info: DatasetInfo,
    start: number,
    count: number,
  ): Record<string, NDArray | string[]> {
    const fields = info.fields ?? [];
    const rowLen = shapeSize(info.shape.slice(1));
    const n = count * rowLen;
    const rec = info.elementBytes;
    const out: Record<string, NDArray | string[]> = {};
    const typed = fields.map((f) =>
      f.dtype === "object" ? null : allocTyped(f.dtype, n * shapeSize(f.shape)),
    );
    if (n > 0) {
      if (start < 0 || start + count > (info.shape[0] ?? 0))
        throw new FilesError(
          `rows ${start}..${start + count} outside dataset of ${info.shape[0] ?? 0} rows`,
          {
            file: this.path,
            dataset: path,
          },
        );
      const m = mod();
      const rank = info.shape.length;
      const ptr = scratch(n * rec);
      try {
        const status = m.get_dataset_data(
          this.id,
          path,
          [BigInt(count), ...info.shape.slice(1).map(BigInt)],
          [BigInt(start), ...new Array<bigint>(rank - 1).fill(0n)],
          new Array<bigint>(rank).fill(1n),
          BigInt(ptr),
        );
        if (status < 0) throw new FilesError("H5Dread failed", { code: "HDF5_FAILED" });
      } catch (err) {
        throw h5Error(this.path, path, err);
      }
      const src = m.HEAPU8.subarray(ptr, ptr + n * rec);
      fields.forEach((f, j) => {
        const dest = typed[j];
        // HDF5 converts to the machine's byte order but keeps the file's (packed) record layout, so
        // each field is gathered record by record; a byte view also handles unaligned members.
        const bytes = dest ? new Uint8Array(dest.buffer, dest.byteOffset, dest.byteLength) : null;
        if (bytes)
          for (let i = 0; i < n; i++)
            bytes.set(src.subarray(i * rec + f.offset, i * rec + f.offset + f.size), i * f.size);
      });
      for (const f of fields) {
        if (f.dtype !== "object") continue;
        const width = f.size / Math.max(1, shapeSize(f.shape));
        const dec = new TextDecoder();
        const strs: string[] = [];
        for (let i = 0; i < n; i++)
          for (let e = 0; e < shapeSize(f.shape); e++) {
            const at = i * rec + f.offset + e * width;
            const b = src.subarray(at, at + width);
            const end = b.indexOf(0);
            strs.push(dec.decode(end < 0 ? b : b.subarray(0, end)));
          }
        out[f.name] = strs;
      }
    }
    fields.forEach((f, j) => {
      const t = typed[j];
      if (t && f.dtype !== "object")
        out[f.name] = ndarray(t, [count, ...info.shape.slice(1), ...f.shape], f.dtype);
      else if (!out[f.name]) out[f.name] = [];
    });
    return out;
  }

  /** Reads rows of a string dataset (variable or fixed length). */
  readStrings(path: string, info: DatasetInfo, start = 0, count = info.shape[0] ?? 0): string[] {
    const m = mod();
    const rank = info.shape.length;
    const rowLen = shapeSize(info.shape.slice(1));
    const n = count * rowLen;
    if (n === 0) return [];
    const cnt = [BigInt(count), ...info.shape.slice(1).map(BigInt)];
    const off = [BigInt(start), ...new Array<bigint>(Math.max(rank - 1, 0)).fill(0n)];
    const strides = new Array<bigint>(rank).fill(1n);
    const width = info.stringSize > 0 ? info.stringSize : 4;
    const ptr = m._malloc(n * width);
    const out: string[] = [];
    try {
      const status = m.get_dataset_data(
        this.id,
        path,
        rank ? cnt : null,
        rank ? off : null,
        rank ? strides : null,
        BigInt(ptr),
      );
      if (status < 0) throw new FilesError("H5Dread failed", { code: "HDF5_FAILED" });
      const heap = m.HEAPU8;
      if (info.stringSize > 0) {
        const dec = new TextDecoder();
        for (let i = 0; i < n; i++) {
          const bytes = heap.subarray(ptr + i * width, ptr + (i + 1) * width);
          const end = bytes.indexOf(0);
          out.push(dec.decode(end < 0 ? bytes : bytes.subarray(0, end)));
        }
      } else {
        const ptrs = new Uint32Array(heap.buffer, ptr, n);
        // An empty variable-length string is a NULL pointer: read it as "" (h5wasm would read address 0).
        for (let i = 0; i < n; i++) out.push(ptrs[i] ? m.UTF8ToString(ptrs[i] as number) : "");
        m.reclaim_vlen_memory_count(this.id, path, "", BigInt(ptr), rank ? cnt : []);
      }
    } catch (err) {
      throw h5Error(this.path, path, err);
    } finally {
      m._free(ptr);
    }
    return out;
  }

  /** Creates every missing group along `path`. */
  ensureGroup(path: string): void {
    if (this.groups.has(path)) return;
    const parts = path.split("/").filter(Boolean);
    let cur = "";
    for (const p of parts) {
      cur += `/${p}`;
      if (this.groups.has(cur)) continue;
      if (this.madeHere || !this.isGroup(cur)) {
        try {
          mod().create_group(this.id, cur, false);
        } catch (err) {
          throw h5Error(this.path, cur, err);
        }
      }
      this.groups.add(cur);
    }
    this.groups.add(path);
  }

  private parentAndName(path: string): [Group, string] {
    const i = path.lastIndexOf("/");
    const parent = path.slice(0, i) || "/";
    this.ensureGroup(parent);
    return [new h5wasm.Group(this.id, parent), path.slice(i + 1)];
  }

  /** Creates an extendable chunked dataset with 0 rows of `entryShape` entries. */
  createExtendable(
    path: string,
    dtype: DType,
    entryShape: readonly number[],
    chunkRows: number,
    gzipLevel = 0,
  ): void {
    const [g, name] = this.parentAndName(path);
    try {
      g.create_dataset({
        name,
        data: allocTyped(dtype, 0) as Uint8Array,
        shape: [0, ...entryShape],
        maxshape: [null, ...entryShape],
        chunks: [chunkRows, ...entryShape],
        dtype: h5wasmDtype(dtype),
        ...(gzipLevel > 0 ? { compression: gzipLevel } : {}),
      });
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
  }

  /**
   * Bytes HDF5 allocates at the end of the file for the chunk index createChunkIndex makes (a version 1
   * B-tree node: 24 bytes of header, 2K child addresses and 2K + 1 keys of a chunk size, a filter mask
   * and rank + 1 offsets, K = 32 as HDF5's default for chunks), when the file has no free space of
   * that size: 3,656 bytes for a dataset of rank 4.
   */
  static chunkIndexNodeBytes(entryShape: readonly number[]): number {
    const k = 32;
    const rank = entryShape.length + 1;
    return 24 + 2 * k * 8 + (2 * k + 1) * (4 + 4 + (rank + 1) * 8);
  }

  /**
   * Makes HDF5 allocate an empty extendable dataset's chunk index now (one row written and removed
   * again: the chunk's space goes back, the index node stays, as after any shrink to zero rows).
   */
  createChunkIndex(path: string, dtype: DType, entryShape: readonly number[]): void {
    this.resize(path, 1, entryShape);
    this.writeRows(path, entryShape, 0, 1, allocTyped(dtype, shapeSize(entryShape)));
    this.resize(path, 0, entryShape);
  }

  /** Creates a small fixed dataset holding `data` with `shape`. */
  createFixed(path: string, dtype: DType, data: TypedArray, shape: readonly number[]): void {
    const [g, name] = this.parentAndName(path);
    try {
      g.create_dataset({ name, data: data as Uint8Array, shape: [...shape], dtype: h5wasmDtype(dtype) });
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
  }

  /** Creates a 1-D string dataset: variable-length UTF-8, or fixed `fixedSize` bytes (rewritable later). */
  createStrings(path: string, values: readonly string[], fixedSize = 0, extendable = false): void {
    const [g, name] = this.parentAndName(path);
    try {
      g.create_dataset({
        name,
        data: [...values],
        ...(fixedSize ? { dtype: `S${fixedSize}` } : {}),
        ...(extendable ? { maxshape: [null], chunks: [Math.max(values.length, 32)] } : {}),
      });
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
  }

  /** Overwrites a fixed-length string dataset's entries from row 0. */
  writeFixedStrings(path: string, values: readonly string[]): void {
    try {
      (this.f.get(path) as Dataset).write_slice([[0, values.length]], [...values]);
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
  }

  /** Sets the number of rows of an extendable dataset. */
  resize(path: string, rows: number, entryShape: readonly number[]): void {
    try {
      const status = mod().resize_dataset(this.id, path, [BigInt(rows), ...entryShape.map(BigInt)]);
      if (status < 0) throw new FilesError("H5Dset_extent failed", { code: "HDF5_FAILED" });
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
  }

  /** Writes `count` rows from `data` (C-ordered, `count * rowLen` elements) at row `start`. */
  writeRows(
    path: string,
    entryShape: readonly number[],
    start: number,
    count: number,
    data: TypedArray,
  ): void {
    if (count === 0) return;
    const m = mod();
    const rowLen = shapeSize(entryShape);
    const rowBytes = rowLen * data.BYTES_PER_ELEMENT;
    const piece = Math.max(1, Math.floor(PIECE_BYTES / rowBytes));
    const tail = entryShape.map(BigInt);
    const zeros = entryShape.map(() => 0n);
    const strides = [1n, ...zeros.map(() => 1n)];
    const bytes = new Uint8Array(data.buffer, data.byteOffset, count * rowBytes);
    try {
      for (let done = 0; done < count; done += piece) {
        const rows = Math.min(piece, count - done);
        const ptr = scratch(rows * rowBytes);
        m.HEAPU8.set(bytes.subarray(done * rowBytes, (done + rows) * rowBytes), ptr);
        const status = m.set_dataset_data(
          this.id,
          path,
          [BigInt(rows), ...tail],
          [BigInt(start + done), ...zeros],
          strides,
          BigInt(ptr),
        );
        if (status < 0) throw new FilesError("H5Dwrite failed", { code: "HDF5_FAILED" });
      }
    } catch (err) {
      throw h5Error(this.path, path, err);
    }
  }

  /** Pushes everything written so far to the file, so that a reader sees a consistent file. */
  flush(): void {
    try {
      this.f.flush();
    } catch (err) {
      throw h5Error(this.path, undefined, err);
    }
  }

  /** Closes the file (idempotent). */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    if (this.wfd >= 0) closeSync(this.wfd);
    this.wfd = -1;
    this.layouts.clear();
    if (!this.file) return;
    try {
      this.file.close();
    } finally {
      this.file = null;
    }
  }
}

/** Library version bounds of written files: HDF5 1.10 (Debian's h5py) reads every object. */
const WRITTEN_LIBVER: ["earliest", "v110"] = ["earliest", "v110"];

/** Byte position of the end-of-file address in a version 0 superblock (8-byte addresses). */
const SUPERBLOCK_END_AT = 40;

/**
 * The end of allocated space recorded in a file's superblock, or null unless it is a version 0
 * superblock at byte 0 with 8-byte addresses and base address 0 (what HDF5 writes with libver earliest).
 */
function superblockEnd(path: string): number | null {
  const head = Buffer.alloc(48);
  const fd = openSync(path, "r");
  try {
    if (readSync(fd, head, 0, 48, 0) < 48) return null;
  } finally {
    closeSync(fd);
  }
  const signature = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!signature.every((b, i) => head[i] === b)) return null;
  if (head[8] !== 0 || head[13] !== 8 || head[14] !== 8 || head.readBigUInt64LE(24) !== 0n) return null;
  return Number(head.readBigUInt64LE(SUPERBLOCK_END_AT));
}
