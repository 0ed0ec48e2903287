// The Hash container: dotted paths, type inference and validation, attributes, equality, merge, clone.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  Hash,
  HashError,
  HashKeyError,
  HashRangeError,
  type HashType,
  HashTypeError,
  type HashValue,
  ndarray,
  SaseError,
} from "../../src/core/index.ts";

describe("paths", () => {
  test("dotted set creates nested Hashes; get/has/keys/paths/size read them back in order", () => {
    const h = new Hash();
    h.set("motor.position", 1.5).set("motor.name", "m1").set("run", 7);
    assert.equal(h.get("motor.position"), 1.5);
    assert.ok(h.get("motor") instanceof Hash);
    assert.equal(h.typeOf("motor"), "HASH");
    assert.deepEqual(h.keys(), ["motor", "run"]);
    assert.deepEqual(h.paths(), ["motor.position", "motor.name", "run"]);
    assert.equal(h.size, 2);
    assert.ok(h.has("motor.name"));
    assert.ok(!h.has("motor.speed"));
    assert.ok(!h.has("run.x"));
    assert.deepEqual(
      [...h].map(([k]) => k),
      ["motor", "run"],
    );
  });

  test("constructor turns nested objects into Hashes, arrays of objects into vector<Hash>, dotted keys into paths", () => {
    const h = new Hash({ a: { b: { c: 1 } }, list: [{ x: 1 }, { x: 2 }], "d.e": "deep" });
    assert.equal(h.get("a.b.c"), 1);
    assert.equal(h.typeOf("list"), "VECTOR_HASH");
    assert.equal(h.get("list[1].x"), 2);
    assert.equal(h.get("d.e"), "deep");
    assert.ok(Hash.from({ q: 1 }).equals(new Hash({ q: 1 })));
  });

  test("vector<Hash> elements are addressable as a.v[i].k; writing index == length appends", () => {
    const h = new Hash({ v: [{ q: 1 }, { q: 2 }] });
    h.set("v[1].q", 20);
    h.set("v[2].q", 30);
    assert.equal(h.get("v[1].q"), 20);
    assert.equal(h.get<Hash[]>("v").length, 3);
    assert.equal(h.typeOf("v[2]"), "HASH");
    assert.throws(() => h.get("v[7].q"), HashKeyError);
    assert.ok(h.erase("v[0]"));
    assert.equal(h.get("v[0].q"), 20);
  });

  test("missing keys throw HashKeyError naming the path; getOr falls back", () => {
    const h = new Hash({ a: { b: 1 } });
    assert.throws(
      () => h.get("a.c"),
      (e: unknown) =>
        e instanceof HashKeyError && e instanceof HashError && e.path === "a.c" && /a\.c/.test(e.message),
    );
    assert.throws(() => h.get("a.b.c"), /"a\.b\.c": "b" holds INT32/);
    assert.equal(h.getOr("a.c", 5), 5);
    assert.equal(h.getOr("a.b", 5), 1);
  });

  test("malformed paths are rejected", () => {
    const h = new Hash();
    for (const bad of ["", "a..b", ".a", "a.", "a[x]", "a[1", "a]"]) {
      assert.throws(() => h.set(bad, 1), HashKeyError, bad);
    }
  });

  test("a rejected value leaves the Hash untouched (no half-created path)", () => {
    const h = new Hash();
    assert.throws(() => h.set("cfg.gain", 300, "UINT8"), HashRangeError);
    assert.equal(h.size, 0);
  });

  test("cycles are refused: a Hash cannot hold itself or one of its ancestors", () => {
    const root = new Hash({ a: { b: 1 } });
    const a = root.get<Hash>("a");
    assert.throws(() => root.set("self", root), /a cycle/);
    assert.throws(() => a.set("up", root), /a cycle/);
    assert.throws(() => root.set("x.y", new Hash({ z: root })), /a cycle/);
    assert.throws(() => root.set("list", [new Hash(), new Hash({ deep: { r: root } })]), /a cycle/);
    assert.throws(() => root.setAttribute("a", "meta", new Hash({ r: root })), /a cycle/);
    const v = new Hash({ v: [{ q: 1 }] });
    assert.throws(() => v.set("v[0]", v), /a cycle/);
    const shared = new Hash({ s: 1 });
    root.set("one", shared).set("two", shared); // sharing without a cycle is fine
    assert.deepEqual(root.keys(), ["a", "one", "two"]);
    assert.throws(() => shared.set("back", root), /a cycle/);
  });

  test("setting below a non-Hash node is an error, not a silent overwrite", () => {
    const h = new Hash({ a: 1 });
    assert.throws(() => h.set("a.b", 2), HashKeyError);
    assert.equal(h.get("a"), 1);
  });

  test("erase removes leaves and subtrees; false when absent", () => {
    const h = new Hash({ a: { b: 1, c: 2 }, d: 3 });
    assert.ok(h.erase("a.b"));
    assert.deepEqual(h.paths(), ["a.c", "d"]);
    assert.ok(h.erase("a"));
    assert.ok(!h.erase("a"));
    assert.ok(!h.erase("x.y.z"));
    assert.deepEqual(h.keys(), ["d"]);
  });
});

describe("types", () => {
  const cases: [string, HashValue, HashType][] = [
    ["true", true, "BOOL"],
    ["int32", 5, "INT32"],
    ["negative int32", -2147483648, "INT32"],
    ["beyond int32", 2 ** 40, "INT64"],
    ["fraction", 1.5, "DOUBLE"],
    ["minus zero", -0, "DOUBLE"],
    ["NaN", Number.NaN, "DOUBLE"],
    ["bigint", 5n, "INT64"],
    ["bigint beyond int64", 2n ** 63n, "UINT64"],
    ["string", "s", "STRING"],
    ["null", null, "NONE"],
    ["Int16Array", new Int16Array(2), "VECTOR_INT16"],
    ["Uint8Array", new Uint8Array(2), "VECTOR_UINT8"],
    ["Float32Array", new Float32Array(2), "VECTOR_FLOAT"],
    ["BigUint64Array", new BigUint64Array(2), "VECTOR_UINT64"],
    ["NDArray", ndarray(new Uint16Array(6), [2, 3]), "NDARRAY"],
    ["int list", [1, 2], "VECTOR_INT32"],
    ["big int list", [1, 2 ** 40], "VECTOR_INT64"],
    ["float list", [1, 2.5], "VECTOR_DOUBLE"],
    ["bigint list", [1n], "VECTOR_INT64"],
    ["string list", ["a", "b"], "VECTOR_STRING"],
    ["empty list", [], "VECTOR_STRING"],
    ["bool list", [true, false], "VECTOR_BOOL"],
    ["Hash list", [new Hash()], "VECTOR_HASH"],
    ["Hash", new Hash(), "HASH"],
  ];
  for (const [name, value, type] of cases) {
    test(`infers ${type} from ${name}`, () => {
      assert.equal(new Hash().set("k", value).typeOf("k"), type);
    });
  }

  test("INT64/UINT64 values are always bigint; number lists become typed arrays", () => {
    const h = new Hash()
      .set("big", 2 ** 40)
      .set("u", 7, "UINT64")
      .set("list", [1, 2, 3])
      .set("f", [1.5]);
    assert.equal(h.get("big"), 2n ** 40n);
    assert.equal(h.get("u"), 7n);
    assert.deepEqual(h.get("list"), new Int32Array([1, 2, 3]));
    assert.deepEqual(h.get("f"), new Float64Array([1.5]));
  });

  test("an explicit type out of range is a HashRangeError (a SaseError coded HASH_RANGE) naming the path", () => {
    const h = new Hash();
    assert.throws(
      () => h.set("cfg.gain", 300, "UINT8"),
      (e: unknown) =>
        e instanceof SaseError &&
        e.code === "HASH_RANGE" &&
        e.details.key === "cfg.gain" &&
        e instanceof HashRangeError &&
        e instanceof HashError &&
        e.path === "cfg.gain" &&
        /cfg\.gain.*300.*UINT8/.test(e.message),
    );
    assert.ok(!h.has("cfg.gain"));
  });

  const outOfRange: [HashValue, HashType][] = [
    [-1, "UINT8"],
    [128, "INT8"],
    [-32769, "INT16"],
    [65536, "UINT16"],
    [2 ** 31, "INT32"],
    [-1, "UINT32"],
    [1.5, "INT32"],
    [2n ** 63n, "INT64"],
    [-1n, "UINT64"],
    [2n ** 64n, "UINT64"],
    [2 ** 60, "INT64"], // a number beyond 2^53 is not exact: ask for a bigint
    [1e39, "FLOAT"],
    ["ab", "CHAR"],
    ["€", "CHAR"],
    [[1, 300], "VECTOR_UINT8"],
    [[0.5], "VECTOR_INT16"],
  ];
  for (const [value, type] of outOfRange) {
    test(`rejects ${String(value)} as ${type}`, () => {
      assert.throws(() => new Hash().set("v", value, type), HashRangeError);
    });
  }

  test("a vector element out of range names its index", () => {
    assert.throws(() => new Hash().set("v", [1, 300], "VECTOR_UINT8"), /"v\[1\]": 300/);
  });

  const wrongKind: [HashValue, HashType][] = [
    ["x", "INT32"],
    [1, "BOOL"],
    [1, "STRING"],
    [1n, "DOUBLE"],
    [new Float64Array(1), "HASH"],
    [["a"], "VECTOR_INT32"],
    [[1], "VECTOR_BOOL"],
    [1, "NONE"],
    [new Hash(), "NDARRAY"],
    [new Hash({ a: 1, b: 2 }), "SCHEMA"],
  ];
  for (const [value, type] of wrongKind) {
    test(`rejects a ${typeof value} value as ${type} with HashTypeError`, () => {
      assert.throws(
        () => new Hash().set("p.q", value, type),
        (e: unknown) =>
          e instanceof HashTypeError && e.code === "HASH_TYPE" && e instanceof HashError && e.path === "p.q",
      );
    });
  }

  test("unstorable JS values are HashTypeErrors", () => {
    assert.throws(() => new Hash({ f: () => 1 }), HashTypeError);
    assert.throws(() => new Hash({ u: undefined }), HashTypeError);
    assert.throws(() => new Hash().set("m", [1, "a"] as unknown as HashValue), HashTypeError);
    assert.throws(() => new Hash().set("d", new Date() as unknown as HashValue), HashTypeError);
  });

  test("explicit types convert: FLOAT rounds to float32, typed arrays convert to the element type", () => {
    const h = new Hash().set("f", 0.1, "FLOAT").set("v", [1, 2], "VECTOR_UINT16").set("c", "A", "CHAR");
    assert.equal(h.get("f"), Math.fround(0.1));
    assert.deepEqual(h.get("v"), new Uint16Array([1, 2]));
    assert.equal(h.get("c"), "A");
    const bytes = new Uint8Array([1, 2]);
    h.set("b", bytes, "BYTE_ARRAY");
    assert.equal(h.get("b"), bytes, "a matching typed array is stored as is, not copied");
    assert.equal(h.typeOf("b"), "BYTE_ARRAY");
  });

  test("re-setting a number keeps the key's numeric type (and validates against it)", () => {
    const h = new Hash().set("gain", 5, "UINT8");
    h.set("gain", 7);
    assert.equal(h.typeOf("gain"), "UINT8");
    assert.throws(() => h.set("gain", 300), HashRangeError);
    assert.equal(h.get("gain"), 7);
    h.set("gain", "high");
    assert.equal(h.typeOf("gain"), "STRING");
    const v = new Hash().set("v", new Float32Array([1]));
    v.set("v", [2, 3]);
    assert.equal(v.typeOf("v"), "VECTOR_FLOAT");
    assert.deepEqual(v.get("v"), new Float32Array([2, 3]));
  });
});

describe("attributes", () => {
  test("typed attributes are set, read, typed and kept when the value changes", () => {
    const h = new Hash({ motor: { position: 1.5 } });
    h.setAttribute("motor.position", "tid", 1000n, "UINT64").setAttribute("motor.position", "unit", "mm");
    h.set("motor.position", 2.5);
    assert.equal(h.getAttribute("motor.position", "tid"), 1000n);
    assert.equal(h.attributeType("motor.position", "tid"), "UINT64");
    assert.equal(h.attributeType("motor.position", "unit"), "STRING");
    assert.deepEqual(h.getAttributes("motor.position"), { tid: 1000n, unit: "mm" });
    assert.ok(h.hasAttribute("motor.position", "unit"));
    assert.ok(!h.hasAttribute("motor.position", "sec"));
    assert.ok(h.eraseAttribute("motor.position", "unit"));
    assert.deepEqual(Object.keys(h.getAttributes("motor.position")), ["tid"]);
  });

  test("missing attributes and nodes throw HashKeyError naming both", () => {
    const h = new Hash({ a: 1 });
    assert.throws(
      () => h.getAttribute("a", "unit"),
      (e: unknown) => e instanceof HashKeyError && /unit.*"a"/.test(e.message),
    );
    assert.throws(() => h.setAttribute("b", "unit", "mm"), HashKeyError);
    assert.throws(
      () => h.setAttribute("a", "n", 300, "UINT8"),
      (e: unknown) => e instanceof HashRangeError && e.path === "a@n",
    );
  });

  test("an NDArray cannot be an attribute (Karabo's layout could not mark it)", () => {
    const h = new Hash({ a: 1 });
    assert.throws(() => h.setAttribute("a", "img", ndarray(new Uint8Array(4), [2, 2])), HashTypeError);
    assert.deepEqual(h.getAttributes("a"), {});
  });

  test("attribute names like __proto__ stay plain data", () => {
    const h = new Hash({ a: 1 }).setAttribute("a", "__proto__", "x");
    const attrs = h.getAttributes("a");
    assert.equal(Object.getPrototypeOf(attrs), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(attrs, "__proto__")?.value, "x");
  });
});

describe("equality, merge, clone", () => {
  test("equals compares types, values (typed arrays by content), attributes and key order", () => {
    const make = () =>
      new Hash({ a: { b: new Uint16Array([1, 2]) }, n: Number.NaN }).setAttribute("a.b", "unit", "adu");
    assert.ok(make().equals(make()));
    assert.ok(!make().equals(make().set("a.b", new Uint16Array([1, 3]))));
    assert.ok(!make().equals(make().set("a.b", new Int16Array([1, 2]))), "element type differs");
    assert.ok(!make().equals(make().setAttribute("a.b", "unit", "keV")));
    assert.ok(!make().equals(make().setAttribute("a.b", "gain", 1)));
    assert.ok(!new Hash().set("x", 1).equals(new Hash().set("x", 1, "INT64")), "INT32 1 != INT64 1");
    assert.ok(!new Hash({ a: 1, b: 2 }).equals(new Hash({ b: 2, a: 1 })), "order is part of a Hash");
    assert.ok(!new Hash().set("z", 0.0).equals(new Hash().set("z", -0)), "0 and -0 are different doubles");
    const nd = () => new Hash().set("img", ndarray(new Float32Array([1, 2, 3, 4]), [2, 2]));
    assert.ok(nd().equals(nd()));
    assert.ok(!nd().equals(new Hash().set("img", ndarray(new Float32Array([1, 2, 3, 4]), [4, 1]))));
  });

  test("merge: nested Hashes merge recursively, leaves are replaced with their type, attributes merge", () => {
    const mine = new Hash({ motor: { position: 1, speed: 2 }, keep: "x" });
    mine.setAttribute("motor.position", "unit", "mm").setAttribute("motor.position", "tid", 1);
    const theirs = new Hash({ motor: { position: 5.5, limit: 9 }, extra: [1, 2] });
    theirs.setAttribute("motor.position", "tid", 2);
    mine.merge(theirs);
    assert.deepEqual(mine.paths(), ["motor.position", "motor.speed", "motor.limit", "keep", "extra"]);
    assert.equal(mine.get("motor.position"), 5.5);
    assert.equal(mine.typeOf("motor.position"), "DOUBLE");
    assert.deepEqual(mine.getAttributes("motor.position"), { unit: "mm", tid: 2 });
    theirs.set("motor.limit", 10);
    assert.equal(mine.get("motor.limit"), 9, "merged-in Hashes are copies");
  });

  test("merge replaces a Hash by a leaf and a leaf by a Hash", () => {
    const h = new Hash({ a: { b: 1 }, c: 2 }).merge(new Hash({ a: 3, c: { d: 4 } }));
    assert.equal(h.get("a"), 3);
    assert.equal(h.get("c.d"), 4);
  });

  test("merge treats vector<Hash> as a table (replaced whole) and can replace attributes", () => {
    const mine = new Hash({ table: [{ a: 1 }, { a: 2 }], x: 1 })
      .setAttribute("x", "unit", "mm")
      .setAttribute("x", "tid", 1);
    const theirs = new Hash({ table: [{ b: 3 }], x: 2 }).setAttribute("x", "tid", 2);
    const merged = mine.clone().merge(theirs);
    assert.deepEqual(merged.toObject(), { table: [{ b: 3 }], x: 2 });
    assert.deepEqual(merged.getAttributes("x"), { unit: "mm", tid: 2 });
    theirs.set("table[0].b", 4);
    assert.equal(merged.get("table[0].b"), 3, "merged tables are copies");
    const replaced = mine.clone().merge(theirs, { attributes: "replace" });
    assert.deepEqual(replaced.getAttributes("x"), { tid: 2 });
  });

  test("clone is deep: typed arrays, nested Hashes and attributes are copied", () => {
    const h = new Hash({ a: { v: new Float64Array([1, 2]) }, list: [{ x: 1 }] }).setAttribute(
      "a.v",
      "u",
      "m",
    );
    const c = h.clone();
    assert.ok(c.equals(h));
    c.get<Float64Array>("a.v")[0] = 99;
    c.set("list[0].x", 5);
    c.setAttribute("a.v", "u", "km");
    assert.equal(h.get<Float64Array>("a.v")[0], 1);
    assert.equal(h.get("list[0].x"), 1);
    assert.equal(h.getAttribute("a.v", "u"), "m");
  });

  test("toObject gives plain nested objects; vector<Hash> becomes an array of objects", () => {
    const h = new Hash({ a: { b: 1 }, v: [{ x: 1 }], s: "t" });
    assert.deepEqual(h.toObject(), { a: { b: 1 }, v: [{ x: 1 }], s: "t" });
    const p = new Hash().set("__proto__", 1).toObject();
    assert.equal(Object.getPrototypeOf(p), Object.prototype);
    assert.equal(Object.keys(p).length, 1);
  });
});
