// A sase bridge server and client over real ZeroMQ sockets on 127.0.0.1: every socket pairing and
// protocol, the queue's drop policies, stats, timeouts and reconnection.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isNDArray } from "../../src/core/index.ts";
import {
  BridgeClient,
  BridgeServer,
  type BridgeServerOptions,
  BridgeTimeoutError,
  type BridgeTrain,
  CLIENT_SOCKET_FOR,
  type ProtocolVersion,
  type ServerSocketType,
  trainIdOf,
} from "../../src/bridge/index.ts";
import { until } from "../helpers/until.ts";
import { sampleTrain, within } from "./helpers.ts";

const XGM = "SA1_XTD2_XGM/DOOCS/MAIN";
const AGIPD = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf";

async function withServer(
  options: BridgeServerOptions,
  body: (server: BridgeServer, endpoint: string) => Promise<void>,
) {
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", ...options });
  const endpoint = await server.start();
  try {
    await body(server, endpoint);
  } finally {
    await server.close();
  }
}

function assertSameTrain(got: BridgeTrain, sent: BridgeTrain, protocol: ProtocolVersion): void {
  for (const [source, values] of Object.entries(sent.data)) {
    const data = got.data[source];
    assert.ok(data, `source ${source} missing`);
    for (const [key, v] of Object.entries(values)) {
      const g = data[key];
      if (isNDArray(v)) {
        assert.ok(isNDArray(g), `${source} ${key} is not an array`);
        assert.equal(g.dtype, v.dtype);
        assert.deepEqual(g.shape, v.shape);
        assert.deepEqual(g.data, v.data);
      } else assert.deepEqual(g, v, `${source} ${key}`);
    }
    const extra = Object.keys(data).filter((k) => !(k in values));
    assert.deepEqual(extra, protocol === "1.0" ? ["metadata"] : []);
    assert.deepEqual(got.metadata[source], sent.metadata[source]);
  }
}

for (const sock of ["REP", "PUSH", "PUB"] as ServerSocketType[]) {
  for (const protocol of ["2.2", "1.0"] as ProtocolVersion[]) {
    test(`${sock} server → ${CLIENT_SOCKET_FOR[sock]} client, protocol ${protocol}: values, arrays and metadata arrive intact`, async () => {
      await withServer({ sock, protocol, dropPolicy: "block" }, async (server, endpoint) => {
        const client = new BridgeClient(endpoint, { sock: CLIENT_SOCKET_FOR[sock], timeoutMs: 5000 });
        try {
          if (sock === "PUB") {
            // Subscribers miss what was published before they joined: publish until one arrives.
            const receiving = client.next();
            let tid = 1;
            let got: BridgeTrain | undefined;
            void receiving.then((t) => {
              got = t;
            });
            while (!got && tid < 100) {
              await server.feed(sampleTrain(tid++));
              await new Promise((r) => setTimeout(r, 20));
            }
            const train = await within(5000, "SUB receive", receiving);
            assertSameTrain(train, sampleTrain(trainIdOf(train) as number), protocol);
            return;
          }
          for (const tid of [10, 11, 12]) void server.feed(sampleTrain(tid));
          let i = 0;
          for await (const train of client) {
            assertSameTrain(train, sampleTrain(10 + i), protocol);
            if (++i === 3) break;
          }
          assert.equal(server.stats.trainsSent, 3);
          assert.ok(server.stats.bytesSent > 3 * 4 * 8 * 16 * 2);
        } finally {
          client.close();
        }
      });
    });
  }
}

test("large arrays arrive as views over the received ZeroMQ frame, not copies", async () => {
  await withServer({}, async (server, endpoint) => {
    const client = new BridgeClient(endpoint, { timeoutMs: 5000 });
    try {
      const big = new Float32Array(1 << 20).map((_, i) => i);
      void server.feed({
        data: { S: { a: { dtype: "float32", shape: [1024, 1024], data: big } } },
        metadata: {},
      });
      const { frames } = await client.nextRaw();
      assert.equal(frames.length, 4);
      const { decodeTrain } = await import("../../src/bridge/index.ts");
      const a = decodeTrain(frames).data.S?.a;
      assert.ok(isNDArray(a));
      assert.equal(a.data.buffer, (frames[3] as Buffer).buffer);
      assert.equal(a.data[123456], 123456);
    } finally {
      client.close();
    }
  });
});

test("drop-oldest keeps the newest trains and counts the dropped ones", async () => {
  await withServer({ queueSize: 2, dropPolicy: "drop-oldest" }, async (server, endpoint) => {
    for (let tid = 1; tid <= 5; tid++) assert.equal(await server.feed(sampleTrain(tid)), true);
    assert.equal(server.stats.trainsDropped, 3);
    assert.equal(server.stats.queued, 2);
    const client = new BridgeClient(endpoint, { timeoutMs: 5000 });
    try {
      assert.equal(trainIdOf(await client.next()), 4);
      assert.equal(trainIdOf(await client.next()), 5);
    } finally {
      client.close();
    }
  });
});

test("drop-newest keeps the queued trains and refuses new ones", async () => {
  await withServer({ queueSize: 2, dropPolicy: "drop-newest" }, async (server, endpoint) => {
    const accepted = [];
    for (let tid = 1; tid <= 4; tid++) accepted.push(await server.feed(sampleTrain(tid)));
    assert.deepEqual(accepted, [true, true, false, false]);
    const client = new BridgeClient(endpoint, { timeoutMs: 5000 });
    try {
      assert.equal(trainIdOf(await client.next()), 1);
      assert.equal(trainIdOf(await client.next()), 2);
    } finally {
      client.close();
    }
  });
});

test("block makes the producer wait until a client takes a train; serve() and drain() replay an iterator", async () => {
  await withServer({ queueSize: 1, dropPolicy: "block" }, async (server, endpoint) => {
    async function* trains() {
      for (let tid = 100; tid < 106; tid++) yield sampleTrain(tid);
    }
    let served = false;
    const serving = server.serve(trains()).then(() => {
      served = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(served, false, "serve() must wait for the client");
    const client = new BridgeClient(endpoint, { timeoutMs: 5000 });
    try {
      const ids = [];
      for (let i = 0; i < 6; i++) ids.push(trainIdOf(await client.next()));
      assert.deepEqual(ids, [100, 101, 102, 103, 104, 105]);
      await within(5000, "serve", serving);
      await within(5000, "drain", server.drain());
      assert.equal(server.stats.trainsDropped, 0);
    } finally {
      client.close();
    }
  });
});

test("stats count connected clients", async () => {
  await withServer({}, async (server, endpoint) => {
    const a = new BridgeClient(endpoint);
    const b = new BridgeClient(endpoint);
    const counted = (n: number) => until(() => server.stats.clients === n, `${n} clients counted`);
    await counted(2);
    a.close();
    b.close();
    await counted(0);
  });
});

test("rate limits trains per second", async () => {
  await withServer({ rate: 50, dropPolicy: "block" }, async (server, endpoint) => {
    const client = new BridgeClient(endpoint, { timeoutMs: 5000 });
    try {
      for (let tid = 0; tid < 6; tid++) void server.feed(sampleTrain(tid));
      const t0 = performance.now();
      for (let i = 0; i < 6; i++) await client.next();
      // Six trains at 50 Hz: at least five 20 ms gaps.
      assert.ok(performance.now() - t0 >= 95, `took ${performance.now() - t0} ms`);
    } finally {
      client.close();
    }
  });
});

test("a client times out with BridgeTimeoutError, then recovers when data comes", async () => {
  await withServer({}, async (server, endpoint) => {
    const client = new BridgeClient(endpoint, { timeoutMs: 200 });
    try {
      const t0 = performance.now();
      await assert.rejects(
        client.next(),
        (err: unknown) => err instanceof BridgeTimeoutError && /within 200 ms/.test(err.message),
      );
      assert.ok(performance.now() - t0 < 2000);
      assert.equal(client.stats.reconnects, 1);
      // The server still holds the timed-out requests (two in flight by default) and answers them
      // first: those replies go to the closed socket and are lost (REQ/REP's nature), so the fresh
      // request gets the third train.
      for (const tid of [42, 43, 44]) void server.feed(sampleTrain(tid));
      const train = await client.next();
      assert.ok((trainIdOf(train) as number) >= 42);
    } finally {
      client.close();
    }
  });
});

test("a client reconnects to a server that restarts on the same endpoint", async () => {
  const first = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block" });
  const endpoint = await first.start();
  const client = new BridgeClient(endpoint, { timeoutMs: 300 });
  try {
    void first.feed(sampleTrain(1));
    assert.equal(trainIdOf(await client.next()), 1);
    await first.close();
    const second = new BridgeServer({ endpoint, dropPolicy: "block" });
    await second.start();
    try {
      for (let tid = 2; tid < 10; tid++) void second.feed(sampleTrain(tid));
      let train: BridgeTrain | undefined;
      for (let i = 0; i < 20 && !train; i++) {
        try {
          train = await client.next();
        } catch (err) {
          if (!(err instanceof BridgeTimeoutError)) throw err;
        }
      }
      assert.ok(train, "no train from the restarted server");
      assert.ok((trainIdOf(train) as number) >= 2);
    } finally {
      await second.close();
    }
  } finally {
    client.close();
  }
});

test("closing a client ends its for-await loop", async () => {
  await withServer({}, async (_server, endpoint) => {
    const client = new BridgeClient(endpoint);
    const looping = (async () => {
      let n = 0;
      for await (const _ of client) n++;
      return n;
    })();
    await new Promise((r) => setTimeout(r, 50));
    client.close();
    assert.equal(await within(2000, "loop end", looping), 0);
  });
});

test("a train's sources arrive in sorted order in protocol 2.2", async () => {
  await withServer({}, async (server, endpoint) => {
    const client = new BridgeClient(endpoint, { timeoutMs: 5000 });
    try {
      const t = sampleTrain(3);
      void server.feed({
        data: { [XGM]: t.data[XGM] ?? {}, [AGIPD]: t.data[AGIPD] ?? {} },
        metadata: t.metadata,
      });
      const { frames } = await client.nextRaw();
      const { decodeMsgpack } = await import("../../src/bridge/index.ts");
      const order = frames
        .filter((_, i) => i % 2 === 0)
        .map((f) => (decodeMsgpack(f) as { source: string; content: string }).source)
        .filter((s, i, all) => all.indexOf(s) === i);
      assert.deepEqual(order, [XGM, AGIPD].sort());
    } finally {
      client.close();
    }
  });
});

test("a train meant for a client that went away goes to the next client instead of being lost", async () => {
  await withServer({ dropPolicy: "block" }, async (server, endpoint) => {
    const gone = new BridgeClient(endpoint, { timeoutMs: 100, requestsInFlight: 1 });
    await assert.rejects(gone.next(), BridgeTimeoutError); // its request now waits at the server
    // Wait on the server's own view of the connection, not a fixed delay: on a loaded machine the
    // disconnection can take longer than any sleep to reach the socket (CI once lost the train so).
    await until(() => server.stats.clients === 1, "the server to see the first client");
    gone.close();
    await until(() => server.stats.clients === 0, "the server to see the first client go");
    void server.feed(sampleTrain(77));
    const next = new BridgeClient(endpoint, { timeoutMs: 5000, requestsInFlight: 1 });
    try {
      assert.equal(trainIdOf(await next.next()), 77);
    } finally {
      next.close();
    }
  });
});
