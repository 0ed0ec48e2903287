// Karabo's state hierarchy, derivation, the StateSignifier combination rule and the GUI state colours.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  isDerivedFrom,
  isState,
  lineageOf,
  mostSignificantState,
  parentOf,
  SaseError,
  STATES,
  State,
  stateColor,
  stateFamily,
  toState,
  trumpList,
} from "../../src/core/index.ts";

describe("hierarchy", () => {
  test("three roots; every other state descends from KNOWN", () => {
    const roots = STATES.filter((s) => parentOf(s) === null);
    assert.deepEqual(roots.sort(), ["INIT", "KNOWN", "UNKNOWN"]);
    for (const s of STATES) {
      const line = lineageOf(s);
      assert.equal(line[0], s);
      assert.ok(["INIT", "KNOWN", "UNKNOWN"].includes(line[line.length - 1]!), s);
    }
    assert.equal(STATES.length, 68);
  });

  const parents: [State, State][] = [
    ["DISABLED", "KNOWN"],
    ["ERROR", "KNOWN"],
    ["NORMAL", "KNOWN"],
    ["PAUSED", "DISABLED"],
    ["INTERLOCKED", "DISABLED"],
    ["INTERLOCK_BROKEN", "DISABLED"],
    ["STATIC", "NORMAL"],
    ["CHANGING", "NORMAL"],
    ["RUNNING", "NORMAL"],
    ["ACTIVE", "STATIC"],
    ["PASSIVE", "STATIC"],
    ["INTERLOCK_OK", "STATIC"],
    ["ON", "ACTIVE"],
    ["MONITORING", "ACTIVE"],
    ["OFF", "PASSIVE"],
    ["IGNORING", "PASSIVE"],
    ["OPENED", "ACTIVE"], // Karabo's docs and Python; its C++ has OPENED/CLOSED swapped
    ["CLOSED", "PASSIVE"],
    ["ACQUIRING", "RUNNING"],
    ["PROCESSING", "RUNNING"],
    ["MOVING", "CHANGING"],
    ["SEARCHING", "CHANGING"],
    ["INCREASING", "CHANGING"],
    ["DECREASING", "CHANGING"],
    ["MOVING_RIGHT", "INCREASING"],
    ["SWITCHING_ON", "INCREASING"],
    ["MOVING_LEFT", "DECREASING"],
    ["SWITCHING_OFF", "DECREASING"],
  ];
  for (const [child, parent] of parents) {
    test(`${child} is a child of ${parent}`, () => assert.equal(parentOf(child), parent));
  }

  test("State names map to themselves, and names from outside are validated", () => {
    assert.equal(State.MOVING, "MOVING");
    assert.ok(isState("ROTATING_CLK"));
    assert.ok(!isState("moving"));
    assert.ok(!isState("toString"));
    assert.ok(!isState(3));
    assert.equal(toState("ON"), "ON");
    assert.throws(() => toState("BROKEN"), /"BROKEN" is not a Karabo state/);
  });
});

describe("isDerivedFrom", () => {
  test("walks the parents", () => {
    assert.ok(isDerivedFrom("MOVING_LEFT", "DECREASING"));
    assert.ok(isDerivedFrom("MOVING_LEFT", "CHANGING"));
    assert.ok(isDerivedFrom("MOVING_LEFT", "NORMAL"));
    assert.ok(isDerivedFrom("MOVING_LEFT", "KNOWN"));
    assert.ok(isDerivedFrom("ON", "STATIC"));
    assert.ok(isDerivedFrom("ACQUIRING", "RUNNING"));
    assert.ok(isDerivedFrom("INTERLOCKED", "DISABLED"));
    assert.ok(isDerivedFrom("ERROR", "ERROR"), "a state derives from itself");
  });
  test("does not cross branches or go upwards", () => {
    assert.ok(!isDerivedFrom("MOVING_LEFT", "INCREASING"));
    assert.ok(!isDerivedFrom("ON", "PASSIVE"));
    assert.ok(!isDerivedFrom("CHANGING", "MOVING"));
    assert.ok(!isDerivedFrom("UNKNOWN", "KNOWN"));
    assert.ok(!isDerivedFrom("INIT", "KNOWN"));
    assert.ok(!isDerivedFrom("ERROR", "NORMAL"));
  });
});

describe("mostSignificantState", () => {
  const cases: [State[], State][] = [
    [["MOVING", "ON"], "MOVING"],
    [["ON", "OFF"], "OFF"],
    [["ERROR", "MOVING"], "ERROR"],
    [["INTERLOCKED", "ERROR"], "ERROR"],
    [["ACQUIRING", "MOVING"], "MOVING"],
    [["PAUSED", "ACQUIRING"], "PAUSED"],
    [["DISABLED", "ON"], "ON"],
    [["INTERLOCKED", "MOVING_LEFT"], "INTERLOCKED"],
    [["MOVING_RIGHT", "MOVING_LEFT"], "MOVING_LEFT"],
    [["MOVING_LEFT", "MOVING_RIGHT"], "MOVING_LEFT"],
    [["MOVING_RIGHT", "MOVING"], "MOVING_RIGHT"],
    [["ERROR", "INIT"], "INIT"],
    [["INIT", "UNKNOWN", "ERROR"], "UNKNOWN"],
    [["ON", "ACQUIRING"], "ACQUIRING"],
    [["INTERLOCK_OK", "ON"], "ON"],
    [["ON"], "ON"],
  ];
  for (const [states, expected] of cases) {
    test(`${states.join(" + ")} -> ${expected}`, () => assert.equal(mostSignificantState(states), expected));
  }

  test("ties go to the later state in the list (Karabo's C++ rule); unlisted states rank lowest", () => {
    assert.equal(mostSignificantState(["ON", "STARTED"]), "STARTED");
    assert.equal(mostSignificantState(["STARTED", "ON"]), "ON");
    assert.equal(mostSignificantState(["NORMAL", "KNOWN"]), "KNOWN");
    assert.equal(mostSignificantState(["KNOWN", "DISABLED"]), "DISABLED");
  });

  test("staticMoreSignificant / changingMoreSignificant flip their pairs", () => {
    assert.equal(mostSignificantState(["ON", "OFF"], { staticMoreSignificant: "ACTIVE" }), "ON");
    assert.equal(mostSignificantState(["OFF", "ON"], { staticMoreSignificant: "PASSIVE" }), "OFF");
    assert.equal(
      mostSignificantState(["MOVING_LEFT", "MOVING_RIGHT"], { changingMoreSignificant: "INCREASING" }),
      "MOVING_RIGHT",
    );
  });

  test("a custom trump list ranks sub-states as their nearest listed ancestor", () => {
    const opts = { trumpList: ["ERROR", "MOVING"] as State[] };
    assert.equal(mostSignificantState(["MOVING", "ERROR"], opts), "MOVING");
    assert.equal(mostSignificantState(["ERROR", "ON"], opts), "ERROR", "ON is unlisted: lowest");
  });

  test("custom lists are completed below CHANGING, STATIC and KNOWN as Karabo does", () => {
    assert.deepEqual(trumpList({ trumpList: ["CHANGING", "ERROR"] }), [
      "INCREASING",
      "DECREASING",
      "CHANGING",
      "ERROR",
    ]);
    assert.deepEqual(trumpList({ trumpList: ["STATIC"], staticMoreSignificant: "ACTIVE" }), [
      "PASSIVE",
      "ACTIVE",
      "STATIC",
    ]);
    assert.deepEqual(trumpList({ trumpList: ["STATIC", "ACTIVE"] }), ["PASSIVE", "STATIC", "ACTIVE"]);
    assert.deepEqual(trumpList({ trumpList: ["KNOWN", "UNKNOWN"] }), [
      "DISABLED",
      "ACTIVE",
      "PASSIVE",
      "STATIC",
      "INCREASING",
      "DECREASING",
      "PAUSED",
      "RUNNING",
      "CHANGING",
      "INTERLOCKED",
      "ERROR",
      "KNOWN",
      "UNKNOWN",
    ]);
    assert.deepEqual(trumpList(), [
      "DISABLED",
      "STATIC",
      "ACTIVE",
      "PASSIVE",
      "RUNNING",
      "PAUSED",
      "CHANGING",
      "INCREASING",
      "DECREASING",
      "INTERLOCKED",
      "ERROR",
      "INIT",
      "UNKNOWN",
    ]);
  });

  test("bad input is refused", () => {
    const badOption = (e: unknown) => e instanceof SaseError && e.code === "BAD_OPTION";
    assert.throws(() => mostSignificantState([]), badOption);
    assert.throws(() => mostSignificantState(["ON", "BROKEN" as State]), /"BROKEN" is not a Karabo state/);
    assert.throws(
      () => trumpList({ trumpList: ["NOPE" as State] }),
      (e: unknown) => badOption(e) && (e as SaseError).details.value === '"NOPE"',
    );
  });
});

describe("stateColor", () => {
  const colours: [State, string][] = [
    ["UNKNOWN", "#FFAA00"],
    ["INIT", "#E6E6AA"],
    ["KNOWN", "#C8C8C8"],
    ["NORMAL", "#C8C8C8"],
    ["DISABLED", "#FF00FF"],
    ["PAUSED", "#FF00FF"],
    ["INTERLOCKED", "#FF00FF"],
    ["ERROR", "#FF0000"],
    ["STATIC", "#00AA00"],
    ["INTERLOCK_OK", "#00AA00"],
    ["ON", "#78FF00"],
    ["OPENED", "#78FF00"],
    ["OFF", "#CCCCFF"],
    ["CLOSED", "#CCCCFF"],
    ["ACQUIRING", "#99CCFF"],
    ["RUNNING", "#99CCFF"],
    ["MOVING", "#00AAFF"],
    ["MOVING_LEFT", "#00AAFF"],
    ["HEATING", "#00AAFF"],
  ];
  for (const [state, colour] of colours) {
    test(`${state} is ${colour}`, () => assert.equal(stateColor(state), colour));
  }
  test("stateFamily names the coloured ancestor", () => {
    assert.equal(stateFamily("MOVING_LEFT"), "CHANGING");
    assert.equal(stateFamily("ON"), "ACTIVE");
    assert.equal(stateFamily("INTERLOCK_BROKEN"), "DISABLED");
    assert.equal(stateFamily("NORMAL"), "NORMAL");
    assert.equal(stateFamily("UNKNOWN"), "UNKNOWN");
  });
  test("every state has a CSS hex colour", () => {
    for (const s of STATES) assert.match(stateColor(s), /^#[0-9A-F]{6}$/);
  });
});
