// MessagePack decoding for the Karabo bridge (see msgpack.ts): binary values are views into the
// received frame, short map keys come from a cache of their bytes, malformed input names its offset.
import { MAX_DEPTH, MsgExt, type MsgMap, MsgpackError, type MsgValue } from "./msgpack-values.ts";

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

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
    if (t <= 0xbf) {
      // Short string values (source names, "msgpack", units) repeat on every train, as keys do.
      const n = t & 0x1f;
      this.need(n);
      return lookupKey(this, this.pos, n);
    }
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
    if (n >= SHAPE_MIN && n <= SHAPE_MAX) return this.shapedMap(n, depth);
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

  // Maps whose key sequence repeats (every source of every train) are built by a function made for
  // that sequence: one object literal, instead of one dynamic property store per key.
  shapedMap(n: number, depth: number): MsgMap {
    const keys = new Array<string>(n);
    const vals = new Array<MsgValue>(n);
    let h = n;
    for (let i = 0; i < n; i++) {
      keySlotSeen = -1;
      keys[i] = this.key();
      h = Math.imul(h ^ keySlotSeen, 0x01000193);
      vals[i] = this.value(depth + 1);
    }
    return buildMap(keys, vals, h);
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

const SHAPE_MIN = 3;
const SHAPE_MAX = 512;
const SHAPE_LIMIT = 8192; // shapes remembered before the cache starts over
/** The cache slot of the last key found by lookupKey (-1 when it was not a cached fixstr). */
let keySlotSeen = -1;

interface Shape {
  keys: string[];
  seen: number;
  make?: (values: MsgValue[]) => MsgMap;
}
const shapes = new Map<number, Shape>();

function sameKeys(a: string[], b: string[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return a.length === b.length;
}

function plainMap(keys: string[], vals: MsgValue[]): MsgMap {
  const out: MsgMap = {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    // "__proto__" from the wire must stay an ordinary key, never replace the prototype.
    if (key === "__proto__")
      Object.defineProperty(out, key, { value: vals[i], enumerable: true, writable: true });
    else out[key] = vals[i] as MsgValue;
  }
  return out;
}

function buildMap(keys: string[], vals: MsgValue[], hash: number): MsgMap {
  const shape = shapes.get(hash);
  if (shape && sameKeys(shape.keys, keys)) {
    if (shape.make) return shape.make(vals);
    // Made on the second sighting: a map seen once may never come again.
    if (++shape.seen === 2 && !keys.includes("__proto__")) {
      const fields = keys.map((k, i) => `${JSON.stringify(k)}: v[${i}]`).join(", ");
      shape.make = new Function("v", `return { ${fields} };`) as Shape["make"];
    }
  } else {
    if (shapes.size >= SHAPE_LIMIT) shapes.clear();
    shapes.set(hash, { keys, seen: 1 });
  }
  return plainMap(keys, vals);
}

/** The string of the n-byte key at `start`, from the cache or decoded (and then cached). */
function lookupKey(r: Reader, start: number, n: number): string {
  const v = r.view;
  // Two-way set associative: a key may sit in either slot of its pair.
  const slot = keySlot(v, start, n) & ~1;
  keySlotSeen = slot;
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
