// MessagePack encoding for the Karabo bridge (see msgpack.ts), with Python msgpack's use_bin_type=True
// conventions; the bytes of repeated keys are cached, one writer's buffer is reused frame after frame.
import { BinKey, MAX_DEPTH, MsgExt, MsgpackError, type MsgValue } from "./msgpack-values.ts";

const utf8Encoder = new TextEncoder();

const SLAB = 256 * 1024;
const keyCache = new Map<string, Uint8Array>();
const KEY_CACHE_LIMIT = 50_000;

/** Values the encoder accepts: decoded values plus binary keys for msgpack-numpy dicts. */
export type EncodableValue =
  | MsgValue
  | undefined
  | ArrayBufferView
  | readonly EncodableValue[]
  | { readonly [key: string]: EncodableValue }
  | Map<string | BinKey, EncodableValue>;

/**
 * The encoded bytes of one flat map as last written, for maps written again and again with the same
 * keys (a control device's values train after train): keys are not encoded again and values equal to
 * last time's (primitives only: objects may have changed inside) are copied, not encoded.
 */
export class MapTemplate {
  /** Undefined until first written (an empty map is a map of no keys, not nothing). */
  keys: readonly string[] | undefined = undefined;
  values: unknown[] = [];
  bytes: Uint8Array = new Uint8Array(0);
  /** Where each value's bytes start and end in `bytes`. */
  at = new Int32Array(0);
  ends = new Int32Array(0);
}

function sameKeys(a: readonly string[], b: readonly string[] | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A growable output buffer for MessagePack; reuse one to avoid allocations per frame. */
export class MsgpackWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialSize = 4096) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  /** Encodes `value` and returns a fresh copy of its bytes (the writer's buffer is reused). */
  encode(value: EncodableValue): Uint8Array {
    if (this.givenAway) {
      this.buf = new Uint8Array(4096);
      this.view = new DataView(this.buf.buffer);
      this.givenAway = false;
    }
    this.pos = 0;
    this.value(value, 0);
    return this.buf.slice(0, this.pos);
  }

  private marks: number[] = [];
  private lastMessage = 0;
  private givenAway = false;

  // Messages are written into fresh parts of one slab, never written again (their frames are handed
  // out as views), so that a message of a few hundred bytes costs no ArrayBuffer of its own: one per
  // train was a fifth of a bridge server's encoding time.
  private slab = new ArrayBuffer(0);
  private slabUsed = 0;

  /** Starts a message of several frames, written one after another into one buffer. */
  begin(): void {
    // Room sized from the last message; a longer one moves to a buffer of its own (ensure).
    const size = Math.max(4096, Math.ceil(this.lastMessage * 1.25));
    if (this.slabUsed + size > this.slab.byteLength) {
      // Not zero-filled: every byte handed out is written first.
      this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB, size)).buffer as ArrayBuffer;
      this.slabUsed = 0;
    }
    // (A plain Uint8Array over it: a Buffer's subarray is several times slower.)
    this.buf = new Uint8Array(this.slab, this.slabUsed, size);
    this.view = new DataView(this.slab, this.slabUsed, size);
    this.givenAway = false;
    this.pos = 0;
    this.marks.length = 0;
  }

  /** Writes one more frame of the message; returns its index. */
  add(value: EncodableValue): number {
    const start = this.pos;
    this.value(value, 0);
    this.marks.push(start, this.pos);
    return this.marks.length / 2 - 1;
  }

  /** Writes one more frame holding the map keys[i] → values[i], leaving out the entries `skip` picks. */
  addMap(
    keys: readonly string[],
    values: readonly unknown[],
    count: number,
    skip?: (v: unknown) => boolean,
  ): number {
    const start = this.pos;
    this.header(count, 0x80, 0xde, 0xdf);
    for (let i = 0; i < keys.length; i++) {
      const v = values[i];
      if (skip?.(v)) continue;
      this.key(keys[i] as string);
      this.value(v as EncodableValue, 1);
    }
    this.marks.push(start, this.pos);
    return this.marks.length / 2 - 1;
  }

  /**
   * Writes one more frame holding the map keys[i] → values[i] (all of them), reusing `t`, the same
   * map's bytes from last time, where the keys are the same; `t` is updated to this map.
   */
  addMapFrom(t: MapTemplate, keys: readonly string[], values: readonly unknown[]): number {
    const start = this.pos;
    this.mapFrom(t, keys, values);
    this.marks.push(start, this.pos);
    return this.marks.length / 2 - 1;
  }

  /** Writes the map keys[i] → values[i] into the current frame, as addMapFrom does. */
  mapFrom(t: MapTemplate, keys: readonly string[], values: readonly unknown[]): void {
    try {
      if (this.patchMap(t, keys, values)) return;
    } catch (err) {
      t.keys = undefined; // half patched (a value that cannot be encoded): start afresh next time
      throw err;
    }
    const start = this.pos;
    const n = keys.length;
    const at = new Int32Array(n);
    const ends = new Int32Array(n);
    this.header(n, 0x80, 0xde, 0xdf);
    for (let i = 0; i < n; i++) {
      this.key(keys[i] as string);
      at[i] = this.pos - start;
      this.value(values[i] as EncodableValue, 1);
      ends[i] = this.pos - start;
    }
    t.keys = keys;
    t.values = values.slice();
    t.bytes = this.buf.slice(start, this.pos);
    t.at = at;
    t.ends = ends;
  }

  // Writes the map from template `t` with the values that changed encoded anew; false (nothing
  // written) when the keys differ from the template's.
  private patchMap(t: MapTemplate, keys: readonly string[], values: readonly unknown[]): boolean {
    if (!sameKeys(keys, t.keys)) return false;
    const start = this.pos;
    const old = t.bytes;
    const at = t.at;
    const ends = t.ends;
    this.ensure(old.length);
    let from = 0; // template bytes before this are written
    let shift = 0; // how far values move from their place in the template (an encoding changed length)
    let changed = false;
    for (let i = 0; i < keys.length; i++) {
      const v = values[i];
      const prev = t.values[i];
      if (Object.is(v, prev) && (typeof v !== "object" || v === null)) {
        at[i] = (at[i] as number) + shift;
        ends[i] = (ends[i] as number) + shift;
        continue;
      }
      changed = true;
      t.values[i] = v;
      const a = at[i] as number;
      const e = ends[i] as number;
      this.copyOut(old, from, a);
      from = e;
      at[i] = this.pos - start;
      this.value(v as EncodableValue, 1);
      ends[i] = this.pos - start;
      shift = this.pos - start - e;
    }
    this.copyOut(old, from, old.length);
    if (!changed) return true;
    if (shift === 0) old.set(this.buf.subarray(start, this.pos));
    else t.bytes = this.buf.slice(start, this.pos);
    return true;
  }

  private copyOut(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    this.ensure(n);
    if (n < 16) for (let i = 0; i < n; i++) this.buf[this.pos + i] = src[from + i] as number;
    else this.buf.set(src.subarray(from, to), this.pos);
    this.pos += n;
  }

  /** Writes bytes encoded before (a cached msgpack prefix) into the current frame. */
  rawBytes(bytes: Uint8Array): void {
    this.raw(bytes);
  }

  /** Starts a frame whose parts are written by rawBytes/mapFrom calls; `endFrame` closes it. */
  startFrame(): void {
    this.frameStart = this.pos;
  }

  /** Ends the frame begun by `startFrame`; returns its index. */
  endFrame(): number {
    this.marks.push(this.frameStart, this.pos);
    return this.marks.length / 2 - 1;
  }

  private frameStart = 0;

  /** The frames written since begin(), as views of the message's buffer. */
  end(): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < this.marks.length; i += 2) {
      frames.push(this.buf.subarray(this.marks[i] as number, this.marks[i + 1] as number));
    }
    this.lastMessage = this.pos;
    this.givenAway = true;
    // The slab's next message starts after this one (8-byte aligned), unless it outgrew the slab.
    if (this.buf.buffer === this.slab) this.slabUsed = (this.buf.byteOffset + this.pos + 7) & ~7;
    return frames;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  private value(v: EncodableValue, depth: number): void {
    if (depth > MAX_DEPTH) throw new MsgpackError(`cannot encode: nesting deeper than ${MAX_DEPTH}`);
    switch (typeof v) {
      case "number":
        this.number(v);
        return;
      case "string":
        this.string(v);
        return;
      case "boolean":
        this.byte(v ? 0xc3 : 0xc2);
        return;
      case "bigint":
        this.bigint(v);
        return;
      case "undefined":
        this.byte(0xc0);
        return;
      case "object":
        break;
      default:
        throw new MsgpackError(`cannot encode a ${typeof v} as msgpack`);
    }
    if (v === null) {
      this.byte(0xc0);
      return;
    }
    if (Array.isArray(v)) {
      this.header(v.length, 0x90, 0xdc, 0xdd);
      for (const x of v) this.value(x, depth + 1);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      this.binary(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      return;
    }
    if (v instanceof MsgExt) {
      this.ext(v);
      return;
    }
    if (v instanceof Map) {
      this.header(v.size, 0x80, 0xde, 0xdf);
      for (const [k, x] of v) {
        if (k instanceof BinKey) this.binary(utf8Encoder.encode(k.name));
        else this.key(k);
        this.value(x, depth + 1);
      }
      return;
    }
    const obj = v as { readonly [key: string]: EncodableValue };
    const keys = Object.keys(obj);
    this.header(keys.length, 0x80, 0xde, 0xdf);
    for (const k of keys) {
      this.key(k);
      this.value(obj[k], depth + 1);
    }
  }

  private header(n: number, fix: number, c16: number, c32: number): void {
    this.ensure(5);
    if (n < 16) this.buf[this.pos++] = fix | n;
    else if (n < 0x10000) {
      this.buf[this.pos++] = c16;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = c32;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  private number(v: number): void {
    this.ensure(9);
    const b = this.buf;
    const dv = this.view;
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
      if (v >= 0) {
        if (v < 0x80) b[this.pos++] = v;
        else if (v < 0x100) {
          b[this.pos++] = 0xcc;
          b[this.pos++] = v;
        } else if (v < 0x10000) {
          b[this.pos++] = 0xcd;
          dv.setUint16(this.pos, v);
          this.pos += 2;
        } else if (v < 0x100000000) {
          b[this.pos++] = 0xce;
          dv.setUint32(this.pos, v);
          this.pos += 4;
        } else {
          b[this.pos++] = 0xcf;
          dv.setBigUint64(this.pos, BigInt(v));
          this.pos += 8;
        }
      } else if (v >= -32) b[this.pos++] = v + 0x100;
      else if (v >= -0x80) {
        b[this.pos++] = 0xd0;
        dv.setInt8(this.pos++, v);
      } else if (v >= -0x8000) {
        b[this.pos++] = 0xd1;
        dv.setInt16(this.pos, v);
        this.pos += 2;
      } else if (v >= -0x80000000) {
        b[this.pos++] = 0xd2;
        dv.setInt32(this.pos, v);
        this.pos += 4;
      } else {
        b[this.pos++] = 0xd3;
        dv.setBigInt64(this.pos, BigInt(v));
        this.pos += 8;
      }
      return;
    }
    b[this.pos++] = 0xcb;
    dv.setFloat64(this.pos, v);
    this.pos += 8;
  }

  private bigint(v: bigint): void {
    this.ensure(9);
    if (v >= 0n && v <= 0xffffffffffffffffn) {
      this.buf[this.pos++] = 0xcf;
      this.view.setBigUint64(this.pos, v);
    } else if (v < 0n && v >= -0x8000000000000000n) {
      this.buf[this.pos++] = 0xd3;
      this.view.setBigInt64(this.pos, v);
    } else {
      throw new MsgpackError(`cannot encode ${v}: msgpack integers are limited to 64 bits`);
    }
    this.pos += 8;
  }

  private string(s: string): void {
    const n = s.length;
    if (n < 48) {
      // Fast path for short ASCII, the common case for values such as states and names.
      this.ensure(2 + n);
      const start = this.pos;
      this.pos += n < 32 ? 1 : 2;
      let ascii = true;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) {
          ascii = false;
          break;
        }
        this.buf[this.pos++] = c;
      }
      if (ascii) {
        if (n < 32) this.buf[start] = 0xa0 | n;
        else {
          this.buf[start] = 0xd9;
          this.buf[start + 1] = n;
        }
        return;
      }
      this.pos = start;
    }
    const bytes = utf8Encoder.encode(s);
    this.strHeader(bytes.length);
    this.raw(bytes);
  }

  private strHeader(n: number): void {
    this.ensure(5);
    if (n < 32) this.buf[this.pos++] = 0xa0 | n;
    else if (n < 0x100) {
      this.buf[this.pos++] = 0xd9;
      this.buf[this.pos++] = n;
    } else if (n < 0x10000) {
      this.buf[this.pos++] = 0xda;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdb;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  private key(k: string): void {
    let bytes = keyCache.get(k);
    if (bytes === undefined) {
      const body = utf8Encoder.encode(k);
      const save = this.pos;
      this.strHeader(body.length);
      const head = this.buf.slice(save, this.pos);
      this.pos = save;
      bytes = new Uint8Array(head.length + body.length);
      bytes.set(head);
      bytes.set(body, head.length);
      if (keyCache.size < KEY_CACHE_LIMIT) keyCache.set(k, bytes);
    }
    this.raw(bytes);
  }

  private binary(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(5 + n);
    if (n < 0x100) {
      this.buf[this.pos++] = 0xc4;
      this.buf[this.pos++] = n;
    } else if (n < 0x10000) {
      this.buf[this.pos++] = 0xc5;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xc6;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
    this.raw(bytes);
  }

  private ext(e: MsgExt): void {
    const n = e.data.length;
    this.ensure(6 + n);
    const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
    const f = fixed[n];
    if (f !== undefined) this.buf[this.pos++] = f;
    else if (n < 0x100) {
      this.buf[this.pos++] = 0xc7;
      this.buf[this.pos++] = n;
    } else if (n < 0x10000) {
      this.buf[this.pos++] = 0xc8;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xc9;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
    this.view.setInt8(this.pos++, e.type);
    this.raw(e.data);
  }

  private raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    if (bytes.length < 16) {
      for (let i = 0; i < bytes.length; i++) this.buf[this.pos + i] = bytes[i] as number;
    } else this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

const sharedWriter = new MsgpackWriter(64 * 1024);

/** Encodes one value as MessagePack (Python msgpack's use_bin_type=True conventions). */
export function encodeMsgpack(value: EncodableValue): Uint8Array {
  return sharedWriter.encode(value);
}
