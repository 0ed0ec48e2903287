// The schema of the data an output sends: which keys a token holds, of which type, and for arrays which
// dtype and shape. Writes are checked against it at the sender, so a bad token never leaves the device.

import { type DType, type Hash, type HashType, isNDArray, NUMERIC_SCALARS } from "../core/index.ts";
import { PipelineError } from "./types.ts";

/** One key of a token. */
export interface DataField {
  /** Karabo type of the value; NDARRAY for arrays with dtype and shape. */
  readonly type: HashType;
  /** Element type of an NDARRAY. */
  readonly dtype?: DType;
  /** Shape of an NDARRAY; `null` on an axis accepts any length there. */
  readonly shape?: readonly (number | null)[];
  /** A token may leave this key out. */
  readonly optional?: boolean;
  readonly description?: string;
  /** Physical unit, for displays and files. */
  readonly unit?: string;
}

/** Dotted key path → field. A HASH field accepts anything below it. */
export type DataSchema = Readonly<Record<string, DataField>>;

function scalarFits(type: HashType, value: unknown): boolean {
  if (type === "FLOAT" || type === "DOUBLE") return typeof value === "number";
  const info = NUMERIC_SCALARS[type];
  if (!info || info.min === null || info.max === null) return false;
  if (typeof value !== "bigint" && !(typeof value === "number" && Number.isSafeInteger(value))) return false;
  return value >= info.min && value <= info.max;
}

/** Problems of `data` against `schema`, one readable line each (empty when it conforms). */
export function dataSchemaProblems(schema: DataSchema, data: Hash): string[] {
  const problems: string[] = [];
  for (const [path, field] of Object.entries(schema)) {
    if (!data.has(path)) {
      if (!field.optional) problems.push(`key "${path}" (${field.type}) is missing`);
      continue;
    }
    const actual = data.typeOf(path);
    if (field.type === "NDARRAY") {
      const value = data.get(path);
      if (!isNDArray(value)) {
        problems.push(`key "${path}" should be NDARRAY, is ${actual}`);
        continue;
      }
      if (field.dtype && value.dtype !== field.dtype) {
        problems.push(`key "${path}" should have dtype ${field.dtype}, has ${value.dtype}`);
      }
      const shape = field.shape;
      if (
        shape &&
        (shape.length !== value.shape.length || shape.some((d, i) => d !== null && d !== value.shape[i]))
      ) {
        const want = shape.map((d) => (d === null ? "*" : String(d))).join(", ");
        problems.push(`key "${path}" should have shape [${want}], has [${value.shape.join(", ")}]`);
      }
    } else if (actual !== field.type && !scalarFits(field.type, data.get(path))) {
      problems.push(`key "${path}" should be ${field.type}, is ${actual}`);
    }
  }
  for (const path of data.paths()) {
    if (Object.hasOwn(schema, path)) continue;
    const parent = Object.entries(schema).find(
      ([p, f]) =>
        (f.type === "HASH" || f.type === "VECTOR_HASH" || f.type === "NDARRAY") && path.startsWith(`${p}.`),
    );
    if (!parent) problems.push(`key "${path}" is not in the data schema`);
  }
  return problems;
}

/** Throws a SCHEMA_MISMATCH PipelineError naming the channel and every problem. */
export function checkDataSchema(channelId: string, schema: DataSchema, data: Hash): void {
  const problems = dataSchemaProblems(schema, data);
  if (problems.length) {
    throw new PipelineError(
      "SCHEMA_MISMATCH",
      `token refused by output ${channelId}: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ""}`,
    );
  }
}

/** Number of payload bytes in a token (array and byte-array data), for throughput figures. */
export function payloadBytes(data: Hash): number {
  let n = 0;
  for (const path of data.paths()) {
    const v = data.get(path);
    if (isNDArray(v)) n += v.data.byteLength;
    else if (ArrayBuffer.isView(v)) n += v.byteLength;
  }
  return n;
}
