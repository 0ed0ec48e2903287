// Shared facts of Karabo's binary Hash layout (karabo.md §4) for the encoder and decoder: little-endian;
// Hash = u32 count, then per node: key (u8 length + bytes), u32 type code, attributes (u32 count, each
// key + u32 type + value), value. An NDArray travels as a HASH tagged with attribute __classId "NDArray".

import {
  HASH_TYPE_CODES as TYPE_CODES,
  type HashType,
  SCALAR_OF_DTYPE as SCALAR_OF,
  TYPED_VECTORS as VECTORS,
} from "./hash-types.ts";
import type { DType } from "./ndarray.ts";

// Imported bindings can be live getters (tsx): the hot paths read plain local constants instead.
export const HASH_TYPE_CODES: Readonly<Record<HashType, number>> = TYPE_CODES;
export const SCALAR_OF_DTYPE: Readonly<Record<DType, HashType>> = SCALAR_OF;
export const TYPED_VECTORS: Readonly<Partial<Record<HashType, DType>>> = VECTORS;

/** The attribute naming a Hash-derived class, and the class name of an NDArray. */
export const CLASS_ID = "__classId";
export const NDARRAY_CLASS = "NDArray";
/** Keys are u8-length prefixed. */
export const KEY_MAX_BYTES = 255;
/** Typed-array views are only the wire's little-endian numbers on a little-endian host. */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
