// Replaying EXDF runs over the bridge, shaped as EXtra-data's serve_files sends them, so that
// analysis code sees the same message from a file as from the live system: a key with one entry in
// a train is sent as that entry (a scalar, or an array without the entry axis), several entries as
// one array; strings as bytes (as h5py reads them); each source's metadata also under "metadata".
import { type NDArray, timestampNow, viewTyped } from "../core/index.ts";
import {
  type ArrayInFile,
  type DataCollection,
  isArrayInFile,
  isRecordData,
  type TrainData,
  type TrainDataInFile,
} from "../files/index.ts";
import type { BridgeTrain, BridgeValue, OutgoingTrain, SourceMetadata } from "./types.ts";

/** Options for turning a run into bridge trains. */
export interface RunTrainsOptions {
  /** Start over at the first train after the last, forever (default false). */
  loop?: boolean;
  /** Add wall-clock timestamps to the metadata, which files do not keep (OnDA needs them). */
  dummyTimestamps?: boolean;
}

const utf8 = new TextEncoder();

// One entry of an NDArray: a JS scalar for 0-d entries, else a view without the first axis.
function firstEntry(array: NDArray): BridgeValue | NDArray {
  const shape = array.shape.slice(1);
  if (shape.length === 0) {
    const v = array.data[0] as number | bigint;
    if (array.dtype === "bool") return v !== 0;
    if (typeof v === "bigint") return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
    return v;
  }
  const d = array.data;
  return { dtype: array.dtype, shape, data: viewTyped(array.dtype, d.buffer, d.byteOffset, d.length) };
}

/** Arrays of this many bytes per train or more are streamed from the file by `servedTrainsFromRun`. */
export const STREAM_FROM_BYTES = 1 << 20;

/** One train of a run as the bridge sends it. */
export function bridgeTrainFromRun(
  trainId: number,
  data: TrainData,
  options: RunTrainsOptions = {},
): BridgeTrain {
  return outgoingTrain(trainId, data, options) as BridgeTrain; // nothing in `data` is left in a file
}

function outgoingTrain(trainId: number, data: TrainDataInFile, options: RunTrainsOptions): OutgoingTrain {
  const train: OutgoingTrain = { data: {}, metadata: {} };
  let stamp: Pick<SourceMetadata, "timestamp" | "timestamp.sec" | "timestamp.frac"> = {};
  if (options.dummyTimestamps) {
    const ts = timestampNow(trainId);
    const frac = ts.frac.toString().padStart(18, "0");
    stamp = {
      timestamp: Number(`${ts.sec}.${frac}`),
      "timestamp.sec": String(ts.sec),
      "timestamp.frac": frac,
    };
  }
  for (const [source, keys] of Object.entries(data)) {
    const values: OutgoingTrain["data"][string] = {};
    for (const [key, value] of Object.entries(keys)) {
      if (Array.isArray(value)) {
        const bytes = value.map((s) => utf8.encode(s));
        values[key] = bytes.length === 1 ? (bytes[0] as Uint8Array) : bytes;
      } else if (isArrayInFile(value)) {
        values[key] =
          value.shape[0] === 1 ? ({ ...value, shape: value.shape.slice(1) } as ArrayInFile) : value;
      } else if (isRecordData(value)) {
        // A record (compound) key goes out as one key per field, "<key>.<field>", each as above.
        for (const [field, v] of Object.entries(value.fields)) {
          if (Array.isArray(v)) values[`${key}.${field}`] = v.map((s) => utf8.encode(s));
          else values[`${key}.${field}`] = v.shape[0] === 1 ? firstEntry(v) : v;
        }
      } else {
        values[key] = value.shape[0] === 1 ? firstEntry(value) : value;
      }
    }
    const meta: SourceMetadata = { source, ...stamp, "timestamp.tid": trainId };
    values.metadata = { ...meta } as BridgeValue;
    train.data[source] = values;
    train.metadata[source] = meta;
  }
  return train;
}

/** The trains of a run (or of a selection of it) as bridge trains, read lazily in order. */
export async function* bridgeTrainsFromRun(
  run: DataCollection,
  options: RunTrainsOptions = {},
): AsyncGenerator<BridgeTrain> {
  do {
    for await (const { trainId, data } of run.trains()) yield bridgeTrainFromRun(trainId, data, options);
  } while (options.loop);
}

/**
 * The trains of a run for BridgeServer.serve: as bridgeTrainsFromRun, but arrays of STREAM_FROM_BYTES
 * or more per train stay in the file until the server writes them, streamed through a few reused
 * buffers, so serving never holds a whole detector train in memory.
 */
export async function* servedTrainsFromRun(
  run: DataCollection,
  options: RunTrainsOptions = {},
): AsyncGenerator<OutgoingTrain> {
  do {
    for await (const { trainId, data } of run.trainsInFile(STREAM_FROM_BYTES))
      yield outgoingTrain(trainId, data, options);
  } while (options.loop);
}
