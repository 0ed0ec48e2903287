// Token memory handed back with InputChannel.release is where later tokens are received over TCP.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Hash, type NDArray, ndarray } from "../../src/core/index.ts";
import { ChannelRegistry, InputChannel, OutputChannel } from "../../src/pipeline/index.ts";

const image = (i: number) =>
  new Hash({ trainId: i, image: { data: ndarray(new Uint16Array(32_768).fill(i), [8, 4096]) } });

test("a released token's memory receives a later token over TCP; a token kept is left alone", async () => {
  const out = new OutputChannel("TEST/SRC/rel:output", undefined, { registry: null });
  const address = await out.listen();
  const inp = new InputChannel(
    "TEST/SINK/rel:input",
    { connectedOutputChannels: [`TEST/SRC/rel:output@${address}`], onSlowness: "wait", prefetch: 1 },
    { registry: new ChannelRegistry() },
  ).connect();
  try {
    await inp.waitConnected(10_000);
    const tokens = inp[Symbol.asyncIterator]();
    const arrayOf = async () => {
      const r = await tokens.next();
      assert.ok(!r.done);
      return { token: r.value, data: r.value.data.get<NDArray>("image.data").data as Uint16Array };
    };
    void out.write(image(1));
    const first = await arrayOf();
    assert.equal(first.data[32_767], 1);
    inp.release(first.token);
    void out.write(image(2));
    const second = await arrayOf();
    assert.equal(second.data.buffer, first.data.buffer, "the released memory was read into again");
    assert.ok(second.data.every((v) => v === 2));
    // Not released: the next token gets memory of its own, and this one keeps its values.
    void out.write(image(3));
    const third = await arrayOf();
    assert.notEqual(third.data.buffer, second.data.buffer);
    assert.ok(third.data.every((v) => v === 3));
    assert.ok(second.data.every((v) => v === 2));
  } finally {
    await inp.close();
    await out.close();
  }
});
