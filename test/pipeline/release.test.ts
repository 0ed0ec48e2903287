// Token memory handed back with InputChannel.release is where later tokens are received over TCP.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Hash, type NDArray, ndarray } from "../../src/core/index.ts";
import { ChannelRegistry, InputChannel, OutputChannel } from "../../src/pipeline/index.ts";
import { withTcpPair } from "./helpers.ts";

const image = (i: number) =>
  new Hash({ trainId: i, image: { data: ndarray(new Uint16Array(32_768).fill(i), [8, 4096]) } });

test("a released token's memory receives a later token over TCP; a token kept is left alone", async () => {
  await withTcpPair("rel", { onSlowness: "wait", prefetch: 1 }, async (out, inp) => {
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
  });
});

test("in process, release counts this input once as a reader of each offered buffer", async () => {
  const registry = new ChannelRegistry();
  const out = new OutputChannel("TEST/SRC/relLocal:output", undefined, { registry });
  const open = (name: string) =>
    new InputChannel(
      `TEST/SINK/${name}:input`,
      { connectedOutputChannels: ["TEST/SRC/relLocal:output"], onSlowness: "wait" },
      { registry },
    ).connect();
  const a = open("A");
  const b = open("B");
  try {
    await Promise.all([a.waitConnected(10_000), b.waitConnected(10_000)]);
    const frames = new Uint16Array(1024).fill(7);
    const cellId = new Uint16Array(8);
    let framesBack = 0;
    let cellIdBack = 0;
    out.offerToLocalReaders(frames, () => framesBack++);
    out.offerToLocalReaders(cellId, () => cellIdBack++);
    // Two arrays that view one buffer are one offer; the token's other arrays are offers of their own.
    const token = new Hash({
      image: { data: ndarray(frames, [8, 128]), firstFrame: ndarray(frames.subarray(0, 128), [128]), cellId },
    });
    void out.write(token, { trainId: 1 });
    const [ta, tb] = await Promise.all([a[Symbol.asyncIterator]().next(), b[Symbol.asyncIterator]().next()]);
    assert.ok(!ta.done && !tb.done);
    a.release(ta.value);
    a.release(ta.value); // a second release by the same input does not count as the other reader
    assert.equal(framesBack, 0, "given back while input B still reads the frames");
    assert.equal(cellIdBack, 0);
    b.release(tb.value);
    assert.equal(framesBack, 1);
    assert.equal(cellIdBack, 1);
  } finally {
    await a.close();
    await b.close();
    await out.close();
  }
});
