// Encodes a Hash in Karabo's binary layout. Small values are packed into a growing scratch buffer; array
// payloads of at least `chunkThreshold` bytes are emitted as chunks of their own, views of the caller's
// memory, so a 16 MB detector frame goes to the socket without a copy.

import {
  Hash,
  HASH_RAW_NODES as RAW_NODES,
  type HashAttribute,
  HashError,
  type HashValue,
  type RawHashNode,
} from "./hash.ts";
import type { HashType } from "./hash-types.ts";
import {
  CLASS_ID,
  HASH_TYPE_CODES,
  KEY_MAX_BYTES,
  LITTLE_ENDIAN_HOST,
  NDARRAY_CLASS,
  SCALAR_OF_DTYPE,
  TYPED_VECTORS,
} from "./hash-wire.ts";
import { type NDArray, shapeSize, type TypedArray } from "./ndarray.ts";
import { SaseError } from "./errors.ts";

/** Options of encodeHash. */
export interface EncodeOptions {
  /** Array payloads of at least this many bytes become chunks of their own (default 1024). */
  readonly chunkThreshold?: number;
}

const CODE_HASH = HASH_TYPE_CODES.HASH;
const HASH_RAW_NODES: typeof RAW_NODES = RAW_NODES;
const utf8 = new TextEncoder();

/** Appends into a growing scratch buffer; large payloads are emitted as chunks of their own. */
class Writer {
  readonly chunks: Uint8Array[] = [];
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;
  #chunkStart = 0;
  readonly threshold: number;

  constructor(threshold: number, initial: number | Uint8Array = 4096) {
    this.threshold = threshold;
    this.#buf = typeof initial === "number" ? new Uint8Array(initial) : initial;
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  }

  /** Makes room for `n` more bytes. Bytes already handed out as chunks stay where they are. */
  #reserve(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const live = this.#pos - this.#chunkStart;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, live + n + 1024));
    next.set(this.#buf.subarray(this.#chunkStart, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
    this.#pos = live;
    this.#chunkStart = 0;
  }

  u8(v: number): void {
    this.#reserve(1);
    this.#buf[this.#pos++] = v;
  }
  u32(v: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#pos, v, true);
    this.#pos += 4;
  }
  scalar(type: HashType, v: HashValue): void {
    this.#reserve(8);
    const p = this.#pos;
    const view = this.#view;
    switch (type) {
      case "BOOL":
        view.setUint8(p, v ? 1 : 0);
        this.#pos += 1;
        return;
      case "CHAR":
        view.setUint8(p, (v as string).charCodeAt(0));
        this.#pos += 1;
        return;
      case "INT8":
        view.setInt8(p, v as number);
        this.#pos += 1;
        return;
      case "UINT8":
        view.setUint8(p, v as number);
        this.#pos += 1;
        return;
      case "INT16":
        view.setInt16(p, v as number, true);
        this.#pos += 2;
        return;
      case "UINT16":
        view.setUint16(p, v as number, true);
        this.#pos += 2;
        return;
      case "INT32":
        view.setInt32(p, v as number, true);
        this.#pos += 4;
        return;
      case "UINT32":
        view.setUint32(p, v as number, true);
        this.#pos += 4;
        return;
      case "INT64":
        view.setBigInt64(p, v as bigint, true);
        this.#pos += 8;
        return;
      case "UINT64":
        view.setBigUint64(p, v as bigint, true);
        this.#pos += 8;
        return;
      case "FLOAT":
        view.setFloat32(p, v as number, true);
        this.#pos += 4;
        return;
      case "DOUBLE":
        view.setFloat64(p, v as number, true);
        this.#pos += 8;
        return;
    }
    throw new SaseError("HASH_TYPE", `not a scalar type: ${type}`, { value: type });
  }
  /** UTF-8 text with a u32 byte length in front. */
  string(s: string): void {
    this.#reserve(4 + s.length * 3);
    const start = this.#pos + 4;
    const n = writeUtf8(s, this.#buf, start);
    this.#view.setUint32(this.#pos, n, true);
    this.#pos = start + n;
  }
  /** A key: u8 byte length + UTF-8 bytes (at most 255). */
  key(s: string, path: string): void {
    this.#reserve(1 + s.length * 3);
    const n = writeUtf8(s, this.#buf, this.#pos + 1);
    if (n > KEY_MAX_BYTES)
      throw new HashError(path, `key "${s}" of "${path}" is ${n} bytes; Karabo allows 255`);
    this.#buf[this.#pos] = n;
    this.#pos += 1 + n;
  }
  /** Raw bytes: copied into the scratch buffer when small, emitted as their own chunk when large. */
  bytes(b: Uint8Array): void {
    if (b.length >= this.threshold) {
      this.flush();
      this.chunks.push(b);
      return;
    }
    this.#reserve(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
  }
  /** Chunks encoded by another writer, placed here in order. */
  append(chunks: readonly Uint8Array[]): void {
    this.flush();
    this.chunks.push(...chunks);
  }
  flush(): void {
    if (this.#pos > this.#chunkStart) this.chunks.push(this.#buf.subarray(this.#chunkStart, this.#pos));
    this.#chunkStart = this.#pos;
  }
}

/** Writes UTF-8 of `s` at `at` (room for 3 bytes per UTF-16 unit must exist); returns the byte count. */
function writeUtf8(s: string, buf: Uint8Array, at: number): number {
  const n = s.length;
  if (n < 48) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      buf[at + i] = c;
    }
    if (i === n) return n;
  }
  return utf8.encodeInto(s, buf.subarray(at)).written;
}

function byteView(a: TypedArray): Uint8Array {
  return a instanceof Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function writeHash(w: Writer, h: Hash, path: string): void {
  const nodes = h[HASH_RAW_NODES]();
  w.u32(nodes.size);
  for (const [key, node] of nodes) writeNode(w, key, node, path ? `${path}.${key}` : key);
}

function writeNode(w: Writer, key: string, node: RawHashNode, path: string): void {
  w.key(key, path);
  const attrs = node.attrs;
  if (node.type === "NDARRAY") {
    w.u32(CODE_HASH);
    const own = attrs?.has(CLASS_ID) ?? false;
    w.u32((attrs?.size ?? 0) + (own ? 0 : 1));
    if (!own) {
      w.key(CLASS_ID, path);
      w.u32(HASH_TYPE_CODES.STRING);
      w.string(NDARRAY_CLASS);
    }
    if (attrs) writeAttributes(w, attrs, path);
    writeNDArray(w, node.value as NDArray, path);
    return;
  }
  w.u32(HASH_TYPE_CODES[node.type]);
  if (attrs) {
    w.u32(attrs.size);
    writeAttributes(w, attrs, path);
  } else w.u32(0);
  writeValue(w, node.type, node.value, path);
}

function writeAttributes(w: Writer, attrs: ReadonlyMap<string, HashAttribute>, path: string): void {
  for (const [name, a] of attrs) {
    w.key(name, `${path}@${name}`);
    w.u32(HASH_TYPE_CODES[a.type]);
    writeValue(w, a.type, a.value, `${path}@${name}`);
  }
}

/** Karabo's NDArray: a Hash {data: BYTE_ARRAY, type: INT32 type code, shape: VECTOR_UINT64, isBigEndian}. */
function writeNDArray(w: Writer, a: NDArray, path: string): void {
  if (shapeSize(a.shape) !== a.data.length) {
    throw new HashError(
      path,
      `"${path}": NDArray shape [${a.shape}] does not match its ${a.data.length} elements`,
    );
  }
  w.u32(4);
  w.key("data", path);
  w.u32(HASH_TYPE_CODES.BYTE_ARRAY);
  w.u32(0);
  const bytes = byteView(a.data);
  checkLength(bytes.length, path);
  w.u32(bytes.length);
  w.bytes(bytes);
  w.key("type", path);
  w.u32(HASH_TYPE_CODES.INT32);
  w.u32(0);
  w.scalar("INT32", HASH_TYPE_CODES[SCALAR_OF_DTYPE[a.dtype]]);
  w.key("shape", path);
  w.u32(HASH_TYPE_CODES.VECTOR_UINT64);
  w.u32(0);
  w.u32(a.shape.length);
  for (const d of a.shape) w.scalar("UINT64", BigInt(d));
  w.key("isBigEndian", path);
  w.u32(HASH_TYPE_CODES.BOOL);
  w.u32(0);
  w.scalar("BOOL", false);
}

function checkLength(n: number, path: string): void {
  if (n > 0xffffffff)
    throw new HashError(path, `"${path}" has ${n} elements/bytes; Karabo's limit is 2^32-1`);
}

function writeValue(w: Writer, type: HashType, value: HashValue, path: string): void {
  if (TYPED_VECTORS[type]) {
    const a = value as TypedArray;
    const bytes = byteView(a);
    checkLength(a.length, path);
    w.u32(type === "BYTE_ARRAY" || type === "VECTOR_CHAR" ? bytes.length : a.length);
    w.bytes(bytes);
    return;
  }
  switch (type) {
    case "STRING":
      w.string(value as string);
      return;
    case "HASH":
      writeHash(w, value as Hash, path);
      return;
    // JS arrays stay mutable after set(), so their elements are checked again here.
    case "VECTOR_HASH": {
      const list = value as Hash[];
      w.u32(list.length);
      for (let i = 0; i < list.length; i++) {
        const el = list[i];
        if (!(el instanceof Hash))
          throw new HashError(path, `"${path}[${i}]" of a vector<Hash> is not a Hash`);
        writeHash(w, el, `${path}[${i}]`);
      }
      return;
    }
    case "VECTOR_STRING": {
      const list = value as string[];
      w.u32(list.length);
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (typeof s !== "string")
          throw new HashError(path, `"${path}[${i}]" of a VECTOR_STRING is not a string`);
        w.string(s);
      }
      return;
    }
    case "VECTOR_BOOL": {
      const list = value as boolean[];
      w.u32(list.length);
      for (const b of list) w.u8(b ? 1 : 0);
      return;
    }
    case "NONE":
      w.u32(0);
      return;
    case "SCHEMA":
      writeSchema(w, value as Hash, path);
      return;
    default:
      w.scalar(type, value);
  }
}

/** Schema: u32 byte size, then the root name (u8 length + bytes) and the parameter Hash. */
function writeSchema(w: Writer, schema: Hash, path: string): void {
  const [root] = schema.nodes();
  if (schema.size !== 1 || root?.type !== "HASH") {
    throw new HashError(
      path,
      `"${path}": a SCHEMA value is a Hash with one key (the root name) holding a Hash`,
    );
  }
  const inner = new Writer(w.threshold, 1024);
  inner.key(root.key, path);
  writeHash(inner, root.value as Hash, path);
  inner.flush();
  let size = 0;
  for (const c of inner.chunks) size += c.length;
  checkLength(size, path);
  w.u32(size);
  w.append(inner.chunks);
}

/** Encodes a Hash in Karabo's binary layout as chunks to write in order; big arrays are views, not copies. */
export function encodeHash(h: Hash, options: EncodeOptions = {}): Uint8Array[] {
  if (!LITTLE_ENDIAN_HOST)
    throw new SaseError("UNSUPPORTED_HOST", "encodeHash: big-endian hosts are not supported");
  const w = new Writer(options.chunkThreshold ?? 1024);
  writeHash(w, h, "");
  w.flush();
  return w.chunks;
}

// Scratch space for encodeHashesToBuffer: small messages (slot calls, replies, property changes) are
// encoded here and copied out once, instead of allocating a 4 KB writer per Hash and joining the pieces.
const SCRATCH = new Uint8Array(16 * 1024);

/**
 * Encodes Hashes back to back (e.g. a message's header and body) into one Buffer. The result is a
 * copy, so it may come from Node's small-buffer pool and no scratch memory is kept alive by it.
 */
export function encodeHashesToBuffer(hashes: readonly Hash[], options: EncodeOptions = {}): Buffer {
  if (!LITTLE_ENDIAN_HOST)
    throw new SaseError("UNSUPPORTED_HOST", "encodeHash: big-endian hosts are not supported");
  const w = new Writer(options.chunkThreshold ?? 1024, SCRATCH);
  for (const h of hashes) writeHash(w, h, "");
  w.flush();
  let n = 0;
  for (const c of w.chunks) n += c.length;
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for (const c of w.chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Encodes a Hash in Karabo's binary layout as one contiguous byte array. */
export function encodeHashToBytes(h: Hash, options: EncodeOptions = {}): Uint8Array {
  return concatChunks(encodeHash(h, options));
}

/** Joins chunks into one byte array (returns the only chunk as is). */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let n = 0;
  for (const c of chunks) n += c.length;
  // Every byte is overwritten, so skip the zero fill (a 16 MB fill costs as much as the copy itself).
  const out = new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
