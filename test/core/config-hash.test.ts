import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  changesToHash,
  configurationToHash,
  decodeHash,
  el,
  encodeHashToBytes,
  Schema,
  timestampNow,
  timestampOfNode,
} from "../../src/core/index.ts";

const schema = new Schema({
  position: el.double({ default: 0 }),
  frames: el.uint32({ default: 0 }),
  trainId: el.uint64({ default: 0n }),
  roi: el.vector("int32", { default: [] }),
  runs: el.table({ run: el.uint32({ default: 0 }) }, { default: [] }),
  hw: el.node({ port: el.int32({ default: 1 }) }),
});

describe("configurations as Hashes", () => {
  it("types values from the schema, not from the JS value", () => {
    const ts = timestampNow(4242);
    const h = configurationToHash(
      schema,
      { position: 0, frames: 3, trainId: 10n, roi: [1, 2], runs: [{ run: 7 }], "hw.port": 8080 },
      { position: ts },
    );
    assert.equal(h.typeOf("position"), "DOUBLE", "0 is a double here, not an INT32");
    assert.equal(h.typeOf("frames"), "UINT32");
    assert.equal(h.typeOf("trainId"), "UINT64");
    assert.equal(h.typeOf("roi"), "VECTOR_INT32");
    assert.equal(h.typeOf("runs"), "VECTOR_HASH");
    assert.equal(h.get("hw.port"), 8080);
    const back = decodeHash(encodeHashToBytes(h));
    assert.deepEqual(timestampOfNode(back, "position"), ts);
    assert.equal(timestampOfNode(back, "frames"), undefined);
  });

  it("turns a batch of changes into one stamped Hash", () => {
    const ts = timestampNow(99);
    const h = changesToHash(schema, [
      { deviceId: "D", key: "position", value: 1.5, timestamp: ts },
      { deviceId: "D", key: "frames", value: 2, timestamp: ts },
    ]);
    assert.deepEqual(h.keys(), ["position", "frames"]);
    assert.equal(timestampOfNode(h, "frames")?.trainId, 99);
  });
});
