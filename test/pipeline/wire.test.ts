// The TCP framing: messages survive any split into socket reads, and array payloads come out as views of
// one aligned receive buffer (copied once from the socket, never again).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Hash, type NDArray, ndarray } from "../../src/core/index.ts";
import { PipelineError } from "../../src/pipeline/index.ts";
import {
  type ChunkWriter,
  type DataBookkeeping,
  type DataItem,
  dataHeader,
  decodeBody,
  encodeCached,
  encodeDataPrefix,
  FrameReader,
  HEADER_READ_BYTES,
  writeDataFrame,
  writeFrame,
} from "../../src/pipeline/wire.ts";
import { until } from "../helpers/until.ts";
import { Rig } from "./helpers.ts";

/** Collects what writeFrame hands to the connection. */
function sink(): { socket: ChunkWriter; bytes: () => Uint8Array } {
  const parts: Uint8Array[] = [];
  const socket: ChunkWriter = { write: (chunks) => parts.push(...chunks) };
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

test("data headers written directly are byte for byte the general Hash encoder's, and unusual values take the general path", () => {
  const body = (n: number) => encodeCached(new Hash({ image: ndarray(new Uint16Array(n).fill(n), [n]), n }));
  const item = (source: string, sec: number, frac: bigint, trainId: number, size: number): DataItem => ({
    source,
    timestamp: { sec, frac, trainId },
    size,
  });
  const cases: { items: DataItem[]; b: DataBookkeeping; chunks: Uint8Array[] }[] = [
    {
      items: [item("SPB_DET_AGIPD1M-1/DET/0CH0:output", 1_765_000_000, 123_456_789_000_000_000n, 1, 0)],
      b: { seq: 1, dropped: 0, queued: 0, session: "s-1" },
      chunks: body(8),
    },
    {
      // Largest values of each wire type, a non-ASCII source and session.
      items: [item("DÉTECTEUR/Ω:out", Number.MAX_SAFE_INTEGER, (1n << 64n) - 1n, 2 ** 53 - 1, 0xffffffff)],
      b: { seq: Number.MAX_SAFE_INTEGER, dropped: 2 ** 40 + 3, queued: 0xffffffff, session: "sessión" },
      chunks: body(1000),
    },
    {
      // nData > 1: rows and sizes in order.
      items: [item("A/B/C:o", 1, 0n, 10_000_000_001, 17), item("", 2, 5n, 0, 0), item("X:y", 3, 6n, 7, 4096)],
      b: { seq: 42, dropped: 7, queued: 2, session: "" },
      chunks: [...body(3), ...body(700)],
    },
    // No body: no `align` key.
    { items: [item("s:o", 5, 1n, 2, 0)], b: { seq: 9, dropped: 1, queued: 1, session: "s" }, chunks: [] },
  ];
  for (const { items, b, chunks } of cases) {
    for (const it of items)
      if (it.size === 0) Object.assign(it, { size: chunks.reduce((a, c) => a + c.length, 0) });
    const fast = sink();
    writeDataFrame(fast.socket, items, b, chunks);
    const general = sink();
    writeFrame(general.socket, dataHeader(items, b), chunks);
    assert.ok(encodeDataPrefix(items, b, 0, 0), "the direct encoding ran");
    assert.deepEqual(fast.bytes(), general.bytes(), JSON.stringify(items.map((i) => i.source)));
    // And it reads back as the header it stands for.
    let header: Hash | undefined;
    new FrameReader(1 << 20, (h) => {
      header = h;
    }).push(fast.bytes());
    assert.equal(header?.get("nData"), items.length);
    assert.deepEqual(
      [...(header?.get<Uint32Array>("byteSizes") ?? [])],
      items.map((i) => i.size),
    );
  }
  // Values outside their wire types: the general path runs and fails as it always did.
  const unusual: [DataItem[], DataBookkeeping][] = [
    [[item("a", 1.5, 0n, 1, 8)], { seq: 1, dropped: 0, queued: 0, session: "s" }],
    [[item("a", 1, 1n << 64n, 1, 8)], { seq: 1, dropped: 0, queued: 0, session: "s" }],
    [[item("a", 1, -1n, 1, 8)], { seq: 1, dropped: 0, queued: 0, session: "s" }],
    [[item("a", 1, 0n, -1, 8)], { seq: 1, dropped: 0, queued: 0, session: "s" }],
    [[item("a", 1, 0n, 1, 2 ** 32)], { seq: 1, dropped: 0, queued: 0, session: "s" }],
    [[item("a", 1, 0n, 1, 8)], { seq: -1, dropped: 0, queued: 0, session: "s" }],
    [[item("a", 1, 0n, 1, 8)], { seq: 1, dropped: 0, queued: 2 ** 32, session: "s" }],
  ];
  for (const [items, b] of unusual) {
    assert.equal(encodeDataPrefix(items, b, 0, 8), undefined);
    const fast = sink();
    const general = sink();
    const run = (f: () => void): unknown => {
      try {
        f();
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    };
    const a = run(() => writeDataFrame(fast.socket, items, b, [new Uint8Array(8)]));
    const g = run(() => writeFrame(general.socket, dataHeader(items, b), [new Uint8Array(8)]));
    assert.deepEqual(a, g);
    assert.deepEqual(fast.bytes(), general.bytes());
  }
  // Values the general path encodes that the direct one leaves to it: 2^53 and above, no items (an empty
  // `sourceInfo` the general encoder types as VECTOR_STRING).
  const b: DataBookkeeping = { seq: 1, dropped: 0, queued: 0, session: "s" };
  for (const items of [[item("a", 2 ** 53, 0n, 1, 8)], []]) {
    assert.equal(encodeDataPrefix(items, b, 0, 8), undefined);
    const fast = sink();
    writeDataFrame(fast.socket, items, b, [new Uint8Array(8)]);
    const general = sink();
    writeFrame(general.socket, dataHeader(items, b), [new Uint8Array(8)]);
    assert.deepEqual(fast.bytes(), general.bytes());
  }
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
