// The questions a file scan asks (scan.ts: which objects, each dataset's type and shape, INDEX
// numbers, METADATA strings), answered from rawh5.ts without HDF5: opening a run that has no index
// then needs no WebAssembly (~0.45 s of CPU to load) and no HDF5 call per object. Any answer this
// reader cannot give exactly as HDF5 would (enums, records, arrays, filters, big-endian numbers,
// newer formats, soft links) throws NEEDS_HDF5, and the caller scans that file through HDF5.
import { allocTyped, type TypedArray } from "../core/index.ts";
import { readRowsDirect } from "./direct.ts";
import { FilesError } from "./errors.ts";
import type { DatasetInfo } from "./h5.ts";
import { dtypeOf, RawH5File } from "./rawh5.ts";
import { H5Tree } from "./tree.ts";

/** Thrown where only HDF5 can answer exactly; the file is then scanned through HDF5. */
export class NeedsHdf5 extends FilesError {
  constructor(file: string, what: string) {
    super(`needs HDF5: ${what}`, { file });
    this.name = "NeedsHdf5";
  }
}

/** One file's structure read without HDF5 (see the top of this file). */
export class RawScanFile {
  private readonly infos = new Map<string, DatasetInfo>();

  private constructor(
    private readonly raw: RawH5File,
    private readonly listing: H5Tree,
  ) {}

  /** Opens `path`, or gives null when its objects cannot be listed without HDF5. */
  static open(path: string): RawScanFile | null {
    const raw = RawH5File.open(path);
    const names = raw.names();
    if (!names) {
      raw.close();
      return null;
    }
    return new RawScanFile(raw, new H5Tree(names));
  }

  get path(): string {
    return this.raw.path;
  }

  /** Every object of the file, as fileTree gives it for an HDF5 file. */
  tree(): H5Tree {
    return this.listing;
  }

  close(): void {
    this.raw.close();
  }

  isGroup(path: string): boolean {
    return this.listing.isGroup(path) || (this.listing.isLeaf(path) && this.raw.isGroup(path));
  }

  isDataset(path: string): boolean {
    return this.listing.isLeaf(path) && this.raw.header(path) !== null;
  }

  /** Paths (relative to `path`) of every dataset below a group. */
  datasetsBelow(path: string): string[] {
    return this.listing.leavesBelow(path).filter((rel) => this.isDataset(`${path}/${rel}`));
  }

  /**
   * Type and shape of a dataset, as HDF5 gives them for numbers and strings (chunks: not read, null).
   * Throws FilesError for what is no dataset, NeedsHdf5 for types only HDF5 decodes as sase does.
   */
  info(path: string): DatasetInfo {
    const known = this.infos.get(path);
    if (known) return known;
    const h = this.raw.header(path);
    if (!h) {
      // A group is no dataset (HDF5 says so too); anything else (a named type, ...) HDF5 must name.
      if (this.isGroup(path) || !this.listing.isLeaf(path))
        throw new FilesError("not a dataset", { file: this.path, dataset: path });
      throw new NeedsHdf5(this.path, path);
    }
    if (h.dims === null) throw new NeedsHdf5(this.path, `${path} (null dataspace)`);
    const cls = h.type.getUint8(0) & 0x0f;
    const size = h.type.getUint32(4, true);
    const base = { shape: h.dims, chunks: null, littleEndian: true, elementBytes: size };
    let info: DatasetInfo;
    const dtype = dtypeOf(h.type);
    if (dtype) info = { ...base, dtype, stringSize: 0 };
    else if (cls === 3) info = { ...base, dtype: "object", stringSize: size };
    else if (cls === 9 && (h.type.getUint8(1) & 0x0f) === 1)
      info = { ...base, dtype: "object", stringSize: 0 };
    else throw new NeedsHdf5(this.path, `${path} (type class ${cls}, ${size} bytes)`);
    this.infos.set(path, info);
    return info;
  }

  /** Rows [start, start+count) of a string dataset. */
  readStrings(path: string, info: DatasetInfo, start = 0, count = info.shape[0] ?? 0): string[] {
    if (count === 0) return [];
    const out = this.raw.readStrings(path, start, count);
    if (!out) throw new NeedsHdf5(this.path, `${path} (strings)`);
    return out;
  }

  /** Rows [start, start+count) of a numeric dataset, as a new typed array. */
  readRows(path: string, info: DatasetInfo, start: number, count: number): TypedArray {
    if (info.dtype === "object" || info.dtype === "record")
      throw new FilesError("string dataset read as numbers", { file: this.path, dataset: path });
    const rowLen = info.shape.slice(1).reduce((a, b) => a * b, 1);
    const out = allocTyped(info.dtype, count * rowLen);
    if (out.length === 0) return out;
    const ds = this.raw.dataset(path, info.dtype);
    if (!ds || start + count > ds.rows) throw new NeedsHdf5(this.path, `${path} (layout)`);
    const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    if (!readRowsDirect(this.raw.fd, ds.layout, start, count, bytes, true))
      throw new NeedsHdf5(this.path, `${path} (rows)`);
    return out;
  }
}
