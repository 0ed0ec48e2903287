import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeHash,
  defineDevice,
  el,
  encodeHashToBytes,
  type Props,
  SaseError,
  Schema,
  type SchemaSpec,
  schemaFromHash,
  schemaToHash,
  State,
} from "../../src/core/index.ts";
import { SimulatedMotor } from "../../src/devices/index.ts";

const spec = {
  gain: el.double({
    unit: "volt",
    prefix: "milli",
    access: "reconfigurable",
    min: 0,
    maxExc: 10,
    default: 1,
  }),
  mode: el.string({ options: ["fast", "slow"], default: "fast", access: "reconfigurable" }),
  count: el.uint64({ default: 3n }),
  roi: el.vector("int32", { default: [0, 0, 10, 10], minSize: 4, maxSize: 4 }),
  frame: el.ndarray({ dtype: "uint16", shape: [0, 4], access: "readOnly" }),
  pulses: el.table({ id: el.int32({ default: 0 }), name: el.string({ default: "" }) }, { default: [] }),
  hw: el.node(
    { port: el.int32({ default: 8080, min: 1, max: 65535 }), host: el.string({ mandatory: true }) },
    { requiredAccessLevel: "expert" },
  ),
  acquire: el.slot({ allowedStates: [State.ON], args: { frames: el.uint32({ default: 1 }) } }),
} satisfies SchemaSpec;

describe("schema declaration", () => {
  it("compiles keys, nested nodes and slots in declaration order", () => {
    const s = new Schema(spec);
    assert.deepEqual(s.propertyKeys(), [
      "gain",
      "mode",
      "count",
      "roi",
      "frame",
      "pulses",
      "hw.port",
      "hw.host",
    ]);
    assert.deepEqual(s.slotNames(), ["acquire"]);
    assert.equal(s.entry("hw")?.element.kind, "node");
  });

  it("derives access modes and the effective access level along a path", () => {
    const s = new Schema(spec);
    assert.equal(s.entry("count")?.access, "init");
    assert.equal(s.entry("gain")?.requiredAccessLevel, "operator");
    assert.equal(s.entry("frame")?.requiredAccessLevel, "observer");
    assert.equal(s.entry("hw.port")?.requiredAccessLevel, "expert", "inherits the node's expert level");
    assert.equal(s.entry("acquire")?.requiredAccessLevel, "operator");
  });

  it("infers property types statically (compile-time check)", () => {
    type P = Props<typeof spec>;
    const sample: P = {
      gain: 1,
      mode: "slow",
      count: 1n,
      roi: [1, 2, 3, 4],
      frame: { data: new Uint16Array(4), shape: [1, 4], dtype: "uint16" } as P["frame"],
      pulses: [{ id: 1, name: "a" }],
      "hw.port": 1,
      "hw.host": "x",
    };
    // @ts-expect-error -- "medium" is not one of the options
    const bad: P["mode"] = "medium";
    assert.ok(sample && bad);
  });

  it("tags select keys", () => {
    const s = new Schema({
      a: el.double({ tags: ["daq"] }),
      b: el.double({}),
      c: el.int32({ tags: ["daq", "x"] }),
    });
    assert.deepEqual(s.keysTagged("daq"), ["a", "c"]);
  });

  const badSpecs: [string, unknown, RegExp][] = [
    ["bad key", { "1x": el.double() }, /'1x'.*letters/],
    ["unknown kind", { a: { kind: "complex" } }, /unknown element kind/],
    [
      "read-only mandatory",
      { a: el.double({ access: "readOnly", mandatory: true }) },
      /read-only property cannot be mandatory/,
    ],
    [
      "table column without default",
      { t: el.table({ a: el.int32() }) },
      /every table column needs a default/,
    ],
    ["unknown unit", { a: { kind: "double", unit: "furlong" } }, /unknown unit "furlong"/],
    ["vector without element kind", { v: { kind: "vector" } }, /a vector needs `of`/],
    ["slot inside slot arguments", { s: el.slot({ args: { go: el.slot() } }) }, /slots are not arguments/],
    [
      "bad access level",
      { a: { kind: "double", requiredAccessLevel: "god" } },
      /unknown requiredAccessLevel god/,
    ],
  ];
  for (const [what, bad, message] of badSpecs) {
    it(`refuses a declaration with ${what}`, () => {
      assert.throws(
        () => new Schema(bad as SchemaSpec),
        (err: unknown) => err instanceof SaseError && err.code === "BAD_SCHEMA" && message.test(err.message),
      );
    });
  }

  it("refuses device schemas that shadow base keys or Device methods", () => {
    assert.throws(
      () => defineDevice({ classId: "A", schema: { state: el.string() } }),
      /reserved for every device/,
    );
    assert.throws(() => defineDevice({ classId: "B", schema: { set: el.slot() } }), /would hide Device.set/);
    assert.throws(() => defineDevice({ classId: "bad id", schema: {} }), /class id/);
  });
});

describe("schema as data", () => {
  it("round-trips through a binary Hash with Karabo attribute names", () => {
    const original = SimulatedMotor.schema;
    const h = schemaToHash(original);
    assert.equal(h.getAttribute("velocity", "valueType"), "DOUBLE");
    assert.equal(h.getAttribute("velocity", "accessMode"), 4);
    assert.equal(h.getAttribute("position", "accessMode"), 2);
    assert.equal(h.getAttribute("velocity", "minExc"), 0);
    assert.equal(h.getAttribute("velocity", "unitName"), "METER_PER_SECOND");
    assert.equal(h.getAttribute("velocity", "metricPrefixSymbol"), "m");
    assert.equal(h.getAttribute("lowerLimit", "requiredAccessLevel"), 3);
    assert.deepEqual(h.getAttribute("move", "allowedStates"), ["STATIC"]);
    assert.equal(h.getAttribute("move", "displayType"), "Slot");
    const back = schemaFromHash(decodeHash(encodeHashToBytes(h)));
    assert.ok(schemaToHash(back).equals(h), "a schema rebuilt from its Hash gives the same Hash");
    assert.deepEqual(back.slotNames(), original.slotNames());
  });

  it("keeps typed defaults, options, vectors, tables and nodes across the wire", () => {
    const s = new Schema(spec);
    const back = schemaFromHash(decodeHash(encodeHashToBytes(schemaToHash(s))));
    const count = back.entry("count")!.element as { default?: unknown };
    assert.equal(count.default, 3n);
    assert.deepEqual((back.entry("roi")!.element as { default?: unknown }).default, [0, 0, 10, 10]);
    assert.deepEqual((back.entry("mode")!.element as { options?: unknown }).options, ["fast", "slow"]);
    assert.equal(back.entry("hw.host")?.element.kind, "string");
    assert.equal((back.entry("hw.host")!.element as { mandatory?: boolean }).mandatory, true);
    assert.deepEqual(Object.keys((back.entry("pulses")!.element as { rowSchema?: object }).rowSchema ?? {}), [
      "id",
      "name",
    ]);
    assert.ok(schemaToHash(back).equals(schemaToHash(s)));
  });

  it("Schema.fromData refuses data that is not a schema", () => {
    assert.throws(() => Schema.fromData(null), /schema data must be an object/);
    assert.throws(() => Schema.fromData({ a: 3 }), /element must be an object with a kind/);
  });
});
