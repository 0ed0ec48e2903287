// The Karabo value types a Hash node can carry: their names, wire codes, the one JS representation each
// type has in sase, inference of a type from a JS value and validation of a value against a type.

import { type DType, isNDArray, type NDArray, type TypedArray } from "./ndarray.ts";

/** Karabo's type names (Types::ReferenceType), plus NDARRAY for a Hash-derived NDArray node. */
export type HashType =
  | "BOOL"
  | "CHAR"
  | "INT8"
  | "UINT8"
  | "INT16"
  | "UINT16"
  | "INT32"
  | "UINT32"
  | "INT64"
  | "UINT64"
  | "FLOAT"
  | "DOUBLE"
  | "STRING"
  | "VECTOR_BOOL"
  | "VECTOR_CHAR"
  | "VECTOR_INT8"
  | "VECTOR_UINT8"
  | "VECTOR_INT16"
  | "VECTOR_UINT16"
  | "VECTOR_INT32"
  | "VECTOR_UINT32"
  | "VECTOR_INT64"
  | "VECTOR_UINT64"
  | "VECTOR_FLOAT"
  | "VECTOR_DOUBLE"
  | "VECTOR_STRING"
  | "BYTE_ARRAY"
  | "HASH"
  | "VECTOR_HASH"
  | "NDARRAY"
  | "NONE"
  | "SCHEMA";

/**
 * Karabo's wire code of each type (karabo.md §4). NDARRAY travels as a HASH tagged `__classId: "NDArray"`,
 * so its code is HASH's.
 */
export const HASH_TYPE_CODES: Readonly<Record<HashType, number>> = {
  BOOL: 0,
  VECTOR_BOOL: 1,
  CHAR: 2,
  VECTOR_CHAR: 3,
  INT8: 4,
  VECTOR_INT8: 5,
  UINT8: 6,
  VECTOR_UINT8: 7,
  INT16: 8,
  VECTOR_INT16: 9,
  UINT16: 10,
  VECTOR_UINT16: 11,
  INT32: 12,
  VECTOR_INT32: 13,
  UINT32: 14,
  VECTOR_UINT32: 15,
  INT64: 16,
  VECTOR_INT64: 17,
  UINT64: 18,
  VECTOR_UINT64: 19,
  FLOAT: 20,
  VECTOR_FLOAT: 21,
  DOUBLE: 22,
  VECTOR_DOUBLE: 23,
  STRING: 28,
  VECTOR_STRING: 29,
  HASH: 30,
  VECTOR_HASH: 31,
  SCHEMA: 32,
  NONE: 35,
  BYTE_ARRAY: 37,
  NDARRAY: 30,
};

/** Every HashType name, for validating names that arrive from outside. */
export const HASH_TYPES: readonly HashType[] = Object.keys(HASH_TYPE_CODES) as HashType[];

/** True when `name` is one of the HashType names. */
export function isHashType(name: string): name is HashType {
  return Object.hasOwn(HASH_TYPE_CODES, name);
}

/** Scalar numeric types and their element dtype, byte width and integer range (null for floats). */
export interface NumericInfo {
  readonly dtype: DType;
  readonly bytes: number;
  readonly min: number | bigint | null;
  readonly max: number | bigint | null;
}

export const NUMERIC_SCALARS: Readonly<Partial<Record<HashType, NumericInfo>>> = {
  INT8: { dtype: "int8", bytes: 1, min: -128, max: 127 },
  UINT8: { dtype: "uint8", bytes: 1, min: 0, max: 255 },
  INT16: { dtype: "int16", bytes: 2, min: -32768, max: 32767 },
  UINT16: { dtype: "uint16", bytes: 2, min: 0, max: 65535 },
  INT32: { dtype: "int32", bytes: 4, min: -2147483648, max: 2147483647 },
  UINT32: { dtype: "uint32", bytes: 4, min: 0, max: 4294967295 },
  INT64: { dtype: "int64", bytes: 8, min: -(2n ** 63n), max: 2n ** 63n - 1n },
  UINT64: { dtype: "uint64", bytes: 8, min: 0n, max: 2n ** 64n - 1n },
  FLOAT: { dtype: "float32", bytes: 4, min: null, max: null },
  DOUBLE: { dtype: "float64", bytes: 8, min: null, max: null },
};

/** Vector types held as typed arrays in sase, with the element dtype. VECTOR_CHAR and BYTE_ARRAY hold bytes. */
export const TYPED_VECTORS: Readonly<Partial<Record<HashType, DType>>> = {
  VECTOR_CHAR: "uint8",
  VECTOR_INT8: "int8",
  VECTOR_UINT8: "uint8",
  VECTOR_INT16: "int16",
  VECTOR_UINT16: "uint16",
  VECTOR_INT32: "int32",
  VECTOR_UINT32: "uint32",
  VECTOR_INT64: "int64",
  VECTOR_UINT64: "uint64",
  VECTOR_FLOAT: "float32",
  VECTOR_DOUBLE: "float64",
  BYTE_ARRAY: "uint8",
};

/** The VECTOR_<elem> type of a typed array's dtype. */
export const VECTOR_OF_DTYPE: Readonly<Record<DType, HashType>> = {
  bool: "VECTOR_BOOL",
  int8: "VECTOR_INT8",
  uint8: "VECTOR_UINT8",
  int16: "VECTOR_INT16",
  uint16: "VECTOR_UINT16",
  int32: "VECTOR_INT32",
  uint32: "VECTOR_UINT32",
  int64: "VECTOR_INT64",
  uint64: "VECTOR_UINT64",
  float32: "VECTOR_FLOAT",
  float64: "VECTOR_DOUBLE",
};

/** The scalar type of each dtype (Karabo's NDArray `type` field holds this type's code). */
export const SCALAR_OF_DTYPE: Readonly<Record<DType, HashType>> = {
  bool: "BOOL",
  int8: "INT8",
  uint8: "UINT8",
  int16: "INT16",
  uint16: "UINT16",
  int32: "INT32",
  uint32: "UINT32",
  int64: "INT64",
  uint64: "UINT64",
  float32: "FLOAT",
  float64: "DOUBLE",
};

/** Checks for the typed-array class of each dtype (bool arrays are Uint8Array). */
export function isTypedArrayOf(value: unknown, dtype: DType): value is TypedArray {
  switch (dtype) {
    case "bool":
    case "uint8":
      return value instanceof Uint8Array;
    case "int8":
      return value instanceof Int8Array;
    case "int16":
      return value instanceof Int16Array;
    case "uint16":
      return value instanceof Uint16Array;
    case "int32":
      return value instanceof Int32Array;
    case "uint32":
      return value instanceof Uint32Array;
    case "int64":
      return value instanceof BigInt64Array;
    case "uint64":
      return value instanceof BigUint64Array;
    case "float32":
      return value instanceof Float32Array;
    case "float64":
      return value instanceof Float64Array;
  }
}

/** True for any of our typed arrays (not DataView). */
export function isTypedArray(value: unknown): value is TypedArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof Uint8ClampedArray);
}

/** True when a value is an NDArray (re-exported check, kept here so the Hash modules share one). */
export function isNDArrayValue(value: unknown): value is NDArray {
  return isNDArray(value) && !isTypedArray(value);
}
