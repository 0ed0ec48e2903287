// Decodes Karabo binary Hash bytes. Every read checks the bytes left first and every count is checked
// against them before anything is allocated, so truncated or hostile input throws HashDecodeError (naming
// the offset, what was expected and where in the Hash) instead of hanging, over-reading or crashing.

import {
  Hash,
  HASH_FROM_RAW as FROM_RAW,
  type HashAttribute,
  type HashValue,
  type RawHashNode,
} from "./hash.ts";
import type { HashType } from "./hash-types.ts";
import {
  CLASS_ID,
  HASH_TYPE_CODES,
  LITTLE_ENDIAN_HOST,
  NDARRAY_CLASS,
  SCALAR_OF_DTYPE,
  TYPED_VECTORS,
} from "./hash-wire.ts";
import { type DType, itemSize, type NDArray, shapeSize, type TypedArray, viewTyped } from "./ndarray.ts";
import { SaseError } from "./errors.ts";

/** Bytes that are not a valid Karabo binary Hash; `offset` is where decoding stopped. */
export class HashDecodeError extends SaseError {
  override name = "HashDecodeError";
  readonly offset: number;
  constructor(offset: number, message: string) {
    super("HASH_DECODE", `Hash decode error at offset ${offset}: ${message}`);
    this.offset = offset;
  }
}

/** Options of decodeHash. */
export interface DecodeOptions {
  /** Deepest nesting accepted (default 256): bounds the recursion on hostile input. */
  readonly maxDepth?: number;
}

const HASH_FROM_RAW: typeof FROM_RAW = FROM_RAW;

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

/** Element dtype of each NDArray `type` code. */
const DTYPE_OF_CODE = new Map<number, DType>();
for (const [dtype, type] of Object.entries(SCALAR_OF_DTYPE) as [DType, HashType][]) {
  DTYPE_OF_CODE.set(HASH_TYPE_CODES[type], dtype);
}

const utf8Decoder = new TextDecoder("utf-8");

/** Reads Karabo binary; every read checks bounds first, so bad input throws instead of over-reading. */
class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly maxDepth: number;
  pos = 0;
  depth = 0;
  readonly path: string[] = [];

  /** The same bytes as a Buffer, for its native latin1 string reads. */
  readonly buf: Buffer;

  constructor(bytes: Uint8Array, maxDepth: number) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
    if (n < 64) {
      // Keys and ids are short ASCII: one native latin1 read builds the string without the decoder's
      // call overhead or a string per character.
      const b = this.bytes;
      for (let i = start; i < start + n; i++)
        if (b[i]! > 0x7f) return utf8Decoder.decode(b.subarray(start, start + n));
      return this.buf.toString("latin1", start, start + n);
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
    if (type === "HASH" && attrs?.get(CLASS_ID)?.value === NDARRAY_CLASS) {
      attrs.delete(CLASS_ID);
      nodes.set(key, { value: readNDArray(r), type: "NDARRAY", attrs: attrs.size ? attrs : null });
    } else nodes.set(key, { value: readValue(r, type), type, attrs });
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

/**
 * Reads a Karabo NDArray Hash straight into an NDArray over the same bytes, without building the Hash
 * (this runs for every array of every token). Its nodes are read as readHash reads them (a nested
 * NDArray is checked too); of each name the last node counts, other names are skipped.
 */
function readNDArray(r: Reader): NDArray {
  const at = r.pos;
  if (++r.depth > r.maxDepth) r.fail(`nesting deeper than ${r.maxDepth}`);
  let data: HashValue | undefined;
  let dataType: HashType | undefined;
  let code: HashValue | undefined;
  let codeType: HashType | undefined;
  let shapeRaw: HashValue | undefined;
  let shapeType: HashType | undefined;
  let bigEndian: HashValue | undefined;
  let bigEndianType: HashType | undefined;
  const n = r.count("Hash node", 9);
  for (let i = 0; i < n; i++) {
    const key = r.key("node key");
    r.path.push(key);
    let type = r.typeCode("node type code");
    const attrs = readAttributes(r);
    let value: HashValue;
    if (type === "HASH" && attrs?.get(CLASS_ID)?.value === NDARRAY_CLASS) {
      value = readNDArray(r);
      type = "NDARRAY";
    } else value = readValue(r, type);
    r.path.pop();
    if (key === "data") {
      data = value;
      dataType = type;
    } else if (key === "type") {
      code = value;
      codeType = type;
    } else if (key === "shape") {
      shapeRaw = value;
      shapeType = type;
    } else if (key === "isBigEndian") {
      bigEndian = value;
      bigEndianType = type;
    }
  }
  r.depth--;
  const need = (name: string, type: HashType): never => r.fail(`NDArray needs "${name}" of type ${type}`, at);
  if (dataType !== "BYTE_ARRAY") need("data", "BYTE_ARRAY");
  if (codeType !== "INT32") need("type", "INT32");
  if (shapeType !== "VECTOR_UINT64") need("shape", "VECTOR_UINT64");
  if (bigEndianType !== undefined && bigEndianType !== "BOOL") need("isBigEndian", "BOOL");
  const bytes = data as Uint8Array;
  const dtype = DTYPE_OF_CODE.get(code as number);
  if (!dtype) return r.fail(`NDArray element type code ${code} is not supported`, at);
  const dims = shapeRaw as BigUint64Array;
  const shape = new Array<number>(dims.length);
  for (let i = 0; i < dims.length; i++) {
    if (dims[i]! > MAX_DIMENSION) r.fail(`NDArray dimension ${dims[i]} is too large`, at);
    shape[i] = Number(dims[i]);
  }
  const count = shapeSize(shape);
  const size = itemSize(dtype);
  if (count * size !== bytes.length)
    r.fail(`NDArray shape [${shape}] needs ${count * size} bytes, data has ${bytes.length}`, at);
  let typed = viewTyped(dtype, bytes.buffer, bytes.byteOffset, count);
  if (bigEndian === true && size > 1) typed = swapped(typed, size);
  return { dtype, shape, data: typed };
}

const MAX_DIMENSION = BigInt(Number.MAX_SAFE_INTEGER);

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
  if (!LITTLE_ENDIAN_HOST)
    throw new SaseError("UNSUPPORTED_HOST", "decodeHash: big-endian hosts are not supported");
  const r = new Reader(bytes, options.maxDepth ?? 256);
  const hash = readHash(r);
  return { hash, length: r.pos };
}
