// How many requests an input keeps on the wire: two to a sase output (it answered the hello with a
// welcome and counts requests as credits), so the next token is on its way while this one arrives;
// exactly one to an output speaking only Karabo's protocol, which takes one request at a time.

import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import { Hash, SocketWriter } from "../../src/core/index.ts";
import { ChannelRegistry, InputChannel } from "../../src/pipeline/index.ts";
import { encodeCached, FrameReader, optionalString, writeFrame } from "../../src/pipeline/wire.ts";
import { until } from "../helpers/until.ts";
import { smallData, withTcpPair } from "./helpers.ts";

test("an input keeps two requests on the wire to a sase output, before and between tokens", async () => {
  await withTcpPair("req2", { onSlowness: "wait", prefetch: 4 }, async (out, inp) => {
    // The output's credits for the input are the requests it has received and not yet answered.
    const requests = () => out.stats().peers[0]?.credits ?? 0;
    await until(() => requests() === 2, `two requests at the output (it has ${requests()})`, 10_000);
    const tokens = inp[Symbol.asyncIterator]();
    for (let i = 1; i <= 3; i++) {
      await out.write(smallData(i), { trainId: i });
      const r = await tokens.next();
      assert.ok(!r.done);
      await until(() => requests() === 2, `two requests after token ${i} (${requests()})`, 10_000);
    }
    // Never more than two, whatever the input's prefetch.
    assert.equal(requests(), 2);
  });
});

test("an input keeps exactly one request on the wire to an output speaking only Karabo's protocol", async () => {
  // An output as Karabo's middlelayer is on the wire: no welcome, one message per request.
  let requests = 0;
  let answered = 0;
  let mostOutstanding = 0;
  let socket: Socket | undefined;
  const server = createServer((sock) => {
    socket = sock;
    sock.on("error", () => {});
    const reader = new FrameReader(
      1 << 20,
      (message) => {
        const reason = optionalString(message, "reason");
        assert.ok(reason === "hello" || reason === "update", `unexpected request ${reason}`);
        requests++;
        mostOutstanding = Math.max(mostOutstanding, requests - answered);
      },
      false,
    );
    sock.on("data", (chunk) => reader.push(chunk));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const send = (trainId: number) => {
    const chunks = encodeCached(smallData(trainId));
    const row = new Hash({ source: "TEST/KARABO/1:output", timestamp: true });
    row.setAttribute("timestamp", "sec", BigInt(Math.floor(Date.now() / 1000)), "UINT64");
    row.setAttribute("timestamp", "frac", 0n, "UINT64");
    row.setAttribute("timestamp", "tid", BigInt(trainId), "UINT64");
    const h = new Hash({ nData: 1, sourceInfo: [row] });
    h.set("byteSizes", Uint32Array.of(chunks.reduce((n, c) => n + c.byteLength, 0)));
    answered++;
    writeFrame(new SocketWriter(socket!), h, chunks);
  };
  const inp = new InputChannel(
    "TEST/SINK/req1:input",
    { connectedOutputChannels: [`tcp://127.0.0.1:${port}`], onSlowness: "wait", prefetch: 4 },
    { registry: new ChannelRegistry() },
  ).connect();
  try {
    const tokens = inp[Symbol.asyncIterator]();
    // Each token goes out only when asked for, and is taken before the next request is awaited: a
    // second request sent along with any of these would arrive before the next one (TCP keeps order).
    for (let i = 1; i <= 4; i++) {
      await until(() => requests >= i, `request ${i} (${requests} so far)`, 10_000);
      assert.equal(mostOutstanding, 1, `requests on the wire at once, before token ${i}`);
      send(i);
      const r = await tokens.next();
      assert.ok(!r.done);
      assert.equal(r.value.meta.timestamp.trainId, i);
    }
    await until(() => requests >= 5, `request 5 (${requests} so far)`, 10_000);
    const h = new Hash({ endOfStream: true });
    h.set("byteSizes", new Uint32Array(0));
    answered++;
    writeFrame(new SocketWriter(socket!), h);
    // End of stream answers a request and leaves the credit: the input asks again, after everything before.
    await until(() => requests >= 6, `the request after end of stream (${requests} so far)`, 10_000);
    assert.equal(mostOutstanding, 1, "requests on the wire at once");
    assert.equal(requests, 6);
    assert.equal(inp.stats().lastError, "");
  } finally {
    await inp.close();
    server.close();
  }
});
