// Finding and reading plain numeric datasets of an HDF5 file without HDF5 itself: the superblock
// (version 0), groups kept as symbol tables (B-tree + local heap, what HDF5 writes by default and what
// EXDF files hold), a dataset's version-1 object header (dataspace, datatype, layout), then the rows
// with pread (direct.ts); strings too (fixed-length, or variable-length from the global heap). This lets a reader stream the first trains of a run before HDF5's
// WebAssembly build has even loaded (~0.5 s of CPU). Anything else (newer superblocks or groups,
// filters, enums, records, big-endian data) gives null, and the caller reads through HDF5.
import { closeSync, openSync, readSync } from "node:fs";
import { type DType, itemSize } from "../core/index.ts";
import {
  baseAddress,
  headerMessages,
  layoutOf,
  type ReadAt,
  type RowLayout,
  readRowsDirect,
} from "./direct.ts";
import { FilesError } from "./errors.ts";

const BLOCK = 64 * 1024;
const MAX_BLOCKS = 256;
/** Blocks of closed files, reused by the next (at most 4 MB). */
const MAX_SPARE_BLOCKS = 64;
const spareBlocks: ArrayBuffer[] = [];
const MSG_DATASPACE = 0x0001;
const MSG_DATATYPE = 0x0003;
const MSG_SYMBOL_TABLE = 0x0011;
const SIG_HEAP = 0x48454150; // "HEAP"
const SIG_TREE = 0x54524545; // "TREE"
const SIG_SNOD = 0x534e4f44; // "SNOD"
const SIG_GCOL = 0x47434f4c; // "GCOL"
const utf8 = new TextDecoder();

/** A dataset found without HDF5: its rows and where they are. */
export interface RawDataset {
  readonly rows: number;
  readonly layout: RowLayout;
}

/** A string dataset found without HDF5: fixed-length (`size` bytes) or variable-length (size 0). */
export interface RawStrings {
  readonly rows: number;
  /** Elements per row (the product of the entry shape). */
  readonly rowLength: number;
  readonly size: number;
  readonly layout: RowLayout;
}

interface Group {
  readonly btree: number;
  readonly heap: number;
}

interface Entry {
  readonly header: number;
  /** The group's B-tree and heap when the entry caches them (cache type 1). */
  readonly group: Group | null;
  /** Cache type: 0 nothing cached, 1 a group, 2 a soft link. */
  readonly cache: number;
}

/** A symbol table entry with its name's offset in the group's local heap. */
interface NamedEntry extends Entry {
  readonly name: number;
}

/** A dataset's dimensions and datatype message, as its object header gives them. */
export interface RawHeader {
  /** Dimensions ([] for a scalar); null for a null dataspace. */
  readonly dims: number[] | null;
  readonly type: DataView;
  readonly messages: readonly { type: number; data: DataView }[];
}

const MSG_LINK_INFO = 0x0002;
const MSG_LINK = 0x0006;

const u64 = (v: DataView, at: number) => Number(v.getBigUint64(at, true));

/** A group's B-tree and heap from the symbol table message among an object header's messages. */
function groupOfMessages(msgs: readonly { type: number; data: DataView }[]): Group | null {
  const st = msgs.find((m) => m.type === MSG_SYMBOL_TABLE)?.data;
  return st ? { btree: u64(st, 0), heap: u64(st, 8) } : null;
}

/** The numeric element type a datatype message describes (little-endian integers and floats), or null. */
export function dtypeOf(msg: DataView): DType | null {
  const cls = msg.getUint8(0) & 0x0f;
  const bits = msg.getUint8(1);
  const size = msg.getUint32(4, true);
  if (cls === 0) {
    if (bits & 0x01) return null; // big-endian
    const signed = (bits & 0x08) !== 0;
    const names: Record<number, DType> = signed
      ? { 1: "int8", 2: "int16", 4: "int32", 8: "int64" }
      : { 1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64" };
    return names[size] ?? null;
  }
  if (cls === 1) {
    if (bits & 0x41) return null; // big-endian or VAX order
    return size === 4 ? "float32" : size === 8 ? "float64" : null;
  }
  return null;
}

/** Dimensions from a dataspace message (version 1 or 2), or null. */
function dimsOf(msg: DataView): number[] | null {
  const version = msg.getUint8(0);
  const rank = msg.getUint8(1);
  const first = version === 1 ? 8 : version === 2 ? 4 : -1;
  if (first < 0 || (version === 2 && msg.getUint8(3) === 2)) return null; // unknown, or a null dataspace
  const dims: number[] = [];
  for (let d = 0; d < rank; d++) dims.push(u64(msg, first + 8 * d));
  return dims;
}

/** One HDF5 file opened for finding datasets without HDF5 (see the top of this file). */
export class RawH5File {
  private readonly blocks = new Map<number, Uint8Array>();
  /** Object header addresses by path ("/A/b"), once names() has listed the file. */
  private readonly listed = new Map<string, number>();
  private readonly headers = new Map<string, RawHeader | null>();
  private readonly heaps = new Map<number, Uint8Array>();
  private readonly groups = new Map<string, Group | null>();
  private readonly datasets = new Map<string, RawDataset | null>();
  private readonly stringSets = new Map<string, RawStrings | null>();
  private readonly collections = new Map<number, Map<number, Uint8Array>>();
  private root: Group | null;
  private base: number;

  private constructor(
    readonly fd: number,
    readonly path: string,
  ) {
    this.base = 0;
    this.root = null;
    try {
      const base = baseAddress(this.at);
      // Superblock version 0 only: version 1 moves the root entry, 2 and 3 come with new-style groups.
      if (base === null || this.at(0, 96).getUint8(8) !== 0) return;
      this.base = base;
      const entry = this.entryAt(this.at(0, 96), 56);
      this.root = entry.group ?? this.groupOfHeader(entry.header);
    } catch {
      // Not HDF5 as this reader understands it: every lookup gives null.
    }
  }

  /** Opens `path` (throws FilesError when it cannot be opened). */
  static open(path: string): RawH5File {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      throw new FilesError(`cannot open: ${(err as Error).message}`, { file: path });
    }
    return new RawH5File(fd, path);
  }

  close(): void {
    closeSync(this.fd);
    // Nothing read from this file is used after closing (callers keep decoded values and layouts),
    // so its blocks serve the next file: fresh memory costs a page fault per 4 KB on first touch,
    // which was a third of scanning a run's small files.
    for (const b of this.blocks.values())
      if (
        spareBlocks.length < MAX_SPARE_BLOCKS &&
        b.buffer instanceof ArrayBuffer &&
        b.buffer.byteLength === BLOCK
      )
        spareBlocks.push(b.buffer);
    this.blocks.clear();
    this.headers.clear();
  }

  /**
   * The dataset at `path` when its element type is `dtype` and its rows can be read directly (see
   * direct.ts); null otherwise (the caller reads through HDF5). Looked up once per dataset.
   */
  dataset(path: string, dtype: DType): RawDataset | null {
    const key = `${dtype}:${path}`;
    let found = this.datasets.get(key);
    if (found === undefined) {
      found = null;
      try {
        found = this.find(path, dtype);
      } catch {
        // A structure this reader does not follow: HDF5 will.
      }
      this.datasets.set(key, found);
    }
    return found;
  }

  /**
   * Every object path of the file ("INDEX", "INDEX/trainId", ...: depth first, names in the order HDF5
   * lists them), or null when a group is not a symbol table or a link is soft (HDF5 lists those).
   */
  names(): string[] | null {
    if (!this.root) return null;
    const out: string[] = [];
    const seen = new Set<number>();
    const walk = (group: Group, prefix: string, depth: number): boolean => {
      if (depth > 64) return false;
      const heap = this.heapData(group.heap);
      const entries: NamedEntry[] = [];
      const walked = this.walkGroup(group.btree, "give up", (e) => {
        entries.push(e);
        return false;
      });
      if (walked === "unreadable") return false;
      for (const e of entries) {
        const name = cString(heap, e.name);
        if (name === null || e.cache === 2) return false;
        const path = prefix ? `${prefix}/${name}` : name;
        out.push(path);
        this.listed.set(`/${path}`, e.header);
        let sub = e.group;
        if (!sub) {
          const msgs = headerMessages(this.at, this.base, e.header);
          if (!msgs || msgs.some((m) => m.type === MSG_LINK_INFO || m.type === MSG_LINK)) return false;
          sub = groupOfMessages(msgs);
        }
        if (!sub || seen.has(e.header)) continue;
        seen.add(e.header);
        if (!walk(sub, path, depth + 1)) return false;
      }
      return true;
    };
    try {
      return walk(this.root, "", 0) ? out : null;
    } catch {
      return null;
    }
  }

  /** Whether `path` names a group (a symbol table this reader follows). */
  isGroup(path: string): boolean {
    try {
      return this.group(path) !== null;
    } catch {
      return false;
    }
  }

  /** Dimensions and datatype of the dataset at `path`, or null (no dataset, or one this reader does not follow). */
  header(path: string): RawHeader | null {
    let found = this.headers.get(path);
    if (found !== undefined) return found;
    found = null;
    try {
      const msgs = this.headerOf(path);
      const space = msgs?.find((m) => m.type === MSG_DATASPACE)?.data;
      const type = msgs?.find((m) => m.type === MSG_DATATYPE)?.data;
      if (msgs && space && type) found = { dims: dimsOf(space), type, messages: msgs };
    } catch {
      found = null;
    }
    this.headers.set(path, found);
    return found;
  }

  /** The messages of the object header of the dataset at `path`, or null. */
  private headerOf(path: string): { type: number; data: DataView }[] | null {
    const listed = this.listed.get(path);
    if (listed !== undefined) return headerMessages(this.at, this.base, listed);
    const cut = path.lastIndexOf("/");
    const group = this.group(path.slice(0, cut) || "/");
    if (!group) return null;
    const entry = this.lookup(group, path.slice(cut + 1));
    return entry ? headerMessages(this.at, this.base, entry.header) : null;
  }

  /**
   * The string dataset at `path` when its rows can be read directly: fixed-length strings, or
   * variable-length ones (their bytes in global heap collections); null otherwise.
   */
  strings(path: string): RawStrings | null {
    let found = this.stringSets.get(path);
    if (found === undefined) {
      found = null;
      try {
        const h = this.header(path);
        const dims = h?.dims;
        if (h && dims && dims.length > 0) {
          const { type, messages: msgs } = h;
          const cls = type.getUint8(0) & 0x0f;
          const size = type.getUint32(4, true);
          const vlenString = cls === 9 && (type.getUint8(1) & 0x0f) === 1 && size === 16;
          if (cls === 3 || vlenString) {
            const layout = layoutOf(this.at, this.base, msgs, dims, size);
            const rowLength = dims.slice(1).reduce((a, b) => a * b, 1);
            if (layout) found = { rows: dims[0] as number, rowLength, size: vlenString ? 0 : size, layout };
          }
        }
      } catch {
        found = null;
      }
      this.stringSets.set(path, found);
    }
    return found;
  }

  /** Rows [start, start+count) of a string dataset (see strings()), or null to read through HDF5. */
  readStrings(path: string, start: number, count: number): string[] | null {
    const set = this.strings(path);
    if (!set || start + count > set.rows) return null;
    const n = count * set.rowLength;
    const width = set.size || 16;
    const raw = new Uint8Array(n * width);
    if (!readRowsDirect(this.fd, set.layout, start, count, raw, true)) return null;
    const out: string[] = [];
    try {
      for (let i = 0; i < n; i++) {
        let bytes: Uint8Array;
        if (set.size > 0) bytes = raw.subarray(i * width, (i + 1) * width);
        else {
          const v = new DataView(raw.buffer, i * 16, 16);
          const length = v.getUint32(0, true);
          const collection = u64(v, 4);
          // Never written (fill value) or empty: "" as HDF5 gives it.
          if (collection === 0 || length === 0) {
            out.push("");
            continue;
          }
          const object = this.heapObject(collection, v.getUint32(12, true));
          if (!object) return null;
          bytes = object.subarray(0, Math.min(length, object.length));
        }
        const end = bytes.indexOf(0);
        out.push(utf8.decode(end < 0 ? bytes : bytes.subarray(0, end)));
      }
    } catch {
      return null;
    }
    return out;
  }

  /** Object `index` of the global heap collection at `address` (variable-length data). */
  private heapObject(address: number, index: number): Uint8Array | null {
    let objects = this.collections.get(address);
    if (!objects) {
      objects = new Map();
      const head = this.at(this.base + address, 16);
      if (head.getUint32(0, false) !== SIG_GCOL) return null;
      const size = u64(head, 8);
      const v = this.at(this.base + address, size);
      for (let at = 16; at + 16 <= size; ) {
        const id = v.getUint16(at, true);
        if (id === 0) break; // free space: the rest of the collection
        const length = u64(v, at + 8);
        objects.set(id, new Uint8Array(v.buffer, v.byteOffset + at + 16, Math.min(length, size - at - 16)));
        at += 16 + Math.ceil(length / 8) * 8;
      }
      this.collections.set(address, objects);
    }
    return objects.get(index) ?? null;
  }

  private find(path: string, dtype: DType): RawDataset | null {
    const h = this.header(path);
    if (!h || dtypeOf(h.type) !== dtype) return null;
    const dims = h.dims;
    if (!dims || dims.length === 0) return null;
    const layout = layoutOf(this.at, this.base, h.messages, dims, itemSize(dtype));
    return layout ? { rows: dims[0] as number, layout } : null;
  }

  /** The group at `path` ("/" or "/A/B"), or null. */
  private group(path: string): Group | null {
    let g = this.groups.get(path);
    if (g !== undefined) return g;
    if (path === "/") g = this.root;
    else {
      const cut = path.lastIndexOf("/");
      const parent = this.group(path.slice(0, cut) || "/");
      const entry = parent ? this.lookup(parent, path.slice(cut + 1)) : null;
      g = entry ? (entry.group ?? this.groupOfHeader(entry.header)) : null;
    }
    this.groups.set(path, g);
    return g;
  }

  /** A group's B-tree and heap from its object header's symbol table message. */
  private groupOfHeader(header: number): Group | null {
    const msgs = headerMessages(this.at, this.base, header);
    return msgs ? groupOfMessages(msgs) : null;
  }

  /** A symbol table entry (40 bytes) at `at` in `v`. */
  private entryAt(v: DataView, at: number): NamedEntry {
    const cache = v.getUint32(at + 16, true);
    return {
      name: u64(v, at),
      header: u64(v, at + 8),
      group: cache === 1 ? { btree: u64(v, at + 24), heap: u64(v, at + 32) } : null,
      cache,
    };
  }

  /** The entry named `name` in a group, or null. */
  private lookup(group: Group, name: string): Entry | null {
    const heap = this.heapData(group.heap);
    const want = Buffer.from(name, "utf8");
    let found: Entry | null = null;
    this.walkGroup(group.btree, "skip", (e) => {
      if (!nameIs(heap, e.name, want)) return false;
      found = e;
      return true;
    });
    return found;
  }

  /**
   * Walks a group's B-tree (at `address`) in name order, giving `visit` each symbol table entry until it
   * returns true ("found"). A node this reader cannot follow (not a group B-tree or symbol table node
   * where one should be, or a tree deeper than 20 levels) is `atUnreadable`'s choice:
   * - "give up": the walk ends there, "unreadable". A listing takes this: names() must list every
   *   entry or none (null sends its caller to HDF5), never a group with entries silently missing.
   * - "skip": the walk goes on with the node's next sibling, as if it held nothing. A lookup takes
   *   this: an entry found in a readable branch is the one HDF5 finds (names in a group are unique),
   *   and a name in the skipped branch is just not found (null: HDF5 then looks).
   * A read past the file's end throws, either way.
   */
  private walkGroup(
    address: number,
    atUnreadable: "give up" | "skip",
    visit: (entry: NamedEntry) => boolean,
    depth = 0,
  ): "found" | "done" | "unreadable" {
    if (depth > 20) return "unreadable";
    const head = this.at(this.base + address, 24);
    if (head.getUint32(0, false) !== SIG_TREE || head.getUint8(4) !== 0) return "unreadable";
    const level = head.getUint8(5);
    const used = head.getUint16(6, true);
    const body = this.at(this.base + address + 24, used * 16 + 8);
    for (let i = 0; i < used; i++) {
      const child = u64(body, i * 16 + 8);
      const walked =
        level > 0 ? this.walkGroup(child, atUnreadable, visit, depth + 1) : this.walkSymbols(child, visit);
      if (walked === "found") return walked;
      if (walked === "unreadable" && atUnreadable === "give up") return walked;
    }
    return "done";
  }

  /** Gives `visit` each entry of the symbol table node at `address` until it returns true. */
  private walkSymbols(
    address: number,
    visit: (entry: NamedEntry) => boolean,
  ): "found" | "done" | "unreadable" {
    const head = this.at(this.base + address, 8);
    if (head.getUint32(0, false) !== SIG_SNOD) return "unreadable";
    const count = head.getUint16(6, true);
    const body = this.at(this.base + address + 8, count * 40);
    for (let i = 0; i < count; i++) if (visit(this.entryAt(body, i * 40))) return "found";
    return "done";
  }

  /** The data segment of a local heap (link names). */
  private heapData(address: number): Uint8Array {
    let data = this.heaps.get(address);
    if (!data) {
      const head = this.at(this.base + address, 32);
      if (head.getUint32(0, false) !== SIG_HEAP)
        throw new FilesError("not a local heap", { file: this.path });
      const v = this.at(this.base + u64(head, 24), u64(head, 8));
      data = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      this.heaps.set(address, data);
    }
    return data;
  }

  /** Reads through 64 KB blocks read once (metadata comes in small, nearby pieces). */
  private readonly at: ReadAt = (position, length) => {
    const first = Math.floor(position / BLOCK);
    const last = Math.floor((position + length - 1) / BLOCK);
    if (length > 0 && first === last) {
      const b = this.block(first);
      const from = position - first * BLOCK;
      if (from + length > b.length) throw new FilesError("file ends early", { file: this.path });
      return new DataView(b.buffer, b.byteOffset + from, length);
    }
    const out = new Uint8Array(length);
    for (let got = 0; got < length; ) {
      const n = readSync(this.fd, out, got, length - got, position + got);
      if (n <= 0) throw new FilesError("file ends early", { file: this.path });
      got += n;
    }
    return new DataView(out.buffer);
  };

  private block(n: number): Uint8Array {
    let b = this.blocks.get(n);
    if (!b) {
      const buf = new Uint8Array(spareBlocks.pop() ?? new ArrayBuffer(BLOCK));
      let got = 0;
      while (got < BLOCK) {
        const r = readSync(this.fd, buf, got, BLOCK - got, n * BLOCK + got);
        if (r <= 0) break;
        got += r;
      }
      b = buf.subarray(0, got);
      // Dropped, not reused: views into them (heaps, strings) may still be in use.
      if (this.blocks.size >= MAX_BLOCKS) this.blocks.clear();
      this.blocks.set(n, b);
    }
    return b;
  }
}

/** The zero-terminated name at `offset` of a local heap, or null past its end. */
function cString(heap: Uint8Array, offset: number): string | null {
  const end = heap.indexOf(0, offset);
  if (offset >= heap.length || end < 0) return null;
  let ascii = "";
  for (let i = offset; i < end; i++) {
    const c = heap[i] as number;
    if (c >= 0x80) return utf8.decode(heap.subarray(offset, end)); // TextDecoder costs more per short name
    ascii += String.fromCharCode(c);
  }
  return ascii;
}

function nameIs(heap: Uint8Array, offset: number, want: Buffer): boolean {
  if (offset + want.length >= heap.length) return false;
  for (let i = 0; i < want.length; i++) if (heap[offset + i] !== want[i]) return false;
  return heap[offset + want.length] === 0;
}
