// Framing of Karabo's pipeline protocol (karabo/middlelayer/pipeline.py, `Channel`). The input sends
// size-prefixed Hashes:                 u32 LE length | Karabo binary Hash
// the output sends a header and a body:  u32 LE header length | header Hash | u32 LE body length | body
// A data body is the concatenated Karabo binary Hashes of the header's `byteSizes`, written as the
// encoder's chunks so that arrays go to the socket without being copied. The reader copies each body
// once, from the socket's buffers into one allocation placed so that the largest array in it is 8-byte
// aligned (sase's outputs say where in an extra header key, `align`), and the decoded token's arrays are
// views of that allocation. A data message's header is written straight into its prefix from byte
// templates of its constant parts (writeDataFrame), the same bytes as encoding the header Hash.

import {
  type BufferPool,
  decodeHash,
  encodeHash,
  encodeHashToBytes,
  HASH_TYPE_CODES,
  Hash,
  type HashValue,
  type Timestamp,
} from "../core/index.ts";
import { PipelineError } from "./types.ts";

/** Headers are small (one `sourceInfo` row per item); anything longer is garbage, not a header. */
export const MAX_HEADER_BYTES = 1024 * 1024;

/**
 * Where messages are written: a connection's SocketWriter (core), which hands a message's chunks to the
 * socket in one gathered write, in order.
 */
export interface ChunkWriter {
  write(chunks: readonly Uint8Array[]): void;
}

/** One size-prefixed Hash as bytes (what an input sends: hello, update), to write once or many times. */
export function encodeMessage(message: Hash): Buffer {
  const h = encodeHashToBytes(message);
  const bytes = Buffer.allocUnsafe(4 + h.byteLength);
  bytes.writeUInt32LE(h.byteLength, 0);
  bytes.set(h, 4);
  return bytes;
}

/** Writes one size-prefixed Hash (what an input sends: hello, update). */
export function writeMessage(out: ChunkWriter, message: Hash): void {
  out.write([encodeMessage(message)]);
}

/** The bytes of a body's chunks together. */
export function bodyBytes(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  return n;
}

/** Writes one message; `body` chunks are passed to the socket without copying. */
export function writeFrame(out: ChunkWriter, header: Hash, body: readonly Uint8Array[] = []): void {
  if (body.length) header.set("align", bestAlignment(body));
  const h = encodeHashToBytes(header);
  const prefix = Buffer.allocUnsafe(8 + h.byteLength);
  prefix.writeUInt32LE(h.byteLength, 0);
  prefix.set(h, 4);
  prefix.writeUInt32LE(bodyBytes(body), 4 + h.byteLength);
  writePrefixed(out, prefix, body);
}

/** A message's prefix (header length, header, body length), then its body chunks, in one gathered write. */
function writePrefixed(out: ChunkWriter, prefix: Uint8Array, body: readonly Uint8Array[]): void {
  const chunks = [prefix];
  for (const c of body) if (c.byteLength) chunks.push(c);
  out.write(chunks);
}

/** One item of a data message: its source, timestamp and encoded size. */
export interface DataItem {
  readonly source: string;
  readonly timestamp: Timestamp;
  readonly size: number;
}

/** sase's bookkeeping keys of a data header (beside Karabo's nData, byteSizes, sourceInfo). */
export interface DataBookkeeping {
  readonly seq: number;
  readonly dropped: number;
  readonly queued: number;
  readonly session: string;
}

/** sase's bookkeeping keys beside Karabo's in a header. */
export function withBookkeeping(h: Hash, b: DataBookkeeping): Hash {
  h.set("seq", BigInt(b.seq), "UINT64");
  h.set("dropped", BigInt(b.dropped), "UINT64");
  h.set("queued", b.queued, "UINT32");
  h.set("session", b.session);
  return h;
}

/** One `sourceInfo` row: the source name and the timestamp as attributes of `timestamp`. */
export function sourceInfo(source: string, ts: Timestamp): Hash {
  const h = new Hash();
  h.set("source", source);
  h.set("timestamp", true);
  h.setAttribute("timestamp", "sec", BigInt(ts.sec), "UINT64");
  h.setAttribute("timestamp", "frac", ts.frac, "UINT64");
  h.setAttribute("timestamp", "tid", BigInt(ts.trainId), "UINT64");
  return h;
}

/** A data message's header as a Hash (the general path; `writeDataFrame` encodes the same bytes directly). */
export function dataHeader(items: readonly DataItem[], b: DataBookkeeping): Hash {
  const h = new Hash();
  h.set("nData", items.length, "UINT32");
  h.set(
    "byteSizes",
    Uint32Array.from(items, (i) => i.size),
  );
  h.set(
    "sourceInfo",
    items.map((i) => sourceInfo(i.source, i.timestamp)),
  );
  return withBookkeeping(h, b);
}

/**
 * Writes a data message: the header of `items` with sase's bookkeeping, then the body `chunks`. The
 * header's binary Hash is written straight into the message's prefix, without building a Hash, and is
 * byte for byte what `writeFrame(socket, dataHeader(items, b), chunks)` sends (which runs instead for
 * no items, and for values outside their wire types, so that they fail as they would there).
 */
export function writeDataFrame(
  out: ChunkWriter,
  items: readonly DataItem[],
  b: DataBookkeeping,
  chunks: readonly Uint8Array[],
): void {
  const prefix = encodeDataPrefix(items, b, chunks.length ? bestAlignment(chunks) : -1, bodyBytes(chunks));
  if (prefix) writePrefixed(out, prefix, chunks);
  else writeFrame(out, dataHeader(items, b), chunks);
}

const U32_MAX = 0xffffffff;
const U64_LIMIT = 1n << 64n;
const isU32 = (n: number) => Number.isInteger(n) && n >= 0 && n <= U32_MAX;
const isU64 = (n: number) => Number.isSafeInteger(n) && n >= 0;

/** A node's start as Karabo's binary Hash has it: u8 key length, key, u32 type code, u32 attribute count. */
function nodeStart(key: string, type: keyof typeof HASH_TYPE_CODES, attrs = 0): Buffer {
  const b = Buffer.alloc(1 + key.length + 8);
  b[0] = key.length;
  b.write(key, 1, "latin1");
  b.writeUInt32LE(HASH_TYPE_CODES[type], 1 + key.length);
  b.writeUInt32LE(attrs, 5 + key.length);
  return b;
}
/** An attribute's start: u8 name length, name, u32 type code. */
function attrStart(name: string, type: keyof typeof HASH_TYPE_CODES): Buffer {
  return nodeStart(name, type).subarray(0, 5 + name.length);
}

// The header's constant parts, encoded once.
const N_DATA = nodeStart("nData", "UINT32");
const BYTE_SIZES = nodeStart("byteSizes", "VECTOR_UINT32");
const SOURCE_INFO = nodeStart("sourceInfo", "VECTOR_HASH");
const SOURCE = nodeStart("source", "STRING");
const TIMESTAMP = nodeStart("timestamp", "BOOL", 3);
const SEC = attrStart("sec", "UINT64");
const FRAC = attrStart("frac", "UINT64");
const TID = attrStart("tid", "UINT64");
const SEQ = nodeStart("seq", "UINT64");
const DROPPED = nodeStart("dropped", "UINT64");
const QUEUED = nodeStart("queued", "UINT32");
const SESSION = nodeStart("session", "STRING");
const ALIGN = nodeStart("align", "INT32");
/** Bytes of a `sourceInfo` row besides its source's UTF-8. */
const ROW_BYTES = 4 + SOURCE.length + 4 + TIMESTAMP.length + SEC.length + FRAC.length + TID.length + 24 + 1;

/**
 * u32 header length | header (Karabo binary Hash) | u32 body length, for `writeDataFrame`; `align` < 0
 * leaves the `align` key out (no body). Undefined when a value does not fit its wire type.
 */
export function encodeDataPrefix(
  items: readonly DataItem[],
  b: DataBookkeeping,
  align: number,
  bodyLength: number,
): Buffer | undefined {
  // No items: the general encoder types the empty `sourceInfo` list as VECTOR_STRING; leave that to it.
  if (items.length === 0 || !isU32(items.length)) return undefined;
  if (!isU64(b.seq) || !isU64(b.dropped) || !isU32(b.queued)) return undefined;
  const sessionBytes = Buffer.byteLength(b.session, "utf8");
  let n = 4 + N_DATA.length + 4 + BYTE_SIZES.length + 4 + 4 * items.length + SOURCE_INFO.length + 4;
  n += SEQ.length + 8 + DROPPED.length + 8 + QUEUED.length + 4 + SESSION.length + 4 + sessionBytes;
  if (align >= 0) n += ALIGN.length + 4;
  const sourceBytes: number[] = [];
  for (const i of items) {
    const ts = i.timestamp;
    if (!isU32(i.size) || !isU64(ts.sec) || !isU64(ts.trainId)) return undefined;
    if (typeof ts.frac !== "bigint" || ts.frac < 0n || ts.frac >= U64_LIMIT) return undefined;
    const s = Buffer.byteLength(i.source, "utf8");
    sourceBytes.push(s);
    n += ROW_BYTES + s;
  }
  const out = Buffer.allocUnsafe(8 + n);
  let p = 0;
  const put = (c: Buffer) => {
    out.set(c, p);
    p += c.length;
  };
  const u32 = (v: number) => {
    out.writeUInt32LE(v, p);
    p += 4;
  };
  const u64 = (v: number) => {
    out.writeUInt32LE(v % 0x100000000, p);
    out.writeUInt32LE(Math.floor(v / 0x100000000), p + 4);
    p += 8;
  };
  const str = (s: string, bytes: number) => {
    u32(bytes);
    out.write(s, p, bytes, "utf8");
    p += bytes;
  };
  u32(n);
  u32(align >= 0 ? 8 : 7);
  put(N_DATA);
  u32(items.length);
  put(BYTE_SIZES);
  u32(items.length);
  for (const i of items) u32(i.size);
  put(SOURCE_INFO);
  u32(items.length);
  for (let k = 0; k < items.length; k++) {
    const i = items[k]!;
    u32(2);
    put(SOURCE);
    str(i.source, sourceBytes[k]!);
    put(TIMESTAMP);
    put(SEC);
    u64(i.timestamp.sec);
    put(FRAC);
    out.writeBigUInt64LE(i.timestamp.frac, p);
    p += 8;
    put(TID);
    u64(i.timestamp.trainId);
    out[p++] = 1;
  }
  put(SEQ);
  u64(b.seq);
  put(DROPPED);
  u64(b.dropped);
  put(QUEUED);
  u32(b.queued);
  put(SESSION);
  str(b.session, sessionBytes);
  if (align >= 0) {
    put(ALIGN);
    out.writeInt32LE(align, p);
    p += 4;
  }
  u32(bodyLength);
  return out;
}

/**
 * The body offset (mod 8) that the receiver should place on an 8-byte boundary: the one that aligns the
 * most array bytes (chunks are arrays or the bytes between them; weights favour full 8-byte alignment).
 */
function bestAlignment(body: readonly Uint8Array[]): number {
  const score = new Float64Array(8);
  let offset = 0;
  for (const c of body) {
    for (let a = 0; a < 8; a++) {
      const d = (offset - a) & 7;
      score[a] += c.byteLength * (d === 0 ? 1 : d === 4 ? 0.5 : d % 2 === 0 ? 0.25 : 0);
    }
    offset += c.byteLength;
  }
  let best = 0;
  for (let a = 1; a < 8; a++) if (score[a] > score[best]) best = a;
  return best;
}

/** The encoded chunks of a token's data, encoded once however many inputs it goes to. */
const encoded = new WeakMap<Hash, Uint8Array[]>();

/** Karabo binary chunks of `data`, cached per Hash. */
export function encodeCached(data: Hash): Uint8Array[] {
  let chunks = encoded.get(data);
  if (!chunks) {
    chunks = encodeHash(data);
    encoded.set(data, chunks);
  }
  return chunks;
}

/**
 * What a read may bring in after a body larger than the scratch space: the next header and the first
 * bytes of the body behind it, which are copied out of scratch (the rest of that body is read in place).
 */
export const HEADER_READ_BYTES = 16 * 1024;

/** Reassembles messages from socket reads; throws PipelineError("PROTOCOL") on bytes that are not frames. */
export class FrameReader {
  private stage: "headerLength" | "header" | "bodyLength" | "body" = "headerLength";
  private need = 4;
  private small = Buffer.allocUnsafe(4096);
  private filled = 0;
  private header: Hash | undefined;
  private body = new Uint8Array(0);
  private stopped = false;
  private readonly scratch = new Uint8Array(256 * 1024);
  private readonly headerWindow = this.scratch.subarray(0, HEADER_READ_BYTES);
  private lastBody = 0;

  /**
   * `onFrame` gets each message; with `bodies` false (the output's side, reading an input's requests)
   * messages are single Hashes without a body. Bodies come from `pool` when given (memory handed back
   * by the consumer is read into again instead of fresh memory).
   */
  constructor(
    private readonly maxBodyBytes: number,
    private readonly onFrame: (header: Hash, body: Uint8Array) => void,
    private readonly bodies = true,
    private readonly pool?: BufferPool,
  ) {}

  /** Feeds bytes read from the socket. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.byteLength && !this.stopped) {
      const take = Math.min(this.need - this.filled, chunk.byteLength - pos);
      if (this.stage === "body") this.body.set(chunk.subarray(pos, pos + take), this.filled);
      else this.small.set(chunk.subarray(pos, pos + take), this.filled);
      this.filled += take;
      pos += take;
      if (this.filled === this.need) this.advance();
    }
  }

  /**
   * Where the socket's next read should land: straight into the body being received (so a token's
   * bytes are never copied in user space), or into scratch space for headers. Use with `consumed`.
   * After a large body, the read for the next header is kept to HEADER_READ_BYTES: whatever of the
   * next body comes with it is copied, so it should be little (small messages keep the whole scratch,
   * many of them to a read).
   */
  readTarget(): Uint8Array {
    if (this.stage === "body" && !this.stopped) return this.body.subarray(this.filled);
    return this.lastBody > this.scratch.byteLength ? this.headerWindow : this.scratch;
  }

  /** Accounts for `n` bytes that a read put into `target` (from `readTarget`). */
  consumed(target: Uint8Array, n: number): void {
    if (target === this.scratch || target === this.headerWindow) {
      this.push(target.subarray(0, n));
      return;
    }
    this.filled += n;
    if (this.filled === this.need) this.advance();
  }

  /** Ignores everything pushed from now on (the connection is being closed). */
  stop(): void {
    this.stopped = true;
  }

  private advance(): void {
    const filled = this.filled;
    this.filled = 0;
    switch (this.stage) {
      case "headerLength": {
        const n = this.small.readUInt32LE(0);
        if (n < 4 || n > MAX_HEADER_BYTES) {
          throw new PipelineError("PROTOCOL", `frame header length ${n} is outside 4..${MAX_HEADER_BYTES}`);
        }
        if (n > this.small.byteLength) this.small = Buffer.allocUnsafe(n);
        this.stage = "header";
        this.need = n;
        return;
      }
      case "header":
        try {
          this.header = decodeHash(new Uint8Array(this.small.buffer, this.small.byteOffset, filled).slice(), {
            maxDepth: 8,
          });
        } catch (e) {
          throw new PipelineError("PROTOCOL", `frame header is not a binary Hash: ${(e as Error).message}`);
        }
        if (!this.bodies) {
          this.emit(new Uint8Array(0));
          return;
        }
        this.stage = "bodyLength";
        this.need = 4;
        return;
      case "bodyLength": {
        const n = this.small.readUInt32LE(0);
        if (n > this.maxBodyBytes) {
          throw new PipelineError(
            "PROTOCOL",
            `frame body of ${n} bytes exceeds the limit of ${this.maxBodyBytes}`,
          );
        }
        if (n === 0) {
          this.emit(new Uint8Array(0));
          return;
        }
        // Place the body so that the largest array inside it starts 8-byte aligned: then decoding can
        // view it in place instead of copying it again.
        const align = Number(this.header?.getOr("align", 0) ?? 0) & 7;
        const shift = (8 - align) & 7;
        // A buffer of its own (its ArrayBuffer can go back to the pool), not zero-filled (every byte
        // is about to be written).
        this.pool?.noteMessage(n + shift);
        const memory = this.pool ? this.pool.take(n + shift) : Buffer.allocUnsafeSlow(n + shift);
        this.body = new Uint8Array(memory.buffer as ArrayBuffer, memory.byteOffset + shift, n);
        this.stage = "body";
        this.need = n;
        return;
      }
      case "body":
        this.lastBody = filled;
        this.emit(this.body);
        this.body = new Uint8Array(0);
        return;
    }
  }

  private emit(body: Uint8Array): void {
    const header = this.header!;
    this.header = undefined;
    this.stage = "headerLength";
    this.need = 4;
    this.onFrame(header, body);
  }
}

/** A header field's value, or undefined when absent (one lookup: these run for every token). */
export function field(h: Hash, key: string): HashValue | undefined {
  return h.getOr<HashValue>(key, undefined as unknown as HashValue) as HashValue | undefined;
}

/** A header field as a string, or a PROTOCOL error naming it. */
export function headerString(h: Hash, key: string): string {
  const v = field(h, key);
  if (typeof v !== "string")
    throw new PipelineError("PROTOCOL", `message field "${key}" is missing or not a string`);
  return v;
}

/** A header field as a string, "" when absent or of another type. */
export function optionalString(h: Hash, key: string): string {
  const v = field(h, key);
  return typeof v === "string" ? v : "";
}

/** A header field as a non-negative safe integer, or a PROTOCOL error naming it. */
export function headerCount(h: Hash, key: string): number {
  const v = field(h, key);
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new PipelineError("PROTOCOL", `message field "${key}" is missing or not a count`);
  }
  return n;
}

/** The body of a data message decoded as a Hash, or a PROTOCOL error. */
export function decodeBody(body: Uint8Array): Hash {
  try {
    return decodeHash(body);
  } catch (e) {
    throw new PipelineError("PROTOCOL", `token body is not a binary Hash: ${(e as Error).message}`);
  }
}
