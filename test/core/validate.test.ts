import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type Caller,
  type ErrorCode,
  el,
  initialConfiguration,
  ndarray,
  parseValue,
  SaseError,
  Schema,
  State,
  ValidationError,
  validateConfiguration,
} from "../../src/core/index.ts";

const schema = new Schema({
  on: el.bool({ access: "reconfigurable", default: false }),
  gain: el.double({ access: "reconfigurable", min: 0, maxExc: 10, default: 1 }),
  threshold: el.float({ access: "reconfigurable", minExc: 0, max: 1, default: 0.5 }),
  cells: el.int32({ access: "reconfigurable", default: 352, options: [64, 176, 352] }),
  frames: el.uint32({ access: "reconfigurable", default: 1 }),
  offset: el.int64({ access: "reconfigurable", default: 0n }),
  pulses: el.uint64({ access: "reconfigurable", default: 1n, max: 2700n }),
  mode: el.string({ access: "reconfigurable", options: ["fixed", "adaptive"], default: "adaptive" }),
  roi: el.vector("int32", { access: "reconfigurable", minSize: 2, maxSize: 4, default: [0, 0] }),
  labels: el.vector("string", { access: "reconfigurable", default: [] }),
  frame: el.ndarray({ access: "reconfigurable", dtype: "uint16", shape: [0, 2] }),
  runs: el.table(
    { run: el.uint32({ default: 0 }), note: el.string({ default: "" }) },
    { access: "reconfigurable", default: [] },
  ),
  temperature: el.double({ access: "readOnly", default: 20 }),
  serial: el.string({ access: "init", default: "0000" }),
  voltage: el.double({ access: "reconfigurable", allowedStates: [State.STATIC], default: 0 }),
  calibration: el.double({ access: "reconfigurable", requiredAccessLevel: "expert", default: 1 }),
  hw: el.node(
    { port: el.int32({ access: "reconfigurable", default: 1, min: 1 }) },
    { requiredAccessLevel: "admin" },
  ),
  host: el.string({ mandatory: true }),
  go: el.slot(),
});

const operator: Caller = { user: "op", accessLevel: "operator" };

function refuse(
  input: Record<string, unknown>,
  code: ErrorCode,
  text: RegExp,
  opts: { caller?: Caller; state?: State } = {},
) {
  assert.throws(
    () =>
      validateConfiguration(schema, input, {
        phase: "reconfigure",
        caller: opts.caller ?? operator,
        state: opts.state ?? State.ON,
      }),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.match(err.message, text);
      return true;
    },
  );
}

describe("validation: types", () => {
  it("accepts good values and normalises integers", () => {
    const out = validateConfiguration(
      schema,
      {
        on: true,
        gain: 9.99,
        cells: 64,
        offset: -5,
        pulses: 2700,
        roi: new Int32Array([1, 2, 3]),
        mode: "fixed",
      },
      { phase: "reconfigure", caller: operator, state: State.ON },
    );
    assert.equal(out.get("offset"), -5n, "a safe integer becomes the int64's bigint");
    assert.equal(out.get("pulses"), 2700n);
    assert.deepEqual(out.get("roi"), [1, 2, 3], "typed arrays become plain vectors");
  });
  it("refuses a string for a double, naming key, value and rule", () =>
    refuse({ gain: "2" }, "WRONG_TYPE", /'gain' = "2": expected a number/));
  it("refuses a fraction for an int32", () =>
    refuse({ frames: 1.5 }, "WRONG_TYPE", /'frames' = 1.5: expected an integer \(uint32\)/));
  it("refuses a number for a bool", () => refuse({ on: 1 }, "WRONG_TYPE", /expected a bool/));
  it("refuses NaN", () => refuse({ gain: Number.NaN }, "WRONG_TYPE", /finite/));
  it("refuses a negative uint32", () => refuse({ frames: -1 }, "OUT_OF_RANGE", /uint32 range/));
  it("refuses an unsafe number for an int64", () =>
    refuse({ offset: 2 ** 60 }, "WRONG_TYPE", /expected an integer \(int64\)/));
  it("refuses a bad vector element", () => refuse({ roi: [1, "x"] }, "WRONG_TYPE", /'roi\[1\]' = "x"/));
  it("refuses an NDArray of the wrong dtype or shape", () => {
    refuse(
      { frame: ndarray(new Float32Array(4), [2, 2]) },
      "WRONG_TYPE",
      /expected dtype uint16, got float32/,
    );
    refuse({ frame: ndarray(new Uint16Array(6), [2, 3]) }, "WRONG_TYPE", /expected shape \[0,2\]/);
    refuse({ frame: [1, 2] }, "WRONG_TYPE", /expected an NDArray/);
  });
  it("checks table rows, fills column defaults and refuses unknown columns", () => {
    const out = validateConfiguration(
      schema,
      { runs: [{ run: 3 }] },
      { phase: "reconfigure", caller: operator },
    );
    assert.deepEqual(out.get("runs"), [{ run: 3, note: "" }]);
    refuse({ runs: [{ run: 3, colour: "red" }] }, "UNKNOWN_KEY", /'runs\[0\]\.colour'.*unknown column/);
    refuse({ runs: [{ run: "x" }] }, "WRONG_TYPE", /'runs\[0\]\.run'/);
  });
});

describe("validation: ranges and options", () => {
  it("inclusive minimum passes, exclusive maximum refuses", () => {
    validateConfiguration(schema, { gain: 0 }, { phase: "reconfigure", caller: operator });
    refuse({ gain: 10 }, "OUT_OF_RANGE", /'gain' = 10: must be < 10/);
    refuse({ gain: -0.1 }, "OUT_OF_RANGE", /must be >= 0/);
  });
  it("exclusive minimum refuses the bound", () => refuse({ threshold: 0 }, "OUT_OF_RANGE", /must be > 0/));
  it("bigint maximum", () => refuse({ pulses: 2701n }, "OUT_OF_RANGE", /must be <= 2700n/));
  it("options of numbers and strings", () => {
    refuse({ cells: 100 }, "NOT_IN_OPTIONS", /'cells' = 100: must be one of 64, 176, 352/);
    refuse({ mode: "auto" }, "NOT_IN_OPTIONS", /must be one of "fixed", "adaptive"/);
  });
  it("vector sizes", () => {
    refuse({ roi: [1] }, "OUT_OF_RANGE", /at least 2 elements/);
    refuse({ roi: [1, 2, 3, 4, 5] }, "OUT_OF_RANGE", /at most 4 elements/);
  });
});

describe("validation: access, state, keys", () => {
  it("refuses read-only keys", () =>
    refuse({ temperature: 3 }, "READ_ONLY", /'temperature' = 3: is read-only/));
  it("refuses init-only keys at run time but takes them at instantiation", () => {
    refuse({ serial: "1234" }, "INIT_ONLY", /only be set when the device is instantiated/);
    const init = initialConfiguration(schema, { serial: "1234", host: "h" }, operator);
    assert.equal(init.get("serial"), "1234");
    assert.equal(init.get("gain"), 1, "defaults are filled in");
    assert.ok(!init.has("frame"), "a key without default stays unset");
  });
  it("refuses a caller below the required level, also through a node", () => {
    refuse({ calibration: 2 }, "ACCESS_DENIED", /needs access level expert; caller 'op' has operator/);
    refuse({ hw: { port: 2 } }, "ACCESS_DENIED", /'hw\.port' = 2: needs access level admin/, {
      caller: { user: "e", accessLevel: "expert" },
    });
    validateConfiguration(
      schema,
      { "hw.port": 2 },
      { phase: "reconfigure", caller: { user: "a", accessLevel: "admin" } },
    );
  });
  it("refuses a write outside allowedStates, accepting derived states", () => {
    refuse({ voltage: 1 }, "WRONG_STATE", /may be set only in STATIC; device is MOVING/, {
      state: State.MOVING,
    });
    // ON derives from ACTIVE, which derives from STATIC
    validateConfiguration(
      schema,
      { voltage: 1 },
      { phase: "reconfigure", caller: operator, state: State.ON },
    );
  });
  it("refuses unknown keys with a suggestion, and slots", () => {
    refuse({ gian: 1 }, "UNKNOWN_KEY", /'gian' = 1: unknown key \(did you mean 'gain'\?\)/);
    refuse({ go: true }, "UNKNOWN_KEY", /is a slot/);
    refuse({ hw: 3 }, "WRONG_TYPE", /is a node/);
  });
  it("gathers every error of one request", () => {
    try {
      validateConfiguration(
        schema,
        { gain: 11, mode: "x", nope: 1, on: true },
        { phase: "reconfigure", caller: operator },
      );
      assert.fail("should refuse");
    } catch (err) {
      assert.ok(err instanceof ValidationError);
      assert.deepEqual(
        err.errors.map((e) => e.details.key),
        ["gain", "mode", "nope"],
      );
    }
  });
  it("names a mandatory key left out at instantiation", () => {
    assert.throws(() => initialConfiguration(schema, {}, operator), /'host' is mandatory and was not given/);
  });
  it("refuses a non-object configuration", () => {
    assert.throws(
      () => validateConfiguration(schema, [] as unknown as Record<string, unknown>, { phase: "internal" }),
      /must be an object/,
    );
  });
});

describe("parseValue (text typed by a person)", () => {
  const e = (k: string) => schema.entry(k)!.element;
  it("parses each kind", () => {
    assert.equal(parseValue("on", "true", e("on")), true);
    assert.equal(parseValue("gain", "2.5", e("gain")), 2.5);
    assert.equal(parseValue("pulses", "123", e("pulses")), 123n);
    assert.deepEqual(parseValue("roi", "1,2,3", e("roi")), [1, 2, 3]);
    assert.deepEqual(parseValue("roi", "[4,5]", e("roi")), [4, 5]);
    assert.deepEqual(parseValue("labels", "a, b", e("labels")), ["a", "b"]);
    assert.deepEqual(parseValue("runs", '[{"run":1}]', e("runs")), [{ run: 1 }]);
  });
  it("refuses text that is not of the kind", () => {
    assert.throws(
      () => parseValue("gain", "abc", e("gain")),
      (x: unknown) => x instanceof SaseError && /expected a number/.test(x.message),
    );
    assert.throws(() => parseValue("on", "maybe", e("on")), /true or false/);
    assert.throws(() => parseValue("pulses", "1.5", e("pulses")), /integer/);
    assert.throws(() => parseValue("frame", "1", e("frame")), /cannot be typed as text/);
  });
});
