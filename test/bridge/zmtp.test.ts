// sase's own ZMTP 3.x DEALER client over real TCP sockets: against pyzmq's REP (libzmq), against
// zeromq.js, against a hand-written peer that splits its bytes at every point, against peers that
// are not ZeroMQ or are the wrong socket type, and across a server restart; and the server's own
// ZMTP side refusing such peers.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { type AddressInfo, type Socket, connect, createServer } from "node:net";
import { createInterface } from "node:readline";
import { test } from "node:test";
import * as zmq from "zeromq";
import { BridgeClient, BridgeServer, type BridgeTrain, trainIdOf } from "../../src/bridge/index.ts";
import { ZmtpDealer, command, encodeFrames, greeting } from "../../src/bridge/zmtp.ts";
import { createLogger } from "../../src/core/index.ts";
import { until } from "../helpers/until.ts";
import { sampleTrain, within } from "./helpers.ts";

const NEXT = [new Uint8Array(0), Buffer.from("next")];
const pyServer = new URL("./py/zmtp_rep_server.py", import.meta.url).pathname;

function pattern(i: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let j = 0; j < n; j++) b[j] = (i + j) % 251;
  return b;
}

test("the ZMTP client reads multi-frame replies from a pyzmq REP server, small and large frames alike", async () => {
  const sizes = [0, 1, 255, 256, 40_000, 3_000_000, 7];
  const py = spawn("/usr/bin/python3", [pyServer, "3", ...sizes.map(String)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    createInterface({ input: py.stdout }).once("line", resolve);
    py.once("exit", (code) => reject(new Error(`python server exited (${code})`)));
  });
  const dealer = new ZmtpDealer(endpoint);
  try {
    for (let r = 0; r < 3; r++) {
      dealer.send(NEXT);
      const frames = await dealer.receive(20_000);
      assert.equal(frames.length, sizes.length + 1);
      assert.equal(frames[0]?.length, 0, "REP envelope delimiter");
      for (const [i, n] of sizes.entries()) {
        assert.ok(frames[i + 1]?.equals(pattern(i, n)), `frame ${i} of ${n} bytes`);
      }
      // Typed-array views need aligned frames.
      for (const f of frames) if (f.length >= 8 && f.length < 1000) assert.equal(f.byteOffset % 8, 0);
    }
  } finally {
    dealer.close();
    py.kill();
  }
});

test("the ZMTP client talks to zeromq.js REP and ROUTER sockets, and the bridge client gets trains over it", async () => {
  const rep = new zmq.Reply({ linger: 0 });
  await rep.bind("tcp://127.0.0.1:*");
  const dealer = new ZmtpDealer(rep.lastEndpoint as string);
  try {
    dealer.send([new Uint8Array(0), Buffer.from("hello")]);
    const [req] = await rep.receive();
    assert.equal(req?.toString(), "hello");
    await rep.send([Buffer.from("a"), pattern(3, 100_000)]);
    const frames = await dealer.receive(10_000);
    assert.deepEqual(
      frames.map((f) => f.length),
      [0, 1, 100_000],
    );
    assert.ok(frames[2]?.equals(pattern(3, 100_000)));
  } finally {
    dealer.close();
    rep.close();
  }
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block" });
  const endpoint = await server.start();
  const client = new BridgeClient(endpoint, { timeoutMs: 10_000 });
  try {
    assert.equal(client.transport, "zmtp");
    void server.feed(sampleTrain(5));
    const train = await client.next();
    assert.equal(trainIdOf(train), 5);
  } finally {
    client.close();
    await server.close();
  }
});

// A peer written by hand: the greeting and READY of a ROUTER, then whatever bytes the test wants.
async function handPeer(
  onConnection: (socket: Socket) => void,
): Promise<{ endpoint: string; close: () => void }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `tcp://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function routerHandshake(): Buffer {
  const g = Buffer.alloc(64);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 0;
  g.write("NULL", 12);
  const prop = Buffer.concat([Buffer.from([11]), Buffer.from("Socket-Type"), Buffer.from([0, 0, 0, 6])]);
  const body = Buffer.concat([Buffer.from([5]), Buffer.from("READY"), prop, Buffer.from("ROUTER")]);
  return Buffer.concat([g, Buffer.from([0x04, body.length]), body]);
}

test("the ZMTP client reassembles a message split at every byte, greeting and handshake included", async () => {
  const message = Buffer.concat(
    encodeFrames([new Uint8Array(0), pattern(1, 3), pattern(2, 300), pattern(3, 0), pattern(4, 9)]),
  );
  const large = Buffer.concat(encodeFrames([new Uint8Array(0), pattern(5, 70_000)]));
  const whole = Buffer.concat([routerHandshake(), message]);
  const check = (frames: Buffer[], sizes: number[], first: number) => {
    assert.deepEqual(
      frames.map((f) => f.length),
      [0, ...sizes],
    );
    for (const [i, n] of sizes.entries()) assert.ok(frames[i + 1]?.equals(pattern(first + i, n)));
  };
  // Split points inside the greeting and handshake: one connection each.
  const cut = { at: 0 };
  const peer = await handPeer((s) => {
    const at = cut.at;
    s.write(whole.subarray(0, at));
    setImmediate(() => s.write(whole.subarray(at)));
  });
  try {
    for (cut.at = 1; cut.at < whole.length - message.length + 2; cut.at++) {
      const dealer = new ZmtpDealer(peer.endpoint);
      try {
        dealer.send(NEXT);
        check(await dealer.receive(10_000), [3, 300, 0, 9], 1);
      } finally {
        dealer.close();
      }
    }
  } finally {
    peer.close();
  }
  // Split points inside messages: one connection, one message per point.
  const feeds: ((b: Buffer) => void)[] = [];
  const peer2 = await handPeer((s) => {
    s.write(routerHandshake());
    feeds.push((b) => s.write(b));
  });
  const dealer = new ZmtpDealer(peer2.endpoint);
  try {
    dealer.send(NEXT);
    await until(() => feeds.length === 1, "the peer to have a connection");
    const feed = feeds[0] as (b: Buffer) => void;
    for (let at = 1; at < message.length; at++) {
      feed(message.subarray(0, at));
      setImmediate(() => feed(message.subarray(at)));
      check(await dealer.receive(10_000), [3, 300, 0, 9], 1);
    }
    const points = [1, 2, 5, 9, 10, 11, 12, 100, 32_000, 65_536, large.length - 1];
    for (const at of points) {
      feed(large.subarray(0, at));
      setImmediate(() => feed(large.subarray(at)));
      check(await dealer.receive(10_000), [70_000], 5);
    }
  } finally {
    dealer.close();
    peer2.close();
  }
});

test("the ZMTP client refuses a peer that is not ZeroMQ, or not a REP/ROUTER, in one clear line", async () => {
  const http = await handPeer((s) => s.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
  const dealer = new ZmtpDealer(http.endpoint);
  try {
    await assert.rejects(dealer.receive(10_000), /not a ZeroMQ peer \(its greeting starts with byte 0x48\)/);
    assert.throws(() => dealer.send(NEXT), /not a ZeroMQ peer/);
  } finally {
    dealer.close();
    http.close();
  }
  const old = await handPeer((s) => s.write(Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 1, 0])));
  const dealer2 = new ZmtpDealer(old.endpoint);
  try {
    await assert.rejects(dealer2.receive(10_000), /peer speaks ZMTP 1\.x; ZMTP 3\.0 or later is needed/);
  } finally {
    dealer2.close();
    old.close();
  }
  const pub = new zmq.Publisher({ linger: 0 });
  await pub.bind("tcp://127.0.0.1:*");
  const client = new BridgeClient(pub.lastEndpoint as string, { timeoutMs: 10_000 });
  try {
    await assert.rejects(client.next(), /peer is a PUB socket; a REQ client needs REP or ROUTER/);
  } finally {
    client.close();
    pub.close();
  }
});

test("the bridge client over ZMTP carries on when its server restarts, asking again for what was lost", async () => {
  const first = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block" });
  const endpoint = await first.start();
  const client = new BridgeClient(endpoint, { timeoutMs: 20_000, requestsInFlight: 1 });
  try {
    void first.feed(sampleTrain(1));
    assert.equal(trainIdOf(await client.next()), 1);
    const waiting = client.next(); // its request reaches the first server, which then goes away
    await until(() => first.stats.clients === 1, "the first server to see the client");
    await first.close();
    const second = new BridgeServer({ endpoint, dropPolicy: "block" });
    await second.start();
    try {
      void second.feed(sampleTrain(2));
      // No timeout is needed: the lost request is sent again on the new connection.
      assert.equal(trainIdOf(await waiting), 2);
      assert.equal(client.stats.timeouts, 0);
    } finally {
      await second.close();
    }
  } finally {
    client.close();
  }
});

test("a released train's array memory is reused for the next train of the same shape", async () => {
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block" });
  const endpoint = await server.start();
  const client = new BridgeClient(endpoint, { timeoutMs: 10_000, requestsInFlight: 1 });
  // Sixteen arrays of one shape, as a 16-module detector's train has.
  const MODULES = 16;
  try {
    const big = (tid: number) => {
      const t = sampleTrain(tid);
      const src = Object.keys(t.data)[0] as string;
      for (let m = 0; m < MODULES; m++) {
        (t.data[src] as Record<string, unknown>)[`big${m}`] = {
          dtype: "uint16",
          shape: [64, 1000],
          data: new Uint16Array(64_000).fill(tid * 100 + m),
        };
      }
      return { t, src };
    };
    const arrays = (train: BridgeTrain, src: string) =>
      Array.from(
        { length: MODULES },
        (_, m) => (train.data[src]?.[`big${m}`] as { data: Uint16Array })?.data,
      );
    const a = big(1);
    void server.feed(a.t);
    const first = await client.next();
    const before = arrays(first, a.src);
    assert.equal(before[15]?.[63_999], 115);
    const memory = new Set(before.map((x) => x?.buffer));
    client.release(first);
    void server.feed(big(2).t);
    const after = arrays(await client.next(), a.src);
    assert.ok(
      after.every((x) => memory.has(x?.buffer)),
      "every released array's memory was reused",
    );
    assert.ok(after.every((x, m) => x?.every((v) => v === 200 + m)));
  } finally {
    client.close();
    await server.close();
  }
});

test("the bridge server's ZMTP side refuses peers that are not ZeroMQ or not REQ/DEALER, and keeps serving", async () => {
  const warnings: string[] = [];
  const logger = createLogger("bridge-server", (line) => warnings.push(line));
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block", logger });
  const endpoint = await server.start();
  assert.equal(server.transport, "zmtp");
  const { port } = tcpEndpointOf(endpoint);
  const http = connect({ host: "127.0.0.1", port });
  const closed = new Promise((r) => http.once("close", r));
  http.on("error", () => {});
  http.resume(); // (a paused socket never sees the end of its stream)
  http.write("GET / HTTP/1.1\r\n\r\n");
  // A hand-made SUB peer (libzmq's own SUB may drop the connection first, seeing a ROUTER).
  const sub = connect({ host: "127.0.0.1", port });
  sub.on("error", () => {});
  sub.resume();
  sub.write(Buffer.concat([greeting(), command("READY", [["Socket-Type", Buffer.from("SUB")]])]));
  const client = new BridgeClient(endpoint, { timeoutMs: 10_000 });
  try {
    await within(10_000, "the server drops the HTTP peer", closed);
    await until(
      () => warnings.some((w) => /is a SUB socket; a REP server answers REQ or DEALER/.test(w)),
      "the SUB peer to be refused",
    );
    assert.ok(
      warnings.some((w) => /is not a ZeroMQ peer \(bad greeting\)/.test(w)),
      warnings.join("\n"),
    );
    void server.feed(sampleTrain(5));
    assert.equal(trainIdOf(await client.next()), 5);
  } finally {
    client.close();
    sub.destroy();
    http.destroy();
    await server.close();
  }
});

function tcpEndpointOf(endpoint: string): { port: number } {
  return { port: Number(endpoint.split(":").pop()) };
}

// Serves `count` trains of one 6 MB array each (more than the socket takes at once, so each reply is
// written in parts) in a child process; resolves with what a client received, array bytes checked.
async function servedByChild(env: NodeJS.ProcessEnv, count: number): Promise<number[]> {
  const script = `
    import { BridgeServer } from "./src/bridge/index.ts";
    import { directIO } from "./src/core/index.ts";
    import { ndarray } from "./src/core/index.ts";
    const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block", queueSize: 2 });
    console.log(JSON.stringify({ endpoint: await server.start(), directIO }));
    const trains = function* () {
      for (let tid = 1; tid <= ${count}; tid++) {
        const a = new Uint8Array(6_000_000);
        for (let i = 0; i < a.length; i += 997) a[i] = (i + tid) % 251;
        yield { data: { "DET/0:xtdf": { "image.data": ndarray(a, [a.length]) } }, metadata: { "DET/0:xtdf": { "timestamp.tid": tid } } };
      }
    };
    await server.serve(trains());
    await server.drain();
    await server.close({ flushMs: 10_000 });`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((r) => child.on("exit", r));
  const lines = createInterface({ input: child.stdout });
  const [first] = await Promise.race([
    new Promise<string[]>((r) => lines.once("line", (l) => r([l]))),
    exited.then((code) => {
      throw new Error(`server child exited ${code} before printing its endpoint`);
    }),
  ]);
  const { endpoint, directIO } = JSON.parse(first as string) as { endpoint: string; directIO: boolean };
  assert.equal(directIO, env.SASE_SOCKET_IO !== "stream");
  const client = new BridgeClient(endpoint, { timeoutMs: 20_000, requestsInFlight: 2 });
  const tids: number[] = [];
  try {
    for (let n = 0; n < count; n++) {
      const train = await client.next();
      const tid = trainIdOf(train) as number;
      const image = train.data["DET/0:xtdf"]?.["image.data"] as { data: Uint8Array } | undefined;
      assert.ok(image, `train ${tid} has DET/0:xtdf image.data`);
      const a = image.data;
      assert.equal(a.length, 6_000_000);
      for (let i = 0; i < a.length; i++) assert.equal(a[i], i % 997 === 0 ? (i + tid) % 251 : 0);
      tids.push(tid);
    }
  } finally {
    client.close();
  }
  assert.equal(await within(30_000, "the server child to exit", exited), 0);
  return tids;
}

test("the bridge server writes replies to the socket's handle and reads requests into one buffer; through Node's streams (SASE_SOCKET_IO=stream) the same trains arrive", async () => {
  assert.deepEqual(await servedByChild({}, 4), [1, 2, 3, 4]);
  assert.deepEqual(await servedByChild({ SASE_SOCKET_IO: "stream" }, 4), [1, 2, 3, 4]);
});
