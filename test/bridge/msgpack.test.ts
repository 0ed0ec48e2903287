// The MessagePack codec against Python's msgpack (the reference the bridge talks to): what Python
// packs we decode to the same values, and what we pack Python unpacks to the same values.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { MsgpackError, type MsgValue, decodeMsgpack, encodeMsgpack } from "../../src/bridge/index.ts";

// Values covering every format boundary: fixint/uint8/16/32/64, negative ints, floats, strings
// of 31/32/255/256/65536 bytes, unicode, bin, arrays and maps of 15/16/65536 entries.
const PY_VALUES = `
big = 2**60 + 1
values = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 - 1, 2**53 + 1, 2**64 - 1,
          -1, -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**53 - 1, -2**63,
          0.5, -1.25e300, 1e-300, True, False, None, "", "a" * 31, "b" * 32, "c" * 255, "d" * 256,
          "e" * 65536, "Ångström µm ☃", b"", b"\\x00\\xff" * 200, bytes(70000), list(range(15)),
          list(range(16)), list(range(65536)), {str(i): i for i in range(15)},
          {str(i): i for i in range(16)}, {"nested": {"deeper": [1, {"x": b"y"}]}}]
`;

function python(code: string, input?: Buffer): Buffer {
  return execFileSync("/usr/bin/python3", ["-c", code], { input, maxBuffer: 64 * 1024 * 1024 });
}

function toPlain(v: MsgValue): unknown {
  if (typeof v === "bigint") return `big:${v}`;
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString("hex")}`;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x as MsgValue)]));
  return v;
}

// Python's view of the same values in the same plain form (ints beyond 2**53 as "big:").
const PY_PLAIN = `
def plain(v):
    if isinstance(v, bool) or v is None: return v
    if isinstance(v, int): return v if -2**53 < v < 2**53 else "big:%d" % v
    if isinstance(v, bytes): return "hex:" + v.hex()
    if isinstance(v, list): return [plain(x) for x in v]
    if isinstance(v, dict): return {k: plain(x) for k, x in v.items()}
    return v
`;

test("values packed by Python's msgpack decode to the same values", () => {
  const packed = python(
    `import msgpack, sys${PY_VALUES}\nsys.stdout.buffer.write(msgpack.packb(values, use_bin_type=True))`,
  );
  const ours = toPlain(decodeMsgpack(new Uint8Array(packed)));
  const theirs = JSON.parse(
    python(`import msgpack, json${PY_VALUES}${PY_PLAIN}\nprint(json.dumps(plain(values)))`).toString(),
  );
  assert.deepEqual(ours, theirs);
});

test("values packed by sase decode in Python's msgpack to the same values, byte for byte", () => {
  const packed = python(
    `import msgpack, sys${PY_VALUES}\nsys.stdout.buffer.write(msgpack.packb(values, use_bin_type=True))`,
  );
  const decoded = decodeMsgpack(new Uint8Array(packed));
  const ours = Buffer.from(encodeMsgpack(decoded));
  // Python and sase choose the same formats, except that 2**53+1 etc. are bigints here (uint64/int64
  // formats) — Python picks the same for those magnitudes, so the bytes agree.
  assert.ok(ours.equals(packed), "re-encoded bytes differ from Python's");
  const roundTrip = python(
    `import msgpack, sys, json${PY_PLAIN}\nprint(json.dumps(plain(msgpack.unpackb(sys.stdin.buffer.read(), raw=False))))`,
    ours,
  );
  assert.deepEqual(JSON.parse(roundTrip.toString()), toPlain(decoded));
});

test("a '__proto__' key from the wire stays an ordinary key", () => {
  const packed = python(
    `import msgpack, sys\nsys.stdout.buffer.write(msgpack.packb({"__proto__": {"polluted": 1}}))`,
  );
  const v = decodeMsgpack(new Uint8Array(packed)) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.keys(v), ["__proto__"]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("absurd nesting and lengths are refused without allocating", () => {
  const deep = new Uint8Array(200).fill(0x91);
  assert.throws(
    () => decodeMsgpack(deep),
    (e: unknown) => e instanceof MsgpackError && /nesting deeper than 64/.test(e.message),
  );
  assert.throws(() => decodeMsgpack(new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff])), /truncated/);
  assert.throws(() => decodeMsgpack(new Uint8Array([0xa5, 0x61])), /truncated at byte 1/);
  assert.throws(() => decodeMsgpack(new Uint8Array([0xa2, 0xc3, 0x28])), /invalid UTF-8/);
});

test("integral floats go out as integers and -0, NaN and infinities as float64", () => {
  assert.deepEqual([...encodeMsgpack(2.0)], [0x02]);
  assert.deepEqual([...encodeMsgpack(-0)], [0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0]);
  assert.ok(Number.isNaN(decodeMsgpack(encodeMsgpack(Number.NaN))));
  assert.equal(decodeMsgpack(encodeMsgpack(Number.POSITIVE_INFINITY)), Number.POSITIVE_INFINITY);
  assert.throws(() => encodeMsgpack(2n ** 64n), /limited to 64 bits/);
});

test("maps decoded again and again with the same keys (built by a made-to-measure function) keep every value", () => {
  const keysOf = (i: number) => ["a", "b", "c", `d${i % 3}`, "__proto__".slice(0, i % 2 ? 9 : 2)];
  for (let i = 0; i < 12; i++) {
    const keys = keysOf(i);
    const value = Object.fromEntries(keys.map((k, j) => [k, j * 100 + i]));
    // Python packs it, so "__proto__" goes over the wire as a key like any other.
    const wire = python(
      `import msgpack, sys\nsys.stdout.buffer.write(msgpack.packb(dict(zip(${JSON.stringify(keys)}, ${JSON.stringify(
        keys.map((_, j) => j * 100 + i),
      )}))))`,
    );
    for (let repeat = 0; repeat < 3; repeat++) {
      const v = decodeMsgpack(wire) as Record<string, MsgValue>;
      assert.deepEqual(Object.keys(v), keys, `train ${i}, repeat ${repeat}`);
      for (const k of keys) assert.equal(v[k], value[k]);
      assert.equal(Object.getPrototypeOf(v), Object.prototype);
    }
  }
});
