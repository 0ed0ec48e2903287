// HDF5 element types as the files layer reports them: h5wasm's datatype metadata mapped to a dtype
// (numbers, booleans as h5py writes them, enums as their integers, strings as "object", compound types
// as records of typed fields), and the type text h5wasm takes to write each dtype.
import type { DType } from "../core/index.ts";
import { FilesError } from "./errors.ts";

/**
 * Element type of a dataset as the files layer reports it: "object" for strings (like numpy), "record"
 * for HDF5 compound types (read as one typed array per field, see RecordField).
 */
export type KeyDType = DType | "object" | "record";

/** One field of a compound (record) type: numbers, booleans or fixed-length strings. */
export interface RecordField {
  readonly name: string;
  /** Element type ("object": a fixed-length string of `size` bytes). */
  readonly dtype: DType | "object";
  /** Shape of the field within one record ([] for a scalar, [3] for an array member). */
  readonly shape: readonly number[];
  /** Byte offset of the field within a record, and its size in bytes (all elements). */
  readonly offset: number;
  readonly size: number;
}

/** The type text h5wasm takes for a dataset of `dtype` (little-endian, as numpy writes it). */
export function h5wasmDtype(dtype: DType): string {
  const map: Record<DType, string> = {
    bool: "<b",
    int8: "<b",
    uint8: "<B",
    int16: "<h",
    uint16: "<H",
    int32: "<i",
    uint32: "<I",
    int64: "<q",
    uint64: "<Q",
    float32: "<f",
    float64: "<d",
  };
  return map[dtype];
}

/** What h5wasm tells of a datatype (its metadata). */
export interface MetaLike {
  type: number;
  size: number;
  signed: boolean;
  vlen: boolean;
  enum_type?: { members: Record<string, number>; type: number };
  compound_type?: { members: (MetaLike & { name: string; offset: number })[] };
  array_type?: MetaLike & { shape: number[] | null };
}

/** Field types a record may hold: numbers, booleans, (integer) enums, fixed strings, arrays of them. */
function fieldOf(
  member: MetaLike & { name: string; offset: number },
  file: string,
  path: string,
): RecordField {
  let base: MetaLike = member;
  let shape: number[] = [];
  if (member.type === 10 && member.array_type) {
    base = member.array_type;
    shape = [...(member.array_type.shape ?? [])];
  }
  const where = `record field "${member.name}"`;
  if (base.type === 3 && !base.vlen)
    return { name: member.name, dtype: "object", shape, offset: member.offset, size: member.size };
  if (base.type === 6 || base.type === 3 || base.type === 9 || base.type === 10)
    throw new FilesError(
      `unsupported HDF5 element type in ${where} (class ${base.type}, ${base.size} bytes)`,
      {
        file,
        dataset: path,
      },
    );
  const dtype = dtypeOfMeta(base, file, `${path} (${where})`);
  return { name: member.name, dtype: dtype as DType, shape, offset: member.offset, size: member.size };
}

/** The fields of a compound type; throws for a field that cannot be decoded. */
export function recordFields(meta: MetaLike, file: string, path: string): RecordField[] {
  return (meta.compound_type?.members ?? []).map((m) => fieldOf(m, file, path));
}

/** A datatype as the files layer reports it; throws naming the file and dataset where it cannot. */
export function dtypeOfMeta(meta: MetaLike, file: string, path: string): KeyDType {
  const { type, size, signed } = meta;
  if (type === 6 && meta.compound_type) {
    recordFields(meta, file, path); // throws for fields we cannot decode
    return "record";
  }
  if (type === 0) {
    const bits = size * 8;
    const name = `${signed ? "int" : "uint"}${bits}`;
    if (["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"].includes(name))
      return name as DType;
  } else if (type === 1) {
    if (size === 4) return "float32";
    if (size === 8) return "float64";
  } else if (type === 3) {
    return "object";
  } else if (type === 8 && meta.enum_type) {
    // h5py stores numpy bools as an 8-bit enum {FALSE: 0, TRUE: 1}.
    const names = Object.keys(meta.enum_type.members).sort().join(",");
    if (names === "FALSE,TRUE" && size === 1) return "bool";
    // Other enums read as their integer base type, as h5py and EXtra-data give them.
    if (meta.enum_type.type === 0) return dtypeOfMeta({ type: 0, size, signed, vlen: false }, file, path);
  }
  throw new FilesError(`unsupported HDF5 element type (class ${type}, ${size} bytes)`, {
    file,
    dataset: path,
  });
}
