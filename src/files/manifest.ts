// A run's structure as plain JSON, in the shape of the reference fixtures' manifest.json (what
// EXtra-data reports): files, train IDs, run metadata, and per source its section and per key the
// dtype, entry shape, number of entries, and for numeric keys with entries of at most one dimension
// the first entry and the float64 sum of all entries.
import { type DType, shapeSize } from "../core/index.ts";
import type { KeyDType, RecordField } from "./element-types.ts";
import type { RunMetadata, Section } from "./model.ts";
import type { KeyData } from "./keydata.ts";
import type { DataCollection } from "./reader.ts";

/** One key as the manifest describes it. */
export interface ManifestKey {
  dtype: string;
  entry_shape: number[];
  total: number;
  first?: number | number[];
  sum?: number;
}

/** The manifest of a run. */
export interface RunManifest {
  files: string[];
  train_ids: number[];
  run_metadata: RunMetadata;
  sources: Record<string, { section: Section; keys: Record<string, ManifestKey> }>;
}

/** Options for building a manifest. */
export interface ManifestOptions {
  /** Read data for `first`/`sum` (default true); without, only dtype/shape/total (no data read). */
  readonly values?: boolean;
  /** Called after each source: (done, total). */
  readonly onProgress?: (done: number, total: number) => void;
}

const NUMPY_CODE: Record<DType, string> = {
  bool: "?",
  int8: "i1",
  uint8: "u1",
  int16: "<i2",
  uint16: "<u2",
  int32: "<i4",
  uint32: "<u4",
  int64: "<i8",
  uint64: "<u8",
  float32: "<f4",
  float64: "<f8",
};

/** A key's element type as numpy (and so EXtra-data) prints it: "uint16", or a record's field list. */
export function dtypeText(kd: { dtype: KeyDType; fields: readonly RecordField[] }): string {
  if (kd.dtype !== "record") return kd.dtype;
  const fields = kd.fields.map((f) => {
    const code = f.dtype === "object" ? `S${f.size / Math.max(1, shapeSize(f.shape))}` : NUMPY_CODE[f.dtype];
    const shape =
      f.shape.length === 1 ? `, (${f.shape[0]},)` : f.shape.length ? `, (${f.shape.join(", ")})` : "";
    return `('${f.name}', '${code}'${shape})`;
  });
  return `[${fields.join(", ")}]`;
}

function describeKey(kd: KeyData, values: boolean): ManifestKey {
  const total = kd.size;
  const out: ManifestKey = { dtype: dtypeText(kd), entry_shape: [...kd.entryShape], total };
  if (!values || kd.dtype === "object" || kd.dtype === "record" || kd.entryShape.length > 1 || total === 0)
    return out;
  const arr = kd.ndarray();
  const rowLen = kd.entryShape.length ? (kd.entryShape[0] as number) : 1;
  const d = arr.data;
  const first: number[] = [];
  for (let i = 0; i < rowLen; i++) first.push(Number(d[i]));
  let sum = 0;
  for (let i = 0; i < d.length; i++) sum += Number(d[i]);
  out.first = kd.entryShape.length ? first : (first[0] as number);
  out.sum = sum;
  return out;
}

/** Builds the manifest of a collection (reads every small key's data unless values is false). */
export function runManifest(dc: DataCollection, options: ManifestOptions = {}): RunManifest {
  const values = options.values ?? true;
  const sources: RunManifest["sources"] = {};
  const all = dc.sources;
  all.forEach((s, i) => {
    const keys: Record<string, ManifestKey> = {};
    for (const k of dc.keys(s)) keys[k] = describeKey(dc.keyData(s, k), values);
    sources[s] = { section: dc.section(s), keys };
    options.onProgress?.(i + 1, all.length);
  });
  return {
    files: [...dc.files].sort(),
    train_ids: [...dc.trainIds],
    run_metadata: dc.runMetadata(),
    sources,
  };
}
