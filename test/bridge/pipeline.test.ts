// A bridge server fed straight from a pipeline input (`server.serve(pipelineTrains(input))`): tokens
// of two outputs for one train become one bridge train, and the server's feed ends with the stream.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BridgeClient, BridgeServer, pipelineTrains, trainIdOf } from "../../src/bridge/index.ts";
import { isNDArray, ndarray } from "../../src/core/index.ts";
import { ChannelRegistry, InputChannel, OutputChannel } from "../../src/pipeline/index.ts";
import { within } from "./helpers.ts";

test("pipeline tokens of two sources become one bridge train per train ID", async () => {
  const registry = new ChannelRegistry();
  const a = new OutputChannel("TEST/DET/A:output", undefined, { registry });
  const b = new OutputChannel("TEST/DET/B:output", undefined, { registry });
  const input = new InputChannel(
    "TEST/BRIDGE/1:input",
    { connectedOutputChannels: [a.id, b.id], onSlowness: "wait" },
    { registry },
  ).connect();
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block" });
  const client = new BridgeClient(await server.start(), { timeoutMs: 10_000 });
  try {
    await input.waitConnected();
    const serving = server.serve(pipelineTrains(input, { sources: [a.id, b.id] }));
    for (let tid = 1; tid <= 3; tid++) {
      await a.write(
        { trainId: tid, image: { data: ndarray(new Uint16Array(6).fill(tid), [2, 3]) } },
        { trainId: tid },
      );
      await b.write({ trainId: tid, value: tid * 1.5 }, { trainId: tid });
    }
    await a.endOfStream();
    await b.endOfStream();
    for (let tid = 1; tid <= 3; tid++) {
      const train = await within(10_000, "train", client.next());
      assert.equal(trainIdOf(train), tid);
      assert.deepEqual(Object.keys(train.data).sort(), [a.id, b.id]);
      const image = train.data[a.id]?.["image.data"];
      assert.ok(isNDArray(image));
      assert.deepEqual([...image.data], new Array(6).fill(tid));
      assert.equal(train.data[b.id]?.value, tid * 1.5);
      assert.equal(train.metadata[b.id]?.["timestamp.tid"], tid);
    }
    await within(10_000, "serve() ends with the stream", serving);
  } finally {
    client.close();
    await server.close();
    await input.close();
    await a.close();
    await b.close();
  }
});
