// Value rules of the Hash: which HashType a JS value gets, validation and conversion of a value to a type
// (one JS representation per type), and deep equality and copying of values.

import { HashRangeError, HashTypeError } from "./hash-errors.ts";
import {
  HASH_TYPES,
  type HashType,
  isNDArrayValue,
  isTypedArray,
  isTypedArrayOf,
  NUMERIC_SCALARS,
  TYPED_VECTORS,
  VECTOR_OF_DTYPE,
} from "./hash-types.ts";
import { allocTyped, dtypeOf, type NDArray, type TypedArray } from "./ndarray.ts";

/** Marks Hash instances (on Hash.prototype), so value rules can recognise them without importing the class. */
export const HASH_BRAND: unique symbol = Symbol.for("sase.Hash");

/** What the value rules need of a Hash: hash.ts builds the class on these rules, so they see it only so. */
export interface HashLike {
  readonly [HASH_BRAND]: true;
  readonly size: number;
  keys(): string[];
  typeOf(path: string): HashType;
  equals(other: HashLike): boolean;
  clone(): HashLike;
}

/** A Hash value as the rules see it (hash.ts's HashValue, with the Hash seen as HashLike). */
type Value =
  | boolean
  | number
  | bigint
  | string
  | null
  | HashLike
  | HashLike[]
  | boolean[]
  | number[]
  | bigint[]
  | string[]
  | TypedArray
  | NDArray;

/** A typed attribute as the rules see it. */
interface Attribute {
  readonly value: Value;
  readonly type: HashType;
}

/** True when `value` is a Hash. */
export function isHash(value: unknown): value is HashLike {
  return typeof value === "object" && value !== null && HASH_BRAND in value;
}

const FLOAT32_MAX = 3.4028234663852886e38;

/** The HashType sase infers for a JS value (see the Hash contract). */
export function inferType(value: Value, path = "<value>"): HashType {
  switch (typeof value) {
    case "boolean":
      return "BOOL";
    case "string":
      return "STRING";
    case "bigint":
      return value >= -(2n ** 63n) && value < 2n ** 63n ? "INT64" : "UINT64";
    case "number":
      if (Number.isInteger(value) && !Object.is(value, -0)) {
        if (value >= -2147483648 && value <= 2147483647) return "INT32";
        if (Number.isSafeInteger(value)) return "INT64";
      }
      return "DOUBLE";
  }
  if (value === null) return "NONE";
  if (isHash(value)) return "HASH";
  if (isTypedArray(value)) return VECTOR_OF_DTYPE[dtypeOf(value)];
  if (isNDArrayValue(value)) return "NDARRAY";
  if (Array.isArray(value)) return inferVectorType(value as unknown[], path);
  throw new HashTypeError(path, `"${path}": cannot store ${describeKind(value)} in a Hash`);
}

function inferVectorType(list: unknown[], path: string): HashType {
  if (list.length === 0) return "VECTOR_STRING";
  if (list.every((x) => typeof x === "string")) return "VECTOR_STRING";
  if (list.every((x) => typeof x === "boolean")) return "VECTOR_BOOL";
  if (list.every(isHash)) return "VECTOR_HASH";
  if (list.every((x) => typeof x === "bigint")) return "VECTOR_INT64";
  if (list.every((x) => typeof x === "number")) {
    const nums = list as number[];
    if (nums.every((x) => Number.isInteger(x) && !Object.is(x, -0))) {
      if (nums.every((x) => x >= -2147483648 && x <= 2147483647)) return "VECTOR_INT32";
      if (nums.every((x) => Number.isSafeInteger(x))) return "VECTOR_INT64";
    }
    return "VECTOR_DOUBLE";
  }
  throw new HashTypeError(path, `"${path}": an array mixing element kinds cannot be stored in a Hash`);
}

export function describeKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value;
}

function checkInteger(v: number | bigint, type: HashType, path: string): void {
  const info = NUMERIC_SCALARS[type]!;
  if (typeof v === "number" && !Number.isInteger(v)) {
    throw new HashRangeError(path, `"${path}": ${v} is not an integer, as ${type} needs`);
  }
  const big = typeof v === "bigint";
  const lo = info.min!;
  const hi = info.max!;
  const below = big ? v < BigInt(lo) : v < Number(lo);
  const above = big ? v > BigInt(hi) : v > Number(hi);
  if (below || above)
    throw new HashRangeError(path, `"${path}": ${v} is outside the range of ${type} [${lo}, ${hi}]`);
}

function kindError(value: Value, type: HashType, path: string): never {
  throw new HashTypeError(path, `"${path}": ${describeKind(value)} cannot be stored as ${type}`);
}

/** Validates `value` against `type` and returns it in the type's one representation. */
export function coerce(value: Value, type: HashType, path = "<value>"): Value {
  // Errors are raised by a plain function, not a closure: coerce runs for every value set.
  const numeric = NUMERIC_SCALARS[type];
  if (numeric) {
    if (typeof value !== "number" && typeof value !== "bigint") return kindError(value, type, path);
    if (numeric.min === null) {
      if (typeof value === "bigint") return kindError(value, type, path);
      if (type === "FLOAT") {
        if (Number.isFinite(value) && Math.abs(value) > FLOAT32_MAX) {
          throw new HashRangeError(path, `"${path}": ${value} is outside the range of FLOAT`);
        }
        return Math.fround(value);
      }
      return value;
    }
    if (
      typeof value === "number" &&
      numeric.bytes === 8 &&
      Number.isInteger(value) &&
      !Number.isSafeInteger(value)
    ) {
      throw new HashRangeError(path, `"${path}": ${value} is beyond 2^53; pass a bigint for exact ${type}`);
    }
    checkInteger(value, type, path);
    return numeric.bytes === 8 ? BigInt(value) : Number(value);
  }
  const vectorDtype = TYPED_VECTORS[type];
  if (vectorDtype) {
    if (isTypedArrayOf(value, vectorDtype)) return value;
    if (!isTypedArray(value) && !Array.isArray(value)) return kindError(value, type, path);
    const list = value as ArrayLike<unknown>;
    const out = allocTyped(vectorDtype, list.length);
    const elemType = (type === "BYTE_ARRAY" || type === "VECTOR_CHAR" ? "UINT8" : type.slice(7)) as HashType;
    for (let i = 0; i < list.length; i++) {
      const x = list[i];
      if (typeof x !== "number" && typeof x !== "bigint") return kindError(value, type, path);
      (out as unknown as (number | bigint)[])[i] = coerce(x, elemType, `${path}[${i}]`) as number | bigint;
    }
    return out;
  }
  switch (type) {
    case "BOOL":
      return typeof value === "boolean" ? value : kindError(value, type, path);
    case "CHAR":
      if (typeof value !== "string") return kindError(value, type, path);
      if (value.length !== 1 || value.charCodeAt(0) > 255) {
        throw new HashRangeError(path, `"${path}": CHAR needs one character of code 0..255, got "${value}"`);
      }
      return value;
    case "STRING":
      return typeof value === "string" ? value : kindError(value, type, path);
    case "NONE":
      return value === null ? null : kindError(value, type, path);
    case "HASH":
      return isHash(value) ? value : kindError(value, type, path);
    case "SCHEMA":
      // Karabo's Schema is a root name plus a parameter Hash: held as a Hash with that one key.
      if (!isHash(value)) return kindError(value, type, path);
      if (value.size !== 1 || value.typeOf(value.keys()[0]!) !== "HASH") {
        throw new HashTypeError(
          path,
          `"${path}": a SCHEMA value is a Hash with one key (the root name) holding a Hash`,
        );
      }
      return value;
    case "NDARRAY":
      return isNDArrayValue(value) ? value : kindError(value, type, path);
    case "VECTOR_BOOL":
      return Array.isArray(value) && value.every((x) => typeof x === "boolean")
        ? value
        : kindError(value, type, path);
    case "VECTOR_STRING":
      return Array.isArray(value) && value.every((x) => typeof x === "string")
        ? value
        : kindError(value, type, path);
    case "VECTOR_HASH":
      return Array.isArray(value) && value.every(isHash) ? value : kindError(value, type, path);
    default:
      if (!HASH_TYPES.includes(type)) throw new HashTypeError(path, `"${path}": unknown Hash type "${type}"`);
      return kindError(value, type, path);
  }
}

function bytesEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Deep equality of two values of the same HashType. */
export function valuesEqual(a: Value, b: Value): boolean {
  if (isHash(a)) return isHash(b) && a.equals(b);
  if (isTypedArray(a)) return isTypedArray(b) && a.constructor === b.constructor && bytesEqual(a, b);
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!valuesEqual(a[i] as Value, b[i] as Value)) return false;
    return true;
  }
  if (isNDArrayValue(a)) {
    return (
      isNDArrayValue(b) &&
      a.dtype === b.dtype &&
      a.shape.length === b.shape.length &&
      a.shape.every((d, i) => d === b.shape[i]) &&
      a.data.constructor === b.data.constructor &&
      bytesEqual(a.data, b.data)
    );
  }
  return Object.is(a, b);
}

/** Equality of two attribute maps (order does not matter). */
export function attrsEqual(a: Map<string, Attribute> | null, b: Map<string, Attribute> | null): boolean {
  const na = a?.size ?? 0;
  if (na !== (b?.size ?? 0)) return false;
  if (na === 0) return true;
  for (const [name, x] of a!) {
    const y = b!.get(name);
    if (!y || x.type !== y.type || !valuesEqual(x.value, y.value)) return false;
  }
  return true;
}

/** A deep copy of a value (typed arrays and NDArray data copied too). */
export function cloneValue(v: Value): Value {
  if (isHash(v)) return v.clone();
  if (isTypedArray(v)) return v.slice();
  if (Array.isArray(v)) return v.map((x) => cloneValue(x as Value)) as Value;
  if (isNDArrayValue(v)) return { dtype: v.dtype, shape: [...v.shape], data: v.data.slice() };
  return v;
}
