// Trains of the same sources encoded one after another reuse the last train's msgpack bytes where
// keys and values repeat: every frame must still be byte for byte what a fresh encoding gives.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ndarray } from "../../src/core/index.ts";
import { type BridgeTrain, type SourceData, encodeMsgpack, encodeTrain } from "../../src/bridge/index.ts";
import type { EncodableValue } from "../../src/bridge/msgpack.ts";

const SOURCE = "SA1_CTRL/TEST/REPEATED";

function expectFresh(train: BridgeTrain, what: string): void {
  const frames = encodeTrain(train, "2.2");
  const values = train.data[SOURCE] as SourceData;
  const scalars = Object.fromEntries(Object.entries(values).filter(([k]) => k !== "image")) as EncodableValue;
  const header = { source: SOURCE, content: "msgpack", metadata: train.metadata[SOURCE] };
  assert.deepEqual(
    Buffer.from(frames[0] as Uint8Array),
    Buffer.from(encodeMsgpack(header)),
    `${what}: header`,
  );
  assert.deepEqual(
    Buffer.from(frames[1] as Uint8Array),
    Buffer.from(encodeMsgpack(scalars)),
    `${what}: values`,
  );
}

test("repeated trains encode exactly as fresh ones: changed values, changed lengths, -0, mutated arrays, new keys", () => {
  const list = [1, 2, 3];
  const values: SourceData = {
    a: 1,
    b: "state",
    c: 0.5,
    d: list,
    e: true,
    image: ndarray(new Uint16Array(4), [4]),
  };
  const train = (tid: number): BridgeTrain => ({
    data: { [SOURCE]: values },
    metadata: { [SOURCE]: { source: SOURCE, "timestamp.tid": tid } },
  });
  expectFresh(train(1), "first train");
  expectFresh(train(2), "same values, new train ID");
  values.a = 100_000; // one byte → five
  expectFresh(train(3), "a value whose encoding grows");
  values.c = -0;
  expectFresh(train(4), "0.5 → -0 (a float of the same length)");
  values.c = 0;
  expectFresh(train(5), "-0 → 0 (Object.is tells them apart)");
  list.push(4); // the same array object, changed inside
  expectFresh(train(6), "an array mutated in place");
  values.b = "a much longer state text than before, past 32 bytes";
  values.a = 2;
  expectFresh(train(7), "a longer string and a shorter number in one train");
  values.f = 7;
  expectFresh(train(8), "a key added");
  delete values.a;
  expectFresh(train(9), "a key removed");
  const reordered: SourceData = { f: 7, b: "x", c: 1, d: list, e: false, image: values.image };
  expectFresh(
    { data: { [SOURCE]: reordered }, metadata: train(10).metadata },
    "the same keys in another order",
  );
  expectFresh(train(2 ** 40), "a train ID past 32 bits");
  assert.throws(() =>
    encodeTrain({ data: { [SOURCE]: { ...values, bad: (() => 1) as never } }, metadata: {} }),
  );
  expectFresh(train(11), "after a train that could not be encoded");
  const arraysOnly: SourceData = { image: values.image };
  expectFresh({ data: { [SOURCE]: arraysOnly }, metadata: train(12).metadata }, "a source of arrays only");
  const fresh = "SA1_CTRL/TEST/ARRAYS_ONLY";
  const first = encodeTrain({ data: { [fresh]: arraysOnly }, metadata: {} });
  assert.deepEqual(Buffer.from(first[1] as Uint8Array), Buffer.from([0x80]), "an empty map, first time");
});

test("an array's header frame is sent again only while its dtype and shape stay; a change is encoded afresh", () => {
  const header = (dtype: string, shape: number[]) =>
    Buffer.from(encodeMsgpack({ source: SOURCE, content: "array", path: "image", dtype, shape }));
  const train = (image: ReturnType<typeof ndarray>): BridgeTrain => ({
    data: { [SOURCE]: { image } },
    metadata: { [SOURCE]: { source: SOURCE } },
  });
  const cases: [ReturnType<typeof ndarray>, string, number[]][] = [
    [ndarray(new Uint16Array(6), [2, 3]), "uint16", [2, 3]],
    [ndarray(new Uint16Array(6), [2, 3]), "uint16", [2, 3]],
    [ndarray(new Uint16Array(6), [3, 2]), "uint16", [3, 2]],
    [ndarray(new Uint16Array(6), [6]), "uint16", [6]],
    [ndarray(new Float32Array(6), [6]), "float32", [6]],
    [ndarray(new Float32Array(6), [6]), "float32", [6]],
  ];
  for (const [image, dtype, shape] of cases) {
    const frames = encodeTrain(train(image), "2.2");
    assert.deepEqual(Buffer.from(frames[2] as Uint8Array), header(dtype, shape), `${dtype} ${shape}`);
  }
});
