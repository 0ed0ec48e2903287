// Bad input gets a clear error naming what was wrong, and a server keeps serving other clients.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as zmq from "zeromq";
import {
  BridgeClient,
  BridgeProtocolError,
  BridgeServer,
  decodeTrain,
  encodeMsgpack,
  encodeTrain,
  parseProtocolVersion,
  trainIdOf,
} from "../../src/bridge/index.ts";
import { sampleTrain, within } from "./helpers.ts";

const header = (h: Record<string, unknown>) => encodeMsgpack(h as never);
const src = "SRC/A/B";

function rejects(frames: Uint8Array[], pattern: RegExp): void {
  assert.throws(
    () => decodeTrain(frames),
    (err: unknown) => err instanceof BridgeProtocolError && pattern.test(err.message),
  );
}

test("malformed msgpack is reported with the frame and byte where it breaks", () => {
  rejects(
    [new Uint8Array([0xc1]), new Uint8Array([0x80])],
    /frame 0 \(header\).*invalid type byte 0xc1 at byte 0/,
  );
  rejects(
    [new Uint8Array([0x81, 0xa1, 0x61, 0xc1])],
    /protocol 1.0 message.*invalid type byte 0xc1 at byte 3/,
  );
  rejects(
    [header({ source: src, content: "msgpack" }), new Uint8Array([0x81, 0xa1])],
    /frame 1 \(data of SRC\/A\/B\).*truncated/,
  );
  rejects([new Uint8Array([0x80, 0x00])], /unexpected bytes after the value/);
  rejects([new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])], /truncated/);
});

test("truncated frames: a cut header, a short array payload, a missing payload", () => {
  const frames = encodeTrain(sampleTrain(1), "2.2");
  const cut = frames.map((f) => f);
  cut[0] = (frames[0] as Uint8Array).subarray(0, 20);
  rejects(cut, /frame 0 \(header\).*truncated at byte/);
  const arrayAt = frames.findIndex(
    (f, i) => i % 2 === 0 && /"?array/.test(Buffer.from(f).toString("latin1")),
  );
  const short = frames.map((f) => f);
  short[arrayAt + 1] = (frames[arrayAt + 1] as Uint8Array).subarray(0, 10);
  rejects(short, /array frame has 10 bytes, .* needs \d+ \(truncated frame\?\)/);
  rejects(frames.slice(0, -1), /has \d+ frames; protocol 2.2 needs header\/payload pairs/);
  rejects([], /empty bridge message/);
});

test("headers that break the protocol are named", () => {
  const ok = new Uint8Array([0x80]);
  rejects([header({ content: "msgpack" }), ok], /no "source" name/);
  rejects([header({ source: src, content: "pickle" }), ok], /unknown content "pickle"/);
  rejects(
    [header({ source: src, content: "array", path: "a", dtype: "uint8", shape: [1] }), new Uint8Array(1)],
    /before that source's msgpack header/,
  );
  const meta = header({ source: src, content: "msgpack" });
  rejects(
    [
      meta,
      ok,
      header({ source: src, content: "array", path: "a", dtype: "complex128", shape: [1] }),
      new Uint8Array(16),
    ],
    /unsupported array dtype "complex128"/,
  );
  rejects(
    [
      meta,
      ok,
      header({ source: src, content: "array", path: "a", dtype: ">f4", shape: [1] }),
      new Uint8Array(4),
    ],
    /big-endian/,
  );
  rejects(
    [
      meta,
      ok,
      header({ source: src, content: "array", path: "a", dtype: "uint8", shape: [-1] }),
      new Uint8Array(1),
    ],
    /shape must be a list of non-negative integers/,
  );
  rejects([header([1, 2] as never), ok], /header is not a msgpack map/);
});

test("an unknown protocol version is refused with the versions that exist", () => {
  assert.throws(
    () => parseProtocolVersion("3.0"),
    /unknown Karabo bridge protocol version "3.0" \(known: 1.0, 2.2\)/,
  );
  assert.throws(
    () => new BridgeServer({ protocol: "2.1" as never }),
    (e: unknown) => e instanceof BridgeProtocolError && e.code === "BAD_VERSION",
  );
  assert.throws(
    () => encodeTrain(sampleTrain(1), "0.9" as never),
    /unknown Karabo bridge protocol version "0.9"/,
  );
});

test("a client that sends something other than 'next' gets an error; other clients keep getting trains", async () => {
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block" });
  const endpoint = await server.start();
  const rogue = new zmq.Request({ linger: 0, receiveTimeout: 5000 });
  rogue.connect(endpoint);
  const good = new BridgeClient(endpoint, { timeoutMs: 5000 });
  try {
    for (let tid = 1; tid <= 6; tid++) void server.feed(sampleTrain(tid));
    assert.equal(trainIdOf(await good.next()), 1);
    await rogue.send(["please", "send data"]);
    const [reply] = await within(5000, "error reply", rogue.receive());
    assert.match(String(reply), /^Error: bad request "please" \| "send data"/);
    assert.equal(trainIdOf(await good.next()), 2);
    await rogue.send(Buffer.from([0xff, 0x00, 0x01]));
    assert.match(String((await rogue.receive())[0]), /^Error: bad request <3 bytes>/);
    assert.equal(trainIdOf(await good.next()), 3);
    assert.equal(server.stats.badRequests, 2);
  } finally {
    rogue.close();
    good.close();
    await server.close();
  }
});

test("a bad request is answered at once even while other clients wait for data", async () => {
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0" });
  const endpoint = await server.start();
  const waiting = new BridgeClient(endpoint, { timeoutMs: 5000 });
  const rogue = new zmq.Request({ linger: 0, receiveTimeout: 2000 });
  rogue.connect(endpoint);
  try {
    const pending = waiting.next(); // no train queued: this request waits at the server
    await rogue.send("gimme");
    assert.match(String((await rogue.receive())[0]), /^Error: bad request "gimme"/);
    void server.feed(sampleTrain(8));
    assert.equal(trainIdOf(await pending), 8);
  } finally {
    rogue.close();
    waiting.close();
    await server.close();
  }
});

test("the client turns a server's error reply into a BridgeProtocolError", async () => {
  const fake = new zmq.Reply({ linger: 0 });
  await fake.bind("tcp://127.0.0.1:*");
  const client = new BridgeClient(fake.lastEndpoint as string, { timeoutMs: 5000 });
  try {
    const serving = (async () => {
      await fake.receive();
      await fake.send("Error: bad request b'nxt'");
    })();
    await assert.rejects(
      client.next(),
      (e: unknown) =>
        e instanceof BridgeProtocolError && e.code === "SERVER_ERROR" && /bad request/.test(e.message),
    );
    await serving;
  } finally {
    client.close();
    fake.close();
  }
});

test("a client reports a malformed message and reads the next good one", async () => {
  const push = new zmq.Push({ linger: 0 });
  await push.bind("tcp://127.0.0.1:*");
  const client = new BridgeClient(push.lastEndpoint as string, { sock: "PULL", timeoutMs: 5000 });
  try {
    await push.send([Buffer.from([0x81, 0xa6]), Buffer.from([0x80])]);
    await assert.rejects(
      client.next(),
      (e: unknown) => e instanceof BridgeProtocolError && /frame 0 \(header\).*truncated/.test(e.message),
    );
    await push.send(encodeTrain(sampleTrain(9), "2.2"));
    assert.equal(trainIdOf(await client.next()), 9);
  } finally {
    client.close();
    push.close();
  }
});

test("bad options are refused up front", () => {
  assert.throws(
    () => new BridgeClient("tcp://127.0.0.1:1", { sock: "DEALER" as never }),
    /unknown client socket type "DEALER"/,
  );
  assert.throws(() => new BridgeClient("tcp://127.0.0.1:1", { timeoutMs: 0 }), /timeout must be > 0 ms/);
  assert.throws(() => new BridgeClient("nonsense"), /cannot connect to nonsense/);
  assert.throws(() => new BridgeServer({ sock: "ROUTER" as never }), /unknown server socket type "ROUTER"/);
  assert.throws(() => new BridgeServer({ queueSize: 0 }), /queue size must be ≥ 1/);
});

test("binding a port that is taken fails with the endpoint in the message", async () => {
  const a = new BridgeServer({ endpoint: "tcp://127.0.0.1:0" });
  const endpoint = await a.start();
  const b = new BridgeServer({ endpoint });
  try {
    await assert.rejects(b.start(), new RegExp(`cannot bind ${endpoint.replace(/[.]/g, "\\.")}`));
  } finally {
    await b.close();
    await a.close();
  }
});
