// Karabo's binary Hash layout (karabo.md §4), so sase can exchange Hashes with Karabo installations.
// Little-endian. Hash = u32 count, then per node: key (u8 length + bytes), u32 type code, attributes (u32
// count, each key + u32 type + value), value. Big array payloads leave the encoder as views of the caller's
// memory (no copies) and come out of the decoder as views of the input bytes where alignment allows.

import {
  Hash,
  HASH_FROM_RAW as FROM_RAW,
  HASH_RAW_NODES as RAW_NODES,
  type HashAttribute,
  HashError,
  type RawHashNode,
  type HashValue,
} from "./hash.ts";
import {
  HASH_TYPE_CODES as TYPE_CODES,
  type HashType,
  SCALAR_OF_DTYPE as SCALAR_OF,
  TYPED_VECTORS as VECTORS,
} from "./hash-types.ts";
import { type DType, itemSize, type NDArray, shapeSize, type TypedArray, viewTyped } from "./ndarray.ts";

/** Bytes that are not a valid Karabo binary Hash; `offset` is where decoding stopped. */
export class HashDecodeError extends Error {
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(`Hash decode error at offset ${offset}: ${message}`);
    this.name = "HashDecodeError";
    this.offset = offset;
  }
}

/** Options of encodeHash. */
export interface EncodeOptions {
  /** Array payloads of at least this many bytes become chunks of their own (default 1024). */
  readonly chunkThreshold?: number;
}

/** Options of decodeHash. */
export interface DecodeOptions {
  /** Deepest nesting accepted (default 256): bounds the recursion on hostile input. */
  readonly maxDepth?: number;
}

// Imported bindings can be live getters (tsx): the hot paths read plain local constants instead.
const HASH_TYPE_CODES: Readonly<Record<HashType, number>> = TYPE_CODES;
const SCALAR_OF_DTYPE: Readonly<Record<DType, HashType>> = SCALAR_OF;
const TYPED_VECTORS: Readonly<Partial<Record<HashType, DType>>> = VECTORS;
const CODE_HASH = HASH_TYPE_CODES.HASH;
const HASH_FROM_RAW: typeof FROM_RAW = FROM_RAW;
const HASH_RAW_NODES: typeof RAW_NODES = RAW_NODES;

const CLASS_ID = "__classId";
const NDARRAY_CLASS = "NDArray";
const KEY_MAX_BYTES = 255;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const TYPE_OF_CODE = new Map<number, HashType>();
for (const [name, code] of Object.entries(HASH_TYPE_CODES) as [HashType, number][]) {
  if (name !== "NDARRAY") TYPE_OF_CODE.set(code, name);
}
TYPE_OF_CODE.set(42, "HASH"); // HASH_POINTER travels like HASH
TYPE_OF_CODE.set(43, "VECTOR_HASH"); // VECTOR_HASH_POINTER likewise
const KNOWN_UNSUPPORTED: Record<number, string> = {
  24: "COMPLEX_FLOAT",
  25: "VECTOR_COMPLEX_FLOAT",
  26: "COMPLEX_DOUBLE",
  27: "VECTOR_COMPLEX_DOUBLE",
  33: "VECTOR_SCHEMA",
  34: "ANY",
  36: "VECTOR_NONE",
};

const DTYPE_OF_CODE = new Map<number, DType>();
for (const [dtype, type] of Object.entries(SCALAR_OF_DTYPE) as [DType, HashType][]) {
  DTYPE_OF_CODE.set(HASH_TYPE_CODES[type], dtype);
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

// ---------------------------------------------------------------------------------------------- encoding

/** Appends into a growing scratch buffer; large payloads are emitted as chunks of their own. */
class Writer {
  readonly chunks: Uint8Array[] = [];
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;
  #chunkStart = 0;
  readonly threshold: number;

  constructor(threshold: number, initial = 4096) {
    this.threshold = threshold;
    this.#buf = new Uint8Array(initial);
    this.#view = new DataView(this.#buf.buffer);
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
    throw new Error(`not a scalar type: ${type}`);
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
  if (!LITTLE_ENDIAN_HOST) throw new Error("encodeHash: big-endian hosts are not supported");
  const w = new Writer(options.chunkThreshold ?? 1024);
  writeHash(w, h, "");
  w.flush();
  return w.chunks;
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

// ---------------------------------------------------------------------------------------------- decoding

/** Reads Karabo binary; every read checks bounds first, so bad input throws instead of over-reading. */
class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly maxDepth: number;
  pos = 0;
  depth = 0;
  readonly path: string[] = [];

  constructor(bytes: Uint8Array, maxDepth: number) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxDepth = maxDepth;
  }

  fail(message: string, at = this.pos): never {
    const where = this.path.length ? ` (in "${this.path.join(".")}")` : "";
    throw new HashDecodeError(at, message + where);
  }
  /** Checks `n` bytes remain; `what` (+ `suffix`, joined only on failure: this runs per value) names them. */
  need(n: number, what: string, suffix = ""): void {
    const left = this.bytes.length - this.pos;
    if (n > left) this.fail(`truncated: expected ${what}${suffix} (${n} bytes), ${left} left`);
  }
  u8(what: string, suffix = ""): number {
    this.need(1, what, suffix);
    return this.bytes[this.pos++]!;
  }
  u32(what: string, suffix = ""): number {
    this.need(4, what, suffix);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** A u32 element count, checked against the bytes left (each element needs at least `minBytes`). */
  count(what: string, minBytes: number): number {
    const at = this.pos;
    const n = this.u32(what, " count");
    const left = this.bytes.length - this.pos;
    if (n * minBytes > left)
      this.fail(`${what} count ${n} needs at least ${n * minBytes} bytes, ${left} left`, at);
    return n;
  }
  text(n: number, what: string): string {
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    if (n < 48) {
      let s = "";
      for (let i = start; i < start + n; i++) {
        const c = this.bytes[i]!;
        if (c > 0x7f) return utf8Decoder.decode(this.bytes.subarray(start, start + n));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return utf8Decoder.decode(this.bytes.subarray(start, start + n));
  }
  key(what: string): string {
    return this.text(this.u8(what, " length"), what);
  }
  typeCode(what: string): HashType {
    const at = this.pos;
    const code = this.u32(what);
    const type = TYPE_OF_CODE.get(code);
    if (type) return type;
    const name = KNOWN_UNSUPPORTED[code];
    return this.fail(name ? `type ${name} (${code}) is not supported` : `unknown type code ${code}`, at);
  }
  /** `n` elements of `dtype` as a view of the input (copied only when unaligned). */
  typed(dtype: DType, n: number, what: string): TypedArray {
    const size = itemSize(dtype);
    this.need(n * size, what);
    const a = viewTyped(dtype, this.bytes.buffer, this.bytes.byteOffset + this.pos, n);
    this.pos += n * size;
    return a;
  }
}

function readHash(r: Reader): Hash {
  if (++r.depth > r.maxDepth) r.fail(`nesting deeper than ${r.maxDepth}`);
  const nodes = new Map<string, RawHashNode>();
  const n = r.count("Hash node", 9);
  for (let i = 0; i < n; i++) {
    const key = r.key("node key");
    r.path.push(key);
    const type = r.typeCode("node type code");
    const attrs = readAttributes(r);
    const at = r.pos;
    const value = readValue(r, type);
    if (type === "HASH" && attrs?.get(CLASS_ID)?.value === NDARRAY_CLASS) {
      attrs.delete(CLASS_ID);
      nodes.set(key, {
        value: toNDArray(r, value as Hash, at),
        type: "NDARRAY",
        attrs: attrs.size ? attrs : null,
      });
    } else nodes.set(key, { value, type, attrs });
    r.path.pop();
  }
  r.depth--;
  return Hash[HASH_FROM_RAW](nodes);
}

function readAttributes(r: Reader): Map<string, HashAttribute> | null {
  const n = r.count("attribute", 6);
  if (n === 0) return null;
  const attrs = new Map<string, HashAttribute>();
  for (let i = 0; i < n; i++) {
    const name = r.key("attribute key");
    r.path.push(`@${name}`);
    const type = r.typeCode("attribute type code");
    attrs.set(name, { value: readValue(r, type), type });
    r.path.pop();
  }
  return attrs;
}

function readValue(r: Reader, type: HashType): HashValue {
  const dtype = TYPED_VECTORS[type];
  if (dtype) {
    const n = r.count(type, itemSize(dtype));
    return r.typed(dtype, n, type);
  }
  switch (type) {
    case "BOOL":
      return r.u8("BOOL") !== 0;
    case "CHAR":
      return String.fromCharCode(r.u8("CHAR"));
    case "INT8":
      r.need(1, type);
      return r.view.getInt8(r.pos++);
    case "UINT8":
      return r.u8(type);
    case "INT16":
      r.need(2, type);
      r.pos += 2;
      return r.view.getInt16(r.pos - 2, true);
    case "UINT16":
      r.need(2, type);
      r.pos += 2;
      return r.view.getUint16(r.pos - 2, true);
    case "INT32":
      r.need(4, type);
      r.pos += 4;
      return r.view.getInt32(r.pos - 4, true);
    case "UINT32":
      return r.u32(type);
    case "INT64":
      r.need(8, type);
      r.pos += 8;
      return r.view.getBigInt64(r.pos - 8, true);
    case "UINT64":
      r.need(8, type);
      r.pos += 8;
      return r.view.getBigUint64(r.pos - 8, true);
    case "FLOAT":
      r.need(4, type);
      r.pos += 4;
      return r.view.getFloat32(r.pos - 4, true);
    case "DOUBLE":
      r.need(8, type);
      r.pos += 8;
      return r.view.getFloat64(r.pos - 8, true);
    case "STRING":
      return r.text(r.u32("STRING length"), "STRING bytes");
    case "VECTOR_STRING": {
      const n = r.count(type, 4);
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = r.text(r.u32("STRING length"), "STRING bytes");
      return out;
    }
    case "VECTOR_BOOL": {
      const n = r.count(type, 1);
      const out = new Array<boolean>(n);
      for (let i = 0; i < n; i++) out[i] = r.bytes[r.pos + i] !== 0;
      r.pos += n;
      return out;
    }
    case "HASH":
      return readHash(r);
    case "VECTOR_HASH": {
      const n = r.count(type, 4);
      const out = new Array<Hash>(n);
      for (let i = 0; i < n; i++) out[i] = readHash(r);
      return out;
    }
    case "NONE": {
      const n = r.u32("NONE size");
      r.need(n, "NONE payload");
      r.pos += n;
      return null;
    }
    case "SCHEMA":
      return readSchema(r);
    default:
      return r.fail(`type ${type} cannot appear on the wire`);
  }
}

function readSchema(r: Reader): Hash {
  const size = r.u32("SCHEMA size");
  const start = r.pos;
  r.need(size, "SCHEMA bytes");
  const root = r.key("SCHEMA root name");
  const params = readHash(r);
  if (r.pos - start !== size) r.fail(`SCHEMA declared ${size} bytes but held ${r.pos - start}`, start);
  return Hash[HASH_FROM_RAW](new Map([[root, { value: params, type: "HASH", attrs: null }]]));
}

/** Turns a decoded Karabo NDArray Hash into an NDArray over the same bytes. */
function toNDArray(r: Reader, h: Hash, at: number): NDArray {
  const field = <T extends HashValue>(name: string, type: HashType): T => {
    if (!h.has(name) || h.typeOf(name) !== type) r.fail(`NDArray needs "${name}" of type ${type}`, at);
    return h.get<T>(name);
  };
  const data = field<Uint8Array>("data", "BYTE_ARRAY");
  const code = field<number>("type", "INT32");
  const shapeRaw = field<BigUint64Array>("shape", "VECTOR_UINT64");
  const bigEndian = h.has("isBigEndian") ? field<boolean>("isBigEndian", "BOOL") : false;
  const dtype = DTYPE_OF_CODE.get(code);
  if (!dtype) r.fail(`NDArray element type code ${code} is not supported`, at);
  const shape = Array.from(shapeRaw, (d) => {
    if (d > BigInt(Number.MAX_SAFE_INTEGER)) r.fail(`NDArray dimension ${d} is too large`, at);
    return Number(d);
  });
  const n = shapeSize(shape);
  const size = itemSize(dtype);
  if (n * size !== data.length)
    r.fail(`NDArray shape [${shape}] needs ${n * size} bytes, data has ${data.length}`, at);
  let typed = viewTyped(dtype, data.buffer, data.byteOffset, n);
  if (bigEndian && size > 1) typed = swapped(typed, size);
  return { dtype, shape, data: typed };
}

/** A byte-swapped copy (for NDArrays a big-endian Karabo host sent). */
function swapped(a: TypedArray, size: number): TypedArray {
  const copy = a.slice();
  const b = new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength);
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
  return copy;
}

/**
 * Decodes Karabo binary Hash bytes. Typed arrays and NDArrays are views into `bytes` where aligned (keep
 * `bytes` unchanged while they are used). Truncated or malformed input throws HashDecodeError.
 */
export function decodeHash(bytes: Uint8Array, options: DecodeOptions = {}): Hash {
  const { hash, length } = decodeHashPrefix(bytes, options);
  if (length !== bytes.length)
    throw new HashDecodeError(length, `${bytes.length - length} bytes left after the Hash`);
  return hash;
}

/** Decodes the Hash at the start of `bytes` and says how many bytes it took (for Hashes sent back to back). */
export function decodeHashPrefix(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): { hash: Hash; length: number } {
  if (!LITTLE_ENDIAN_HOST) throw new Error("decodeHash: big-endian hosts are not supported");
  const r = new Reader(bytes, options.maxDepth ?? 256);
  const hash = readHash(r);
  return { hash, length: r.pos };
}
