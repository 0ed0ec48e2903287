// What a run writer works from: the options and source specs its callers give, each dataset's plan
// (type, chunking, rows written and pending), and the conversion of a train's values to rows. Shared
// by the writer (RunWriter: sources, buffering, the API) and the files of each aggregator (Aggregator).
import {
  allocTyped,
  type DType,
  isNDArray,
  type NDArray,
  type Timestamp,
  type TypedArray,
} from "../core/index.ts";
import { FilesError } from "./errors.ts";

/** The EXDF format version written (the newest whose layout we can check against EXtra-data's files). */
export const WRITTEN_FORMAT_VERSION = "1.2";

/** Options of a run writer. */
export interface RunWriterOptions {
  readonly proposal: number;
  readonly run: number;
  /** File name prefix (data category), default "RAW". */
  readonly category?: string;
  /** Trains per sequence file before rolling to the next (default 256). */
  readonly trainsPerSequence?: number;
  /** Write and flush every N trains (default 1: every train is durable once writeTrain returns). */
  readonly flushEvery?: number;
  /** gzip level 1-9 for per-train datasets, 0 for none (default 0). */
  readonly compression?: number;
  /**
   * Target chunk size in bytes for per-train datasets (default 16 MiB, 1 MiB when compressed). Chunks
   * bigger than HDF5's chunk cache (8 MiB) are written from the caller's buffer (see H5File.writeChunksDirect).
   */
  readonly chunkBytes?: number;
  readonly runType?: string;
  readonly sample?: string;
  readonly daqLibrary?: string;
  readonly karaboFramework?: string;
  /** Write the run index on close (default true). */
  readonly writeIndex?: boolean;
}

/** One key of a source: element type and shape of one entry ([] for a scalar). */
export interface KeySpec {
  readonly dtype: DType;
  readonly entryShape?: readonly number[];
}

/** A control (slow data) source: one entry per train for each property. */
export interface ControlSourceSpec {
  /** Which aggregator's files hold it (e.g. "DA01"). */
  readonly aggregator: string;
  /** Property name (e.g. "pulseEnergy.photonFlux") → type; written as <property>.value/.timestamp. */
  readonly properties: Readonly<Record<string, KeySpec>>;
  /** Values at run start, written to the RUN section (defaults to zeros). */
  readonly runValues?: Readonly<Record<string, number | bigint | boolean | string | TypedArray>>;
}

/** An instrument (fast data) source: any number of entries per train in each index group. */
export interface InstrumentSourceSpec {
  readonly aggregator: string;
  /** Key (e.g. "image.data"; the first component is the index group) → type and entry shape. */
  readonly keys: Readonly<Record<string, KeySpec>>;
}

/** A value for one key in one train: a scalar, a typed array (entries × entry size) or an NDArray. */
export type KeyValue = number | bigint | boolean | TypedArray | NDArray;

/** The data of one train: source → key (control: property) → value. */
export type TrainInput = Readonly<Record<string, Readonly<Record<string, KeyValue>>>>;

/** A writer's options with their defaults filled in. */
export type WriterSettings = Required<
  Omit<RunWriterOptions, "runType" | "sample" | "daqLibrary" | "karaboFramework">
> &
  RunWriterOptions;

export interface DatasetPlan {
  readonly path: string;
  readonly dtype: DType;
  readonly entryShape: readonly number[];
  readonly rowLen: number;
  readonly chunkRows: number;
  /** Uncompressed chunks of at least ALIGNED_CHUNK_BYTES: they start at CHUNK_ALIGNMENT in the file. */
  readonly alignedChunks: boolean;
  /**
   * Allocated by HDF5 unfilled, rows written by pwrite from the caller's arrays
   * (H5File.writeChunksDirect): aligned chunks bigger than HDF5's chunk cache, and small chunks (see
   * RunWriter.plan).
   */
  readonly unfilled: boolean;
  /** Pieces written since the last flush. */
  pending: TypedArray[];
  pendingRows: number;
  rows: number;
  /**
   * Rows the dataset has in the open file: those written and, for a dataset written directly, room
   * allocated ahead for a few more trains (cut to `rows` at close).
   */
  capacity: number;
}

export interface GroupPlan {
  readonly source: string;
  readonly indexPath: string;
  readonly datasets: Map<string, DatasetPlan>;
  pendingCounts: number[];
  rows: number;
  written: number;
}

export interface SourcePlan {
  readonly name: string;
  readonly section: "CONTROL" | "INSTRUMENT";
  readonly aggregator: string;
  readonly groups: Map<string, GroupPlan>;
  readonly control?: ControlSourceSpec;
  /** key → [group, dataset key inside group] */
  readonly keyMap: Map<string, { group: string; dataset: string }>;
}

/** A timestamp as nanoseconds since the epoch (now when there is none). */
export function nsOf(ts: Timestamp | undefined): bigint {
  if (!ts) return BigInt(Date.now()) * 1_000_000n;
  return BigInt(ts.sec) * 1_000_000_000n + ts.frac / 1_000_000_000n;
}

/** Converts one key's value to a typed array of `dtype` and returns it with its number of entries. */
export function toEntries(v: KeyValue, plan: DatasetPlan, where: string): { data: TypedArray; rows: number } {
  const big = plan.dtype === "int64" || plan.dtype === "uint64";
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") {
    if (plan.rowLen !== 1)
      throw new FilesError(`${where}: a scalar given for entries of shape [${plan.entryShape}]`, {
        code: "BAD_DATA",
      });
    const a = allocTyped(plan.dtype, 1);
    if (big) (a as BigInt64Array)[0] = BigInt(typeof v === "boolean" ? Number(v) : v);
    else (a as Float64Array)[0] = Number(v);
    return { data: a, rows: 1 };
  }
  let data: TypedArray;
  if (isNDArray(v)) {
    const shape = v.shape;
    const tail = shape.slice(shape.length - plan.entryShape.length);
    if (shape.length < plan.entryShape.length || tail.some((d, i) => d !== plan.entryShape[i])) {
      throw new FilesError(
        `${where}: array of shape [${shape}] does not end with the entry shape [${plan.entryShape}]`,
        { code: "BAD_DATA" },
      );
    }
    data = v.data;
  } else {
    data = v;
  }
  if (data.length % plan.rowLen !== 0) {
    throw new FilesError(
      `${where}: ${data.length} elements is not a whole number of entries of ${plan.rowLen}`,
      { code: "BAD_DATA" },
    );
  }
  const target = allocTyped(plan.dtype, 0).constructor as { name: string };
  if (data.constructor.name !== target.name) {
    // Convert element type (a copy); same-type arrays are written as they are.
    const conv = allocTyped(plan.dtype, data.length);
    if (big)
      for (let i = 0; i < data.length; i++) (conv as BigInt64Array)[i] = BigInt(data[i] as number | bigint);
    else for (let i = 0; i < data.length; i++) (conv as Float64Array)[i] = Number(data[i]);
    data = conv;
  }
  return { data, rows: data.length / plan.rowLen };
}
