// `sase start`'s composition: one ordered list, started in that order on a real facility.
import assert from "node:assert/strict";
import { test } from "node:test";
import { composeFacility, FACILITY_PARTS } from "../../src/cli/facility.ts";
import { createLogger } from "../../src/core/index.ts";

test("the DAQ (and its stand-in detector) starts before the GUI and the live bridge that look for it", () => {
  const names = FACILITY_PARTS.map((p) => p.name);
  const daq = names.indexOf("run control + DAQ");
  assert.ok(daq >= 0, names.join(", "));
  assert.ok(daq < names.indexOf("web GUI") && daq < names.indexOf("live Karabo bridge"), names.join(", "));
});

test("composeFacility adds the parts one after the other, in the order given", async () => {
  const started: string[] = [];
  const part = (name: string) => ({
    name,
    add: async () => {
      await new Promise((r) => setTimeout(r, name === "first" ? 20 : 0));
      started.push(name);
    },
  });
  const facility = await composeFacility(
    10,
    createLogger("test", () => {}),
    [part("first"), part("second")],
  );
  try {
    assert.deepEqual(started, ["first", "second"]);
    assert.ok((await facility.client.topology()).devices.size >= 3, "the standard facility runs too");
  } finally {
    await facility.stop();
  }
});
