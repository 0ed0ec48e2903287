// `sase server` loads its device classes on first use; the table's keys are what it lists and what
// Karabo's client starts by, so each loader must give the class of that id.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SERVER_CLASSES } from "../../src/cli/server.ts";

describe("sase server's class table", () => {
  it("gives, for every class id, the class of that id", async () => {
    for (const [classId, load] of Object.entries(SERVER_CLASSES)) {
      const cls = await load();
      assert.equal(cls.classId, classId);
    }
  });
});
