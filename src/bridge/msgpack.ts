// A MessagePack codec tuned for the Karabo bridge: binary values decode as views into the received
// frame (no copy), 64-bit integers come out as numbers while they are exact and as bigints beyond,
// map keys may be binary (msgpack-numpy writes b"nd", b"type", ...), and every malformed input
// raises a MsgpackError that names the byte offset. Encoding caches the bytes of repeated keys,
// because control data repeats the same few thousand key names on every train.

/** Any value a MessagePack frame can carry, as this codec decodes it. */
export type MsgValue = null | boolean | number | bigint | string | Uint8Array | MsgValue[] | MsgMap | MsgExt;

/** A decoded map (keys are always strings: binary and integer keys are converted). */
export interface MsgMap {
  [key: string]: MsgValue;
}

/** A MessagePack extension value, kept as its type code and raw bytes. */
export class MsgExt {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

/** A map key that must be written as MessagePack binary rather than string (msgpack-numpy). */
export class BinKey {
  constructor(readonly name: string) {}
}

/** Malformed MessagePack input. */
export class MsgpackError extends Error {
  readonly code = "MSGPACK_MALFORMED";
  constructor(message: string) {
    super(message);
    this.name = "MsgpackError";
  }
}

const MAX_DEPTH = 64;
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader {
  pos = 0;
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(n: number): void {
    if (this.pos + n > this.bytes.length) {
      throw new MsgpackError(
        `malformed msgpack: truncated at byte ${this.pos} (needs ${n} more bytes, frame has ${this.bytes.length})`,
      );
    }
  }

  str(n: number): string {
    this.need(n);
    const b = this.bytes;
    const start = this.pos;
    this.pos += n;
    if (n < 48) {
      // Short ASCII strings (every key name) are faster to build by hand than through TextDecoder.
      let s = "";
      for (let i = start; i < start + n; i++) {
        const c = b[i] as number;
        if (c > 0x7f) return this.utf8(start, n);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return this.utf8(start, n);
  }

  utf8(start: number, n: number): string {
    try {
      return utf8Decoder.decode(this.bytes.subarray(start, start + n));
    } catch {
      throw new MsgpackError(`malformed msgpack: invalid UTF-8 in string at byte ${start}`);
    }
  }

  bin(n: number): Uint8Array {
    this.need(n);
    // A plain Uint8Array view (not a Buffer subclass even when the frame is one), no copy.
    const b = this.bytes;
    const out = new Uint8Array(b.buffer, b.byteOffset + this.pos, n);
    this.pos += n;
    return out;
  }

  u64(): number | bigint {
    this.need(8);
    const hi = this.view.getUint32(this.pos);
    const lo = this.view.getUint32(this.pos + 4);
    if (hi < 0x200000) {
      this.pos += 8;
      return hi * 0x100000000 + lo;
    }
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  i64(): number | bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  }

  value(depth: number): MsgValue {
    if (depth > MAX_DEPTH) throw new MsgpackError(`malformed msgpack: nesting deeper than ${MAX_DEPTH}`);
    this.need(1);
    const v = this.view;
    const t = this.bytes[this.pos++] as number;
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t <= 0x8f) return this.map(t & 0x0f, depth);
    if (t <= 0x9f) return this.array(t & 0x0f, depth);
    if (t <= 0xbf) return this.str(t & 0x1f);
    let n: number;
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        this.need(1);
        return this.bin(v.getUint8(this.pos++));
      case 0xc5:
        this.need(2);
        n = v.getUint16(this.pos);
        this.pos += 2;
        return this.bin(n);
      case 0xc6:
        this.need(4);
        n = v.getUint32(this.pos);
        this.pos += 4;
        return this.bin(n);
      case 0xc7:
        this.need(2);
        n = v.getUint8(this.pos);
        this.pos += 1;
        return this.ext(n);
      case 0xc8:
        this.need(3);
        n = v.getUint16(this.pos);
        this.pos += 2;
        return this.ext(n);
      case 0xc9:
        this.need(5);
        n = v.getUint32(this.pos);
        this.pos += 4;
        return this.ext(n);
      case 0xca:
        this.need(4);
        this.pos += 4;
        return v.getFloat32(this.pos - 4);
      case 0xcb:
        this.need(8);
        this.pos += 8;
        return v.getFloat64(this.pos - 8);
      case 0xcc:
        this.need(1);
        return v.getUint8(this.pos++);
      case 0xcd:
        this.need(2);
        this.pos += 2;
        return v.getUint16(this.pos - 2);
      case 0xce:
        this.need(4);
        this.pos += 4;
        return v.getUint32(this.pos - 4);
      case 0xcf:
        return this.u64();
      case 0xd0:
        this.need(1);
        return v.getInt8(this.pos++);
      case 0xd1:
        this.need(2);
        this.pos += 2;
        return v.getInt16(this.pos - 2);
      case 0xd2:
        this.need(4);
        this.pos += 4;
        return v.getInt32(this.pos - 4);
      case 0xd3:
        return this.i64();
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xd9:
        this.need(1);
        return this.str(v.getUint8(this.pos++));
      case 0xda:
        this.need(2);
        this.pos += 2;
        return this.str(v.getUint16(this.pos - 2));
      case 0xdb:
        this.need(4);
        this.pos += 4;
        return this.str(v.getUint32(this.pos - 4));
      case 0xdc:
        this.need(2);
        this.pos += 2;
        return this.array(v.getUint16(this.pos - 2), depth);
      case 0xdd:
        this.need(4);
        this.pos += 4;
        return this.array(v.getUint32(this.pos - 4), depth);
      case 0xde:
        this.need(2);
        this.pos += 2;
        return this.map(v.getUint16(this.pos - 2), depth);
      case 0xdf:
        this.need(4);
        this.pos += 4;
        return this.map(v.getUint32(this.pos - 4), depth);
      default:
        throw new MsgpackError(
          `malformed msgpack: invalid type byte 0x${t.toString(16)} at byte ${this.pos - 1}`,
        );
    }
  }

  ext(n: number): MsgExt {
    this.need(1);
    const type = this.view.getInt8(this.pos++);
    return new MsgExt(type, this.bin(n));
  }

  array(n: number, depth: number): MsgValue[] {
    // Each element needs at least one byte: refuse absurd lengths before allocating.
    this.need(n);
    const out = new Array<MsgValue>(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }

  map(n: number, depth: number): MsgMap {
    this.need(2 * n);
    const out: MsgMap = {};
    for (let i = 0; i < n; i++) {
      const key = this.key();
      const value = this.value(depth + 1);
      // "__proto__" from the wire must stay an ordinary key, never replace the prototype.
      if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true });
      else out[key] = value;
    }
    return out;
  }

  key(): string {
    this.need(1);
    const t = this.bytes[this.pos] as number;
    if (t >= 0xa0 && t <= 0xbf) {
      this.pos++;
      const n = t & 0x1f;
      this.need(n);
      return lookupKey(this, this.pos, n);
    }
    const at = this.pos;
    const k = this.value(MAX_DEPTH - 1);
    if (typeof k === "string") return k;
    if (k instanceof Uint8Array) return latin1(k);
    if (typeof k === "number" || typeof k === "bigint") return String(k);
    throw new MsgpackError(`malformed msgpack: map key at byte ${at} is not a string, binary or integer`);
  }
}

// Key names repeat on every train: a direct-mapped cache from key bytes to the same string object
// saves building and internalising thousands of strings per train.
const KEY_SLOTS = 1 << 14;
const KEY_STRIDE = 32; // keys up to 31 bytes (fixstr) are cached
const keyBytes = new Uint8Array(KEY_SLOTS * KEY_STRIDE);
const keyView = new DataView(keyBytes.buffer);
const keyLengths = new Uint8Array(KEY_SLOTS);
const keyStrings: (string | undefined)[] = new Array(KEY_SLOTS).fill(undefined);

// Hashing and comparing four bytes at a time: key lookups are the hot loop of control data.
function keySlot(v: DataView, start: number, n: number): number {
  let h = 0x811c9dc5 ^ n;
  let i = 0;
  for (; i + 4 <= n; i += 4) h = Math.imul(h ^ v.getUint32(start + i, true), 0x01000193);
  for (; i < n; i++) h = Math.imul(h ^ v.getUint8(start + i), 0x01000193);
  return (h ^ (h >>> 16)) & (KEY_SLOTS - 1);
}

function keyAt(v: DataView, start: number, n: number, slot: number): string | undefined {
  const cached = keyStrings[slot];
  if (cached === undefined || keyLengths[slot] !== n) return undefined;
  const off = slot * KEY_STRIDE;
  let i = 0;
  for (; i + 4 <= n; i += 4)
    if (keyView.getUint32(off + i, true) !== v.getUint32(start + i, true)) return undefined;
  for (; i < n; i++) if (keyBytes[off + i] !== v.getUint8(start + i)) return undefined;
  return cached;
}

/** The string of the n-byte key at `start`, from the cache or decoded (and then cached). */
function lookupKey(r: Reader, start: number, n: number): string {
  const v = r.view;
  // Two-way set associative: a key may sit in either slot of its pair.
  const slot = keySlot(v, start, n) & ~1;
  const hit = keyAt(v, start, n, slot) ?? keyAt(v, start, n, slot + 1);
  if (hit !== undefined) {
    r.pos = start + n;
    return hit;
  }
  r.pos = start;
  const str = r.str(n);
  const into = keyStrings[slot] === undefined ? slot : slot + 1;
  keyBytes.set(r.bytes.subarray(start, start + n), into * KEY_STRIDE);
  keyLengths[into] = n;
  keyStrings[into] = str;
  return str;
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i] as number);
  return s;
}

/** Decodes one MessagePack value that must fill `bytes` exactly. */
export function decodeMsgpack(bytes: Uint8Array): MsgValue {
  const r = new Reader(bytes);
  const value = r.value(0);
  if (r.pos !== bytes.length) {
    throw new MsgpackError(
      `malformed msgpack: ${bytes.length - r.pos} unexpected bytes after the value at byte ${r.pos}`,
    );
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Encoding

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

  /** Starts a message of several frames, written one after another into one buffer. */
  begin(): void {
    // A fresh buffer per message, sized from the last one: its frames are handed out as views, so
    // it must never be written again (and no copy is needed at the end).
    this.buf = new Uint8Array(Math.max(4096, Math.ceil(this.lastMessage * 1.25)));
    this.view = new DataView(this.buf.buffer);
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

  /** The frames written since begin(), as views of the message's buffer. */
  end(): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < this.marks.length; i += 2) {
      frames.push(this.buf.subarray(this.marks[i] as number, this.marks[i + 1] as number));
    }
    this.lastMessage = this.pos;
    this.givenAway = true;
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
        throw new TypeError(`cannot encode a ${typeof v} as msgpack`);
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
      throw new RangeError(`cannot encode ${v}: msgpack integers are limited to 64 bits`);
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
