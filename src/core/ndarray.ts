// N-dimensional arrays as every layer passes them around: a typed array over C-ordered data, its
// element type and its shape. Views, never copies, wherever the bytes already sit in memory.
import { SaseError, showValue } from "./errors.ts";

/** Element types, named as numpy names them (so EXDF, the bridge and Python agree). */
export type DType =
  | "bool"
  | "int8"
  | "uint8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "float32"
  | "float64";

/** Every typed array an NDArray may hold. */
export type TypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** A C-ordered array: `data.length` equals the product of `shape`. */
export interface NDArray<T extends TypedArray = TypedArray> {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: T;
}

type TypedArrayConstructor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  new (length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

const constructors: Record<DType, TypedArrayConstructor> = {
  bool: Uint8Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
};

/** All dtypes, for validating names that arrive from outside. */
export const DTYPES: readonly DType[] = Object.keys(constructors) as DType[];

/** True when `name` is one of our dtype names. */
export function isDType(name: string): name is DType {
  return Object.hasOwn(constructors, name);
}

/** Bytes per element of a dtype. */
export function itemSize(dtype: DType): number {
  return constructors[dtype].BYTES_PER_ELEMENT;
}

/** Number of elements of an array of this shape (1 for a scalar shape []). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The dtype of a typed array (a Uint8Array is "uint8"; say "bool" explicitly where meant). */
export function dtypeOf(data: TypedArray): DType {
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Uint16Array) return "uint16";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Uint32Array) return "uint32";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof BigUint64Array) return "uint64";
  if (data instanceof Float32Array) return "float32";
  return "float64";
}

/** A new zero-filled typed array of `length` elements of `dtype`. */
export function allocTyped(dtype: DType, length: number): TypedArray {
  return new constructors[dtype](length);
}

/**
 * A typed-array view of `length` elements over existing bytes, without copying. When the offset is
 * not aligned to the element size (possible inside network frames), the bytes are copied once into an
 * aligned buffer instead, because typed arrays cannot be unaligned.
 */
export function viewTyped(
  dtype: DType,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): TypedArray {
  const Ctor = constructors[dtype];
  if (byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(buffer, byteOffset, length);
  const bytes = new Uint8Array(buffer, byteOffset, length * Ctor.BYTES_PER_ELEMENT).slice();
  return new Ctor(bytes.buffer, 0, length);
}

/** An NDArray over `data` with `shape`; throws if their sizes disagree. */
export function ndarray<T extends TypedArray>(data: T, shape: readonly number[], dtype?: DType): NDArray<T> {
  const n = shapeSize(shape);
  if (n !== data.length) {
    throw new SaseError(
      "BAD_SHAPE",
      `ndarray: shape [${shape.join(", ")}] needs ${n} elements, the data has ${data.length}`,
      { value: showValue(shape) },
    );
  }
  return { dtype: dtype ?? dtypeOf(data), shape: [...shape], data };
}

/** True when `value` looks like an NDArray (used where values of many kinds meet). */
export function isNDArray(value: unknown): value is NDArray {
  return (
    typeof value === "object" &&
    value !== null &&
    "dtype" in value &&
    "shape" in value &&
    "data" in value &&
    ArrayBuffer.isView((value as { data: unknown }).data)
  );
}

/** The bytes of an array, as a view (no copy). */
export function bytesOf(array: NDArray): Uint8Array {
  const d = array.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}
