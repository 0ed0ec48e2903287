// What a sase bridge server sends must read back in Python exactly as karabo-bridge-py would decode
// it: a pyzmq + msgpack + numpy client (Debian's /usr/bin/python3) fetches trains from a live sase
// server and prints them; the test compares every key, dtype, shape, sum and metadata field.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import {
  type BridgeTrain,
  type BridgeValue,
  BridgeServer,
  CLIENT_SOCKET_FOR,
  type ProtocolVersion,
  type ServerSocketType,
} from "../../src/bridge/index.ts";
import { type ExpectedMessage, assertTrainMatches, sampleTrain } from "./helpers.ts";

const run = promisify(execFile);
const script = new URL("./py/bridge_client.py", import.meta.url).pathname;

async function pythonFetch(
  endpoint: string,
  sock: string,
  count: number,
  extra: string[] = [],
): Promise<string> {
  const { stdout } = await run(
    "/usr/bin/python3",
    [script, endpoint, "--sock", sock, "--count", String(count), "--timeout", "10", ...extra],
    {
      timeout: 30_000,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return stdout;
}

// In protocol 1.0 the metadata travels inside each source's data, so Python finds it there too.
function asSent(train: BridgeTrain, protocol: ProtocolVersion): BridgeTrain {
  if (protocol === "2.2") return train;
  const data: BridgeTrain["data"] = {};
  for (const [source, values] of Object.entries(train.data)) {
    data[source] = { ...values, metadata: train.metadata[source] as unknown as BridgeValue };
  }
  return { data, metadata: train.metadata };
}

const cases: [ServerSocketType, ProtocolVersion][] = [
  ["REP", "2.2"],
  ["REP", "1.0"],
  ["PUSH", "2.2"],
  ["PUB", "1.0"],
];

for (const [sock, protocol] of cases) {
  test(`Python reads what a sase ${sock} server sends in protocol ${protocol}`, async () => {
    const server = new BridgeServer({
      endpoint: "tcp://127.0.0.1:0",
      sock,
      protocol,
      dropPolicy: "block",
      queueSize: 4,
    });
    const endpoint = await server.start();
    const trains: BridgeTrain[] = [1001, 1002, 1003].map(sampleTrain);
    try {
      const fetching = pythonFetch(endpoint, CLIENT_SOCKET_FOR[sock], 3);
      if (sock === "PUB") {
        // A subscriber only sees what is published after it joined: publish until it has its three.
        let tid = 1001;
        let done = false;
        void fetching.finally(() => {
          done = true;
        });
        await new Promise((r) => setTimeout(r, 300));
        const published: BridgeTrain[] = [];
        while (!done && tid < 1200) {
          const t = sampleTrain(tid++);
          published.push(t);
          await server.feed(t);
          await new Promise((r) => setTimeout(r, 20));
        }
        const got = JSON.parse(await fetching) as ExpectedMessage[];
        assert.equal(got.length, 3);
        for (const message of got) {
          const tid = Object.values(message)[0]?.meta["timestamp.tid"] as number;
          const sent = published.find(
            (t) => t.metadata["SA1_XTD2_XGM/DOOCS/MAIN"]?.["timestamp.tid"] === tid,
          );
          assert.ok(sent, `Python got train ${tid}, which was not published`);
          assertTrainMatches(asSent(sent, protocol), message, `PUB train ${tid}`);
        }
        return;
      }
      for (const t of trains) void server.feed(t);
      const got = JSON.parse(await fetching) as ExpectedMessage[];
      assert.equal(got.length, 3);
      for (let i = 0; i < got.length; i++) {
        const sent = asSent(trains[i] as BridgeTrain, protocol);
        assertTrainMatches(sent, got[i] as ExpectedMessage, `${sock} ${protocol} train ${i}`);
      }
      if (protocol === "2.2") {
        // karabo-bridge-py's 2.2 deserializer keeps the data frame's keys; 1.0 adds "metadata".
        assert.ok(!("metadata" in (got[0]?.["SA1_XTD2_XGM/DOOCS/MAIN"]?.data ?? {})));
      }
    } finally {
      await server.close();
    }
  });
}

test("a REP server answers a Python client's bad request with an error and keeps serving", async () => {
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block" });
  const endpoint = await server.start();
  try {
    void server.feed(sampleTrain(7));
    const reply = JSON.parse(await pythonFetch(endpoint, "REQ", 1, ["--send", "give me data"])) as string[];
    assert.equal(reply.length, 1);
    assert.match(reply[0] as string, /^Error: bad request "give me data"/);
    const got = JSON.parse(await pythonFetch(endpoint, "REQ", 1)) as ExpectedMessage[];
    assertTrainMatches(sampleTrain(7), got[0] as ExpectedMessage, "after a bad request");
    assert.equal(server.stats.badRequests, 1);
    assert.equal(server.stats.trainsSent, 1);
  } finally {
    await server.close();
  }
});
