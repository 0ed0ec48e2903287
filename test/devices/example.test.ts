import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger, State } from "../../src/core/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { Shutter } from "../../examples/shutter.ts";

describe("the new-device example (examples/shutter.ts)", () => {
  it("runs in a facility: opens after its opening time, counts cycles, closes", async () => {
    const facility = await Facility.start({ log: createLogger("t", () => {}) });
    const c = facility.client;
    await facility.addDevice(Shutter, "T/SHUTTER/1", { openingTime: 20 });
    await c.execute("T/SHUTTER/1", "open");
    assert.equal(await c.get("T/SHUTTER/1", "state"), State.OPENING);
    await c.waitFor("T/SHUTTER/1", "state", (s) => s === State.OPENED, 2000);
    assert.equal(await c.get("T/SHUTTER/1", "cycles"), 1);
    await assert.rejects(
      c.set("T/SHUTTER/1", "openingTime", 10),
      /may be set only in CLOSED; device is OPENED/,
    );
    await c.execute("T/SHUTTER/1", "close");
    assert.equal(await c.get("T/SHUTTER/1", "state"), State.CLOSED);
    await facility.stop();
  });
});
