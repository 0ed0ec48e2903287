// The TCP framing: messages survive any split into socket reads, and array payloads come out as views of
// one aligned receive buffer (copied once from the socket, never again).

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { test } from "node:test";
import { Hash, type NDArray, ndarray } from "../../src/core/index.ts";
import { PipelineError } from "../../src/pipeline/index.ts";
import {
  decodeBody,
  encodeCached,
  FrameReader,
  HEADER_READ_BYTES,
  writeFrame,
} from "../../src/pipeline/wire.ts";
import { Rig, until } from "./helpers.ts";

/** Collects what writeFrame hands to the socket. */
function sink(): { socket: Socket; bytes: () => Uint8Array } {
  const parts: Uint8Array[] = [];
  const socket = { cork() {}, uncork() {}, write: (c: Uint8Array) => parts.push(c) > 0 } as unknown as Socket;
  return { socket, bytes: () => Buffer.concat(parts) };
}

test("frames split at every possible point decode to the same token, arrays as aligned views", () => {
  for (const key of ["a", "ab", "abc", "abcd", "image.data"]) {
    const pixels = new Uint16Array(600).map((_, i) => i * 7);
    const gains = new Float64Array(300).map((_, i) => i / 3);
    const data = new Hash({ [key]: ndarray(pixels, [20, 30]), gain: ndarray(gains, [300]), trainId: 17 });
    const { socket, bytes } = sink();
    writeFrame(socket, new Hash({ reason: "data" }), encodeCached(data));
    const wire = bytes();
    for (const step of [1, 3, 7, 64, 1000, wire.length]) {
      const got: Hash[] = [];
      const reader = new FrameReader(1 << 20, (_h, body) => got.push(decodeBody(body)));
      for (let at = 0; at < wire.length; at += step) reader.push(wire.subarray(at, at + step));
      assert.equal(got.length, 1);
      const image = got[0].get<NDArray>(key);
      assert.deepEqual([...image.data], [...pixels]);
      assert.deepEqual(image.shape, [20, 30]);
      assert.equal(got[0].get("trainId"), 17);
      // The largest array is viewed in place, not copied out of the receive buffer.
      const gain = got[0].get<NDArray>("gain");
      assert.deepEqual([...gain.data], [...gains]);
      assert.equal(gain.data.byteOffset % 8, 0);
      assert.ok(
        gain.data.buffer.byteLength > gains.byteLength,
        "the largest array was copied out of the frame",
      );
    }
  }
});

test("large bodies are read in place: after one, a read for the next header brings little of the body behind it", () => {
  // Three 1 MiB tokens back to back, read as a socket would: each read takes what `readTarget` offers,
  // up to the 300 KiB the socket has queued.
  const { socket, bytes } = sink();
  const tokens = [1, 2, 3].map((k) => new Uint16Array(512 * 1024).fill(k));
  for (const t of tokens)
    writeFrame(socket, new Hash({ nData: 1 }), encodeCached(new Hash({ a: ndarray(t, [t.length]) })));
  const wire = bytes();
  const bodies: Uint8Array[] = [];
  const reader = new FrameReader(1 << 22, (_h, body) => bodies.push(body));
  const reads: { buffer: ArrayBufferLike; n: number }[] = [];
  for (let at = 0; at < wire.length; ) {
    const target = reader.readTarget();
    const n = Math.min(target.byteLength, 300 * 1024, wire.length - at);
    target.set(wire.subarray(at, at + n));
    reader.consumed(target, n);
    reads.push({ buffer: target.buffer, n });
    at += n;
  }
  assert.deepEqual(
    bodies.map((b) => decodeBody(b).get<NDArray>("a").data[0]),
    [1, 2, 3],
  );
  // Bytes that landed outside the bodies were copied again (headers and what came with them): a full
  // scratch read before the first token, at most HEADER_READ_BYTES before each later one.
  const inBodies = new Set(bodies.map((b) => b.buffer));
  const copied = reads.filter((r) => !inBodies.has(r.buffer)).reduce((a, r) => a + r.n, 0);
  assert.ok(copied <= 256 * 1024 + 2 * HEADER_READ_BYTES, `${copied} bytes went through scratch`);
});

test("lengths that cannot be a frame are refused before any allocation", () => {
  const reader = new FrameReader(1024, () => {});
  assert.throws(
    () => reader.push(Buffer.from([0xff, 0xff, 0xff, 0x7f])),
    (e: unknown) => {
      return e instanceof PipelineError && e.code === "PROTOCOL" && /header length/.test(e.message);
    },
  );
  const { socket, bytes } = sink();
  writeFrame(socket, new Hash({ reason: "data" }), [new Uint8Array(2048)]);
  assert.throws(() => new FrameReader(1024, () => {}).push(bytes()), /exceeds the limit of 1024/);
});

test("with the in-process shortcut disabled, inputs of the same process go over TCP and get copies", async () => {
  process.env.SASE_NO_PIPELINE_SHORTCUT = "1";
  try {
    const rig = new Rig();
    await rig.output.listen();
    const inp = rig.input("tcp", { onSlowness: "wait" });
    await inp.waitConnected();
    assert.equal(inp.stats().connections[0].memoryLocation, "remote");
    const pixels = new Uint16Array(1024).fill(3);
    let got: NDArray | undefined;
    inp.onData((t) => {
      got = t.data.get<NDArray>("image");
    });
    await rig.output.write({ image: ndarray(pixels, [32, 32]) });
    await until(() => got !== undefined, "token over TCP");
    assert.notEqual(got!.data.buffer, pixels.buffer);
    assert.deepEqual([...got!.data], [...pixels]);
    await rig.close();
  } finally {
    delete process.env.SASE_NO_PIPELINE_SHORTCUT;
  }
});
