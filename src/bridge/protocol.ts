// Karabo bridge wire format, both versions karabo-bridge-py speaks:
//  2.2: per source (sorted by name) a msgpack header {source, content: "msgpack", metadata} and a
//       msgpack frame of its non-array values; then per array a header {source, content: "array",
//       path, dtype, shape} and a frame of the array's raw C-order bytes (sent and read in place).
//  1.0: a single msgpack frame {source: {...values, metadata}} with arrays in msgpack-numpy's dict
//       form {b"nd": true, b"type": "<f4", b"kind": b"", b"shape": [...], b"data": bytes}.
import {
  type DType,
  type NDArray,
  bytesOf,
  isDType,
  isNDArray,
  itemSize,
  shapeSize,
  viewTyped,
  SaseError,
  showValue,
} from "../core/index.ts";
import { type ArrayInFile, isArrayInFile, loadArrayInFile } from "../files/index.ts";
import {
  BinKey,
  type EncodableValue,
  MapTemplate,
  type MsgMap,
  MsgExt,
  type MsgValue,
  MsgpackWriter,
  decodeMsgpack,
} from "./msgpack.ts";
import {
  type BridgeTrain,
  type OutgoingTrain,
  BridgeProtocolError,
  type BridgeValue,
  type ProtocolVersion,
  type SourceData,
  type SourceMetadata,
  parseProtocolVersion,
} from "./types.ts";

/** One message as ZeroMQ frames. */
export type Frames = Uint8Array[];

/** A frame to send: bytes in memory, or an array still in its file (streamed as it is written). */
export type OutFrame = Uint8Array | ArrayInFile;

const writer = new MsgpackWriter(256 * 1024);

// numpy's array-protocol type strings ("descr") of our dtypes, on a little-endian machine.
const DESCR: Record<DType, string> = {
  bool: "|b1",
  int8: "|i1",
  uint8: "|u1",
  int16: "<i2",
  uint16: "<u2",
  int32: "<i4",
  uint32: "<u4",
  int64: "<i8",
  uint64: "<u8",
  float32: "<f4",
  float64: "<f8",
};
const FROM_DESCR = new Map<string, DType>(Object.entries(DESCR).map(([d, s]) => [s.slice(1), d as DType]));

/** Our dtype for a numpy dtype text: a name ("float32") or a descr ("<f4", "|u1", "=i8"). */
export function parseNumpyDType(text: string): DType {
  if (isDType(text)) return text;
  const order = text[0];
  const body = text.slice(1);
  const dtype = FROM_DESCR.get(body);
  if (dtype !== undefined && (order === "<" || order === "|" || order === "=" || itemSize(dtype) === 1))
    return dtype;
  if (dtype !== undefined && order === ">") {
    throw new BridgeProtocolError(`big-endian arrays (dtype "${text}") are not supported`);
  }
  throw new BridgeProtocolError(`unsupported array dtype "${text}"`);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Encodes one train as the frames of one bridge message (arrays still in a file are read first). */
export function encodeTrain(train: OutgoingTrain, version: ProtocolVersion = "2.2"): Frames {
  if (version === "2.2") return encodeV22(inMemory(train)) as Frames;
  if (version === "1.0") return encodeV10(inMemory(train));
  // Reached only when an unchecked string slipped through: say which versions exist.
  parseProtocolVersion(version);
  return [];
}

/**
 * Encodes one train for protocol 2.2, leaving each array still in a file as its own frame, to be
 * streamed from the file as it is written (zmtp-router.ts).
 */
export function encodeTrainStreaming(train: OutgoingTrain): OutFrame[] {
  return encodeV22(train);
}

/** The train with every array still in a file read into memory (the same object when there is none). */
function inMemory(train: OutgoingTrain): BridgeTrain {
  let copy: OutgoingTrain | undefined;
  for (const source of Object.keys(train.data)) {
    const values = train.data[source] as OutgoingTrain["data"][string];
    for (const key of Object.keys(values)) {
      const v = values[key];
      if (!isArrayInFile(v)) continue;
      copy ??= { data: { ...train.data }, metadata: train.metadata };
      if (copy.data[source] === values) copy.data[source] = { ...values };
      (copy.data[source] as Record<string, unknown>)[key] = loadArrayInFile(v);
    }
  }
  return (copy ?? train) as BridgeTrain;
}

// An array value: in memory, or still in its file.
function isArray(v: unknown): v is NDArray | ArrayInFile {
  return typeof v === "object" && v !== null && (isNDArray(v) || isArrayInFile(v));
}

function metadataFor(train: OutgoingTrain, source: string): SourceMetadata {
  return train.metadata[source] ?? { source };
}

// Per source, what its last train's msgpack frames looked like: the header's fixed start
// {source, content: "msgpack", metadata: ...} and the maps of its metadata and values, so that
// the next train of the same keys only encodes the values that changed.
interface SourceTemplate {
  headerStart: Uint8Array;
  metadata: MapTemplate;
  values: MapTemplate;
  /** Per array key, its last header frame {source, content: "array", path, dtype, shape}. */
  arrays: Map<string, ArrayHeader>;
}

// An array's header frame as encoded, sent again (never written to) while dtype and shape stay.
interface ArrayHeader {
  dtype: string;
  shape: readonly number[];
  bytes: Uint8Array;
}
const templates = new Map<string, SourceTemplate>();
const TEMPLATE_LIMIT = 10_000;

function templateFor(source: string): SourceTemplate {
  let t = templates.get(source);
  if (t === undefined) {
    if (templates.size >= TEMPLATE_LIMIT) templates.clear();
    // The header with a nil metadata, less that last byte: the metadata map follows.
    const header = new MsgpackWriter(256).encode({ source, content: "msgpack", metadata: null });
    t = {
      headerStart: header.subarray(0, header.length - 1),
      metadata: new MapTemplate(),
      values: new MapTemplate(),
      arrays: new Map(),
    };
    templates.set(source, t);
  }
  return t;
}

function encodeV22(train: OutgoingTrain): OutFrame[] {
  // Every msgpack frame of the train goes into one buffer; array frames stay views of their arrays.
  const parts: (number | NDArray | ArrayInFile | Uint8Array)[] = [];
  writer.begin();
  for (const source of Object.keys(train.data).sort()) {
    const values = train.data[source] as OutgoingTrain["data"][string];
    const t = templateFor(source);
    const meta = metadataFor(train, source) as Record<string, unknown>;
    writer.startFrame();
    writer.rawBytes(t.headerStart);
    writer.mapFrom(t.metadata, Object.keys(meta), Object.values(meta));
    parts.push(writer.endFrame());
    // Object.keys and a lookup per key: Object.values is slow on dictionary-mode objects.
    let keys = Object.keys(values);
    let vals = new Array<unknown>(keys.length);
    let arrays = 0;
    for (let i = 0; i < keys.length; i++) {
      const v = values[keys[i] as string];
      vals[i] = v;
      if (isArray(v)) arrays++;
    }
    const arrayKeys = arrays > 0 ? keys.filter((_, i) => isArray(vals[i])) : [];
    if (arrays > 0) {
      const all = vals;
      keys = keys.filter((_, i) => !isArray(all[i]));
      vals = all.filter((v) => !isArray(v));
    }
    parts.push(writer.addMapFrom(t.values, keys, vals));
    for (const path of arrayKeys) {
      const array = values[path] as NDArray | ArrayInFile;
      if (isNDArray(array)) checkArray(source, path, array);
      parts.push(arrayHeader(t, source, path, array.dtype, array.shape), array);
    }
  }
  const packed = writer.end();
  return parts.map((p) =>
    typeof p === "number" ? (packed[p] as Uint8Array) : isNDArray(p) ? bytesOf(p) : p,
  );
}

function arrayHeader(
  t: SourceTemplate,
  source: string,
  path: string,
  dtype: string,
  shape: readonly number[],
): Uint8Array {
  const last = t.arrays.get(path);
  if (last !== undefined && last.dtype === dtype && sameShape(last.shape, shape)) return last.bytes;
  const bytes = new MsgpackWriter(256).encode({ source, content: "array", path, dtype, shape: [...shape] });
  t.arrays.set(path, { dtype, shape: [...shape], bytes });
  return bytes;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkArray(source: string, path: string, array: NDArray): void {
  if (shapeSize(array.shape) !== array.data.length) {
    throw new SaseError(
      "BAD_SHAPE",
      `${source} ${path}: shape [${array.shape.join(", ")}] does not match ${array.data.length} elements`,
      { value: showValue(array.shape) },
    );
  }
}

function numpyDict(array: NDArray): Map<BinKey, EncodableValue> {
  return new Map<BinKey, EncodableValue>([
    [new BinKey("nd"), true],
    [new BinKey("type"), DESCR[array.dtype]],
    [new BinKey("kind"), new Uint8Array(0)],
    [new BinKey("shape"), array.shape as number[]],
    [new BinKey("data"), bytesOf(array)],
  ]);
}

function encodeV10(train: BridgeTrain): Frames {
  const out: Record<string, Record<string, EncodableValue>> = {};
  for (const source of Object.keys(train.data)) {
    const values = train.data[source] as SourceData;
    const src: Record<string, EncodableValue> = {};
    for (const key in values) {
      const v = values[key] as BridgeValue | NDArray;
      if (isNDArray(v)) {
        checkArray(source, key, v);
        src[key] = numpyDict(v);
      } else src[key] = v as EncodableValue;
    }
    src.metadata = metadataFor(train, source) as EncodableValue;
    out[source] = src;
  }
  return [writer.encode(out)];
}

// ---------------------------------------------------------------------------------------------
// Decoding

function isMap(v: MsgValue | undefined): v is MsgMap {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof MsgExt)
  );
}

function unpack(frame: Uint8Array, what: string): MsgValue {
  try {
    return decodeMsgpack(frame);
  } catch (err) {
    throw new BridgeProtocolError(`${what}: ${(err as Error).message}`);
  }
}

function asMetadata(value: MsgValue | undefined, source: string, what: string): SourceMetadata {
  if (value === undefined) return { source };
  if (!isMap(value)) throw new BridgeProtocolError(`${what}: metadata of ${source} is not a map`);
  const meta = value as SourceMetadata;
  if (meta.source === undefined) meta.source = source;
  return meta;
}

/**
 * Decodes one bridge message (either protocol version, told apart by its frame count). Protocol 2.2
 * array payload frames (each the memory of one array) are also pushed to `arrayFrames` when given.
 */
export function decodeTrain(frames: readonly Uint8Array[], arrayFrames?: Uint8Array[]): BridgeTrain {
  if (frames.length === 0) throw new BridgeProtocolError("empty bridge message (no frames)");
  if (frames.length === 1) return decodeV10(frames[0] as Uint8Array);
  if (frames.length % 2 !== 0) {
    throw new BridgeProtocolError(
      `bridge message has ${frames.length} frames; protocol 2.2 needs header/payload pairs`,
    );
  }
  return decodeV22(frames, arrayFrames);
}

function decodeV22(frames: readonly Uint8Array[], arrayFrames: Uint8Array[] | undefined): BridgeTrain {
  const train: BridgeTrain = { data: {}, metadata: {} };
  for (let i = 0; i < frames.length; i += 2) {
    const what = `frame ${i} (header)`;
    const header = unpack(frames[i] as Uint8Array, what);
    if (!isMap(header)) throw new BridgeProtocolError(`${what}: header is not a msgpack map`);
    const { source, content } = header;
    if (typeof source !== "string") throw new BridgeProtocolError(`${what}: header has no "source" name`);
    const payload = frames[i + 1] as Uint8Array;
    if (content === "msgpack") {
      const values = unpack(payload, `frame ${i + 1} (data of ${source})`);
      if (!isMap(values))
        throw new BridgeProtocolError(`frame ${i + 1}: data of ${source} is not a msgpack map`);
      const existing = train.data[source];
      train.data[source] = existing ? Object.assign(existing, values) : (values as SourceData);
      train.metadata[source] = asMetadata(header.metadata, source, what);
    } else if (content === "array") {
      const data = train.data[source];
      if (data === undefined) {
        throw new BridgeProtocolError(
          `${what}: array for ${source} arrives before that source's msgpack header`,
        );
      }
      const { path, dtype, shape } = header;
      if (typeof path !== "string")
        throw new BridgeProtocolError(`${what}: array header of ${source} has no "path"`);
      data[path] = arrayFromFrame(payload, dtype, shape, `${source} ${path}`);
      arrayFrames?.push(payload);
    } else {
      throw new BridgeProtocolError(
        `${what}: unknown content "${String(content)}" (expected "msgpack" or "array")`,
      );
    }
  }
  return train;
}

function arrayFromFrame(
  bytes: Uint8Array,
  dtypeText: MsgValue | undefined,
  shapeValue: MsgValue | undefined,
  what: string,
): NDArray {
  if (typeof dtypeText !== "string") throw new BridgeProtocolError(`${what}: array has no dtype`);
  let dtype: DType;
  try {
    dtype = parseNumpyDType(dtypeText);
  } catch (err) {
    throw new BridgeProtocolError(`${what}: ${(err as Error).message}`);
  }
  if (
    !Array.isArray(shapeValue) ||
    !shapeValue.every((d) => typeof d === "number" && Number.isInteger(d) && d >= 0)
  ) {
    throw new BridgeProtocolError(`${what}: array shape must be a list of non-negative integers`);
  }
  const shape = shapeValue as number[];
  const n = shapeSize(shape);
  const expected = n * itemSize(dtype);
  if (bytes.byteLength !== expected) {
    throw new BridgeProtocolError(
      `${what}: array frame has ${bytes.byteLength} bytes, ${dtype} [${shape.join(", ")}] needs ${expected} (truncated frame?)`,
    );
  }
  return { dtype, shape, data: viewTyped(dtype, bytes.buffer, bytes.byteOffset, n) };
}

function latin1(v: MsgValue | undefined): string | undefined {
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) return String.fromCharCode(...v);
  return undefined;
}

// msgpack-numpy writes numpy scalars as {nd: false, type, data}: decode them to JS numbers.
function numpyScalar(bytes: Uint8Array, dtype: DType, what: string): number | bigint | boolean {
  if (bytes.byteLength !== itemSize(dtype)) {
    throw new BridgeProtocolError(`${what}: numpy scalar of ${dtype} has ${bytes.byteLength} bytes`);
  }
  const v = viewTyped(dtype, bytes.buffer, bytes.byteOffset, 1)[0] as number | bigint;
  if (dtype === "bool") return v !== 0;
  if (typeof v === "bigint" && v >= -9007199254740991n && v <= 9007199254740991n) return Number(v);
  return v;
}

function fromNumpyDict(v: MsgMap, what: string): NDArray | number | bigint | boolean | MsgMap {
  if (!("nd" in v && "data" in v && "type" in v)) return v;
  const typeText = latin1(v.type);
  const kind = latin1(v.kind);
  const data = v.data;
  if (typeText === undefined || !(data instanceof Uint8Array) || (kind !== undefined && kind !== "")) {
    throw new BridgeProtocolError(
      `${what}: unsupported msgpack-numpy value (type ${String(typeText)}, kind ${String(kind)})`,
    );
  }
  let dtype: DType;
  try {
    dtype = parseNumpyDType(typeText);
  } catch (err) {
    throw new BridgeProtocolError(`${what}: ${(err as Error).message}`);
  }
  if (v.nd === true) return arrayFromFrame(data, dtype, v.shape, what);
  return numpyScalar(data, dtype, what);
}

function decodeV10(frame: Uint8Array): BridgeTrain {
  const all = unpack(frame, "protocol 1.0 message");
  if (!isMap(all)) throw new BridgeProtocolError("protocol 1.0 message is not a msgpack map of sources");
  const train: BridgeTrain = { data: {}, metadata: {} };
  for (const source of Object.keys(all)) {
    const values = all[source];
    if (!isMap(values)) throw new BridgeProtocolError(`protocol 1.0 message: data of ${source} is not a map`);
    const data: SourceData = {};
    for (const key of Object.keys(values)) {
      const v = values[key] as MsgValue;
      data[key] = isMap(v) ? fromNumpyDict(v, `${source} ${key}`) : v;
    }
    train.data[source] = data;
    train.metadata[source] = asMetadata(values.metadata, source, "protocol 1.0 message");
  }
  return train;
}
