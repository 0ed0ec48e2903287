// Decodes every Karabo bridge wire capture in the shared fixtures (made by EXtra-data's and
// karabo-bridge-py's own servers) and checks it against what karabo-bridge-py decoded from them.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { isNDArray } from "../../src/core/index.ts";
import {
  BridgeClient,
  BridgeServer,
  decodeMsgpack,
  decodeTrain,
  encodeTrain,
} from "../../src/bridge/index.ts";
import { type ExpectedMessage, assertTrainMatches, within } from "./helpers.ts";

const root = new URL("../../../shared/fixtures/bridge/", import.meta.url).pathname;

interface Capture {
  protocol: string;
  messages: string[][];
  expected: ExpectedMessage[];
}

function load(name: string): { index: Capture; frames: Uint8Array[][] } {
  const dir = join(root, name);
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as Capture;
  const frames = index.messages.map((files) => files.map((f) => new Uint8Array(readFileSync(join(dir, f)))));
  return { index, frames };
}

const captures = readdirSync(root).filter((d) => !d.startsWith("."));

test("the fixture folder holds the four captures the README lists", () => {
  assert.deepEqual(captures.sort(), [
    "files_agipd_v2.2",
    "files_xgm_v1.0",
    "files_xgm_v2.2",
    "sim_agipd_module_raw_v2.2",
  ]);
});

for (const name of captures) {
  test(`capture ${name} decodes to what karabo-bridge-py decoded`, () => {
    const { index, frames } = load(name);
    assert.equal(index.messages.length, index.expected.length);
    frames.forEach((message, i) => {
      assert.equal(message.length === 1 ? "1.0" : "2.2", index.protocol, "frame count tells the protocol");
      assertTrainMatches(decodeTrain(message), index.expected[i] as ExpectedMessage, `${name} message ${i}`);
    });
  });

  test(`capture ${name} re-encoded by sase decodes to the same values`, () => {
    const { index, frames } = load(name);
    const version = index.protocol === "1.0" ? "1.0" : "2.2";
    const train = decodeTrain(frames[0] as Uint8Array[]);
    const again = decodeTrain(encodeTrain(train, version));
    assertTrainMatches(again, index.expected[0] as ExpectedMessage, `${name} re-encoded`);
  });
}

test("2.2 re-encoding reproduces the server's headers and array frames byte for byte", () => {
  // Data frames may differ in one way only: JS numbers cannot tell 0.0 from 0, so integral floats
  // go out as msgpack integers (equal values in Python). Everything else must match exactly.
  for (const name of ["files_xgm_v2.2", "files_agipd_v2.2", "sim_agipd_module_raw_v2.2"]) {
    const original = load(name).frames[0] as Uint8Array[];
    const ours = encodeTrain(decodeTrain(original), "2.2");
    assert.equal(ours.length, original.length);
    ours.forEach((f, i) => {
      const isDataFrame = i % 2 === 1 && decodeHeaderContent(original[i - 1] as Uint8Array) === "msgpack";
      if (!isDataFrame)
        assert.ok(
          Buffer.from(f).equals(Buffer.from(original[i] as Uint8Array)),
          `${name} frame ${i} differs`,
        );
    });
  }
});

function decodeHeaderContent(frame: Uint8Array): unknown {
  return (decodeMsgpack(frame) as Record<string, unknown>).content;
}

test("array frames decode as views over the received bytes, not copies", () => {
  const { frames } = load("sim_agipd_module_raw_v2.2");
  const message = frames[0] as Uint8Array[];
  const image = decodeTrain(message).data["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"]?.["image.data"];
  assert.ok(isNDArray(image));
  assert.equal(image.data.buffer, (message[3] as Uint8Array).buffer);
});

test("a sase client receives a capture replayed by a sase server, over a real socket", async () => {
  const { index, frames } = load("files_agipd_v2.2");
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block" });
  const endpoint = await server.start();
  const client = new BridgeClient(endpoint, { timeoutMs: 5000 });
  try {
    for (const message of frames) void server.feed(decodeTrain(message));
    for (let i = 0; i < frames.length; i++) {
      const train = await within(10_000, "receive", client.next());
      assertTrainMatches(train, index.expected[i] as ExpectedMessage, `replayed message ${i}`);
    }
  } finally {
    client.close();
    await server.close();
  }
});
