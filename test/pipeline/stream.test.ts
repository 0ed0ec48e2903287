// End of stream, iteration, zero-copy hand-over, schema refusal and the stall alarm, in one process.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Hash, type NDArray, ndarray } from "../../src/core/index.ts";
import { type DataToken, InputChannel, OutputChannel, PipelineError } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";
import { collect, Rig, sleep, smallData } from "./helpers.ts";

test("in one process the input receives the very buffer written (zero copy)", async () => {
  const rig = new Rig();
  const inp = rig.input("a");
  await inp.waitConnected();
  const pixels = new Uint16Array(64 * 1024);
  const data = new Hash({ image: { data: ndarray(pixels, [64, 1024]) } });
  let seen: DataToken | undefined;
  inp.onData((t) => {
    seen = t;
  });
  await rig.output.write(data, { trainId: 42 });
  await until(() => seen !== undefined, "token");
  const got = seen!.data.get<NDArray>("image.data");
  assert.equal(got.data.buffer, pixels.buffer);
  assert.equal(seen!.data, data);
  assert.equal(seen!.meta.timestamp.trainId, 42);
  assert.equal(seen!.meta.source, rig.output.id);
  await rig.close();
});

test("for await reads one stream and ends at its end; the next loop reads the next stream", async () => {
  const rig = new Rig();
  const inp = rig.input("a", { onSlowness: "wait" });
  await inp.waitConnected();
  let eos = 0;
  inp.onEndOfStream(() => {
    eos++;
  });
  const producer = (async () => {
    for (let i = 1; i <= 5; i++) await rig.output.write(smallData(i));
    await rig.output.endOfStream();
    for (let i = 6; i <= 8; i++) await rig.output.write(smallData(i));
    await rig.output.endOfStream();
  })();
  const first: number[] = [];
  for await (const t of inp) first.push(t.data.get<number>("trainId"));
  const second: number[] = [];
  for await (const t of inp) second.push(t.data.get<number>("trainId"));
  await producer;
  assert.deepEqual(first, [1, 2, 3, 4, 5]);
  assert.deepEqual(second, [6, 7, 8]);
  assert.equal(eos, 2);
  assert.equal(inp.stats().endOfStreams, 2);
  await rig.close();
});

test("fan-in: end of stream fires once, after every connected output ended", async () => {
  const rig = new Rig({}, "TEST/SRC/A:output");
  const second = new OutputChannel("TEST/SRC/B:output", undefined, { registry: rig.registry });
  const inp = new InputChannel(
    "TEST/SINK/x:input",
    { connectedOutputChannels: [rig.output.id, second.id], onSlowness: "wait" },
    { registry: rig.registry },
  ).connect();
  await inp.waitConnected();
  const got = collect(inp);
  await rig.output.write(smallData(1));
  await second.write(smallData(2));
  await rig.output.endOfStream();
  await sleep(30);
  assert.equal(got.eos, 0, "end of stream fired before the second output ended");
  await second.write(smallData(3));
  await second.endOfStream();
  await until(() => got.eos === 1, "end of stream");
  assert.deepEqual(got.trains, [1, 2, 3]);
  await inp.close();
  await second.close();
  await rig.close();
});

test("fan-in: if the last output that had not ended goes away, the end of stream fires", async () => {
  const rig = new Rig({}, "TEST/SRC/A:output");
  const second = new OutputChannel("TEST/SRC/B:output", undefined, { registry: rig.registry });
  const inp = new InputChannel(
    "TEST/SINK/x:input",
    { connectedOutputChannels: [rig.output.id, second.id] },
    { registry: rig.registry },
  ).connect();
  await inp.waitConnected();
  const got = collect(inp);
  await second.write(smallData(1));
  await rig.output.endOfStream();
  await second.close();
  await until(() => got.eos === 1, "end of stream after the other output closed");
  assert.deepEqual(inp.stats().missingConnections, [second.id]);
  await inp.close();
  await rig.close();
});

test("end of stream is never dropped, even behind a full queue of a slow input", async () => {
  const rig = new Rig();
  const inp = rig.input("a", { onSlowness: "drop", prefetch: 1 });
  await inp.waitConnected();
  const got = collect(inp, 20);
  for (let i = 1; i <= 10; i++) await rig.output.write(smallData(i));
  await rig.output.endOfStream();
  await until(() => got.eos === 1, "end of stream");
  await rig.close();
});

test("a token that does not match the declared data schema is refused at the sender, naming the key", async () => {
  const out = new OutputChannel(
    "TEST/DET/1:output",
    { trainId: { type: "UINT64" }, "image.data": { type: "NDARRAY", dtype: "uint16", shape: [null, 4, 8] } },
    { registry: null },
  );
  await out.write({ trainId: 1, image: { data: ndarray(new Uint16Array(64), [2, 4, 8]) } });
  const bad = [
    [
      { trainId: 1, image: { data: ndarray(new Float32Array(64), [2, 4, 8]) } },
      /image\.data.*dtype uint16, has float32/,
    ],
    [
      { trainId: 1, image: { data: ndarray(new Uint16Array(64), [2, 8, 4]) } },
      /shape \[\*, 4, 8\], has \[2, 8, 4\]/,
    ],
    [{ image: { data: ndarray(new Uint16Array(32), [1, 4, 8]) } }, /"trainId" \(UINT64\) is missing/],
    [
      { trainId: "x", image: { data: ndarray(new Uint16Array(32), [1, 4, 8]) } },
      /"trainId" should be UINT64, is STRING/,
    ],
    [
      { trainId: 1, extra: 3, image: { data: ndarray(new Uint16Array(32), [1, 4, 8]) } },
      /"extra" is not in the data schema/,
    ],
  ] as const;
  for (const [data, message] of bad) {
    await assert.rejects(out.write(data as Record<string, unknown>), (e: unknown) => {
      assert.ok(e instanceof PipelineError);
      assert.equal(e.code, "SCHEMA_MISMATCH");
      assert.match(e.message, /TEST\/DET\/1:output/);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.match(out.stats().lastError, /extra/);
  await out.close();
});

test("a stalled input raises an alarm within its stall timeout, and clears it at end of stream", async () => {
  const rig = new Rig();
  const inp = rig.input("a", { stallTimeoutMs: 200 });
  await inp.waitConnected();
  collect(inp);
  const seen: string[] = [];
  inp.onHealth((s) => {
    if (seen.at(-1) !== s.health) seen.push(s.health);
  });
  await rig.output.write(smallData(1));
  await until(() => inp.stats().health === "receiving", "receiving");
  const t0 = performance.now();
  await until(() => inp.stats().alarm === "alarm", "alarm", 1000);
  const dt = performance.now() - t0;
  assert.equal(inp.stats().health, "stalled");
  assert.ok(dt >= 150 && dt < 600, `alarm after ${dt.toFixed(0)} ms`);
  await until(() => seen.includes("stalled"), "stalled reported through onHealth");
  await rig.output.endOfStream();
  await until(() => inp.stats().health === "idle", "idle after end of stream");
  assert.equal(inp.stats().alarm, "none");
  await rig.close();
});

test("an input whose output is missing reports it as disconnected and connects once it appears", async () => {
  const rig = new Rig({}, "TEST/SRC/A:output");
  const inp = new InputChannel(
    "TEST/SINK/x:input",
    { connectedOutputChannels: ["TEST/LATE/1:output"], stallTimeoutMs: 100, reconnectIntervalMs: 50 },
    { registry: rig.registry },
  ).connect();
  await until(() => inp.stats().health === "disconnected", "disconnected");
  assert.match(inp.stats().lastError, /TEST\/LATE\/1:output not found/);
  const late = new OutputChannel("TEST/LATE/1:output", undefined, { registry: rig.registry });
  await inp.waitConnected(1000);
  assert.equal(inp.stats().alarm, "none");
  assert.equal(inp.stats().connections[0].memoryLocation, "local");
  await inp.close();
  await late.close();
  await rig.close();
});

test("bad options and channel ids are refused with a clear error", () => {
  assert.throws(() => new InputChannel("no-colon", {}), /deviceId:channelName/);
  assert.throws(
    () => new InputChannel("A/B/C:in", { onSlowness: "throw" as "drop" }),
    /onSlowness "throw" is not one of/,
  );
  assert.throws(
    () => new InputChannel("A/B/C:in", { maxQueueLength: 0 }),
    /maxQueueLength must be an integer >= 1/,
  );
  assert.throws(
    () => new InputChannel("A/B/C:in", { connectedOutputChannels: ["tcp://host"] }),
    /tcp:\/\/host:port/,
  );
  const reg = new Rig().registry;
  const a = new OutputChannel("A/B/C:out", undefined, { registry: reg });
  assert.throws(() => new OutputChannel("A/B/C:out", undefined, { registry: reg }), /already exists/);
  void a.close();
});

test("delayOnInput with drop limits the rate an input takes, dropping the rest (counted)", async () => {
  const rig = new Rig();
  const inp = rig.input("a", { onSlowness: "drop", delayOnInput: 50, prefetch: 1 });
  await inp.waitConnected();
  const got = collect(inp);
  let written = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 300) {
    await rig.output.write(smallData(++written));
    await sleep(5);
  }
  await rig.output.endOfStream();
  await until(() => got.eos === 1, "end of stream");
  assert.ok(got.trains.length >= 3 && got.trains.length <= 10, `took ${got.trains.length} of ${written}`);
  await until(() => inp.stats().dropped === written - got.trains.length, "drops counted");
  await rig.close();
});

test("handlers never run inside the sender's write()", async () => {
  const rig = new Rig();
  const inp = rig.input("a");
  await inp.waitConnected();
  let insideWrite = false;
  let ranInside = false;
  let handled = 0;
  inp.onData(() => {
    handled++;
    if (insideWrite) ranInside = true;
  });
  for (let i = 1; i <= 3; i++) {
    insideWrite = true;
    const p = rig.output.write(smallData(i));
    insideWrite = false;
    await p;
  }
  await until(() => handled === 3, "tokens handled");
  assert.equal(ranInside, false);
  await rig.close();
});
