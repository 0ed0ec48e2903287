// The TCP transport under trouble: the sender process killed and restarted, a connection cut while the
// sender lives on, and garbage on the socket from either side.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Hash, SocketWriter } from "../../src/core/index.ts";
import { InputChannel, OutputChannel } from "../../src/pipeline/index.ts";
import { encodeCached, writeFrame, writeMessage } from "../../src/pipeline/wire.ts";
import { freePort } from "../helpers/port.ts";
import { until } from "../helpers/until.ts";
import { collect, Rig, sleep, smallData, tcpOutput } from "./helpers.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/producer.ts", import.meta.url));

async function startProducer(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("producer did not start within 10 s")), 10_000);
    child.stdout!.on("data", (b: Buffer) => {
      if (b.toString().startsWith("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`producer exited with ${code}`)));
  });
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await gone;
}

test("the input recovers by itself after the sender process is killed (-9) and restarted", {
  timeout: 30_000,
}, async () => {
  const port = await freePort();
  let child = await startProducer(port);
  const inp = new InputChannel("TEST/SINK/r:input", {
    connectedOutputChannels: [`TEST/PROC/1:output@tcp://127.0.0.1:${port}`],
    reconnectIntervalMs: 100,
    stallTimeoutMs: 300,
  }).connect();
  try {
    const pids: number[] = [];
    inp.onData((t) => {
      pids.push(t.data.get<number>("pid"));
    });
    await until(() => pids.length >= 20, "tokens from the first producer", 10_000);
    assert.equal(inp.stats().connections[0].memoryLocation, "remote");
    await kill9(child);
    await until(() => inp.stats().health === "disconnected", "disconnected health", 3000);
    assert.equal(inp.stats().alarm, "alarm");
    assert.notEqual(inp.stats().lastError, "");
    const first = child.pid;
    child = await startProducer(port);
    const second = child.pid;
    await until(
      () => pids.filter((p) => p === second).length >= 20,
      "tokens from the restarted producer",
      10_000,
    );
    const s = inp.stats();
    assert.equal(s.reconnects, 1);
    assert.equal(s.connections[0].state, "CONNECTED");
    assert.equal(s.alarm, "none");
    assert.ok(pids.includes(first!), "tokens from the first producer");
    assert.equal(pids.filter((p) => p !== first && p !== second).length, 0);
  } finally {
    await inp.close();
    await kill9(child).catch(() => {});
  }
});

test("a cut connection to a live sender reconnects and counts exactly what it missed", {
  timeout: 20_000,
}, async () => {
  const rig = new Rig();
  const address = await rig.output.listen();
  const target = Number(address.split(":").at(-1));
  // A relay between input and output that the test can cut.
  const relayed = new Set<Socket>();
  const relay: Server = createServer((a) => {
    const b = createConnection({ host: "127.0.0.1", port: target });
    relayed.add(a).add(b);
    a.pipe(b).pipe(a);
    const end = () => {
      a.destroy();
      b.destroy();
    };
    a.on("error", end).on("close", end);
    b.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  const relayPort = (relay.address() as { port: number }).port;
  const inp = rig.input("cut", { reconnectIntervalMs: 50 }, `tcp://127.0.0.1:${relayPort}`);
  await inp.waitConnected();
  const got = collect(inp);
  let written = 0;
  const produce = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await rig.output.write(smallData(++written), { trainId: written });
      await sleep(2);
    }
  };
  await produce(30);
  for (const s of relayed) s.destroy();
  relayed.clear();
  await produce(30);
  await until(() => inp.stats().connections[0].state === "CONNECTED", "reconnected");
  await produce(30);
  await rig.output.endOfStream();
  await until(() => got.eos === 1, "end of stream");
  const s = inp.stats();
  const first = got.trains[0];
  assert.equal(s.reconnects, 1);
  assert.ok(s.lost > 0, "tokens written while cut off are counted as lost");
  assert.equal(got.trains.length + s.dropped + s.lost, written - first + 1, "every token is accounted for");
  await rig.close();
  relay.close();
});

test("garbage sent to an output's port closes that connection; the output keeps serving", async () => {
  const rig = new Rig();
  const address = await rig.output.listen();
  const port = Number(address.split(":").at(-1));
  for (const junk of [
    randomBytes(4096),
    Buffer.from([12, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0]),
    Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
  ]) {
    const sock = createConnection({ host: "127.0.0.1", port });
    await new Promise((r) => sock.once("connect", r));
    sock.write(junk);
    await new Promise((r) => sock.once("close", r));
    assert.match(rig.output.stats().lastError, /refused/);
  }
  // A hello that is a Hash but not a valid one is refused too, naming what is wrong.
  const sock = createConnection({ host: "127.0.0.1", port });
  await new Promise((r) => sock.once("connect", r));
  writeMessage(
    new SocketWriter(sock),
    new Hash({ reason: "hello", instanceId: "X/Y/Z:input", dataDistribution: "copy", onSlowness: "maybe" }),
  );
  await new Promise((r) => sock.once("close", r));
  assert.match(rig.output.stats().lastError, /onSlowness "maybe" is unknown/);
  const inp = rig.input("ok", { onSlowness: "wait" }, `${rig.output.id}@${address}`);
  await inp.waitConnected();
  const got = collect(inp);
  for (let i = 1; i <= 3; i++) await rig.output.write(smallData(i));
  await rig.output.endOfStream();
  await until(() => got.eos === 1, "end of stream");
  assert.deepEqual(got.trains, [1, 2, 3]);
  assert.equal(rig.output.stats().connections, 1);
  await rig.close();
});

test("garbage from an output is refused by the input, which logs it and reconnects", async () => {
  let connections = 0;
  const fake = createServer((sock) => {
    connections++;
    sock.on("error", () => {});
    if (connections === 1) {
      sock.write(randomBytes(2048));
      return;
    }
    // Once asked (the hello), a well-formed data header whose body is not a Hash.
    sock.once("data", () => {
      const h = new Hash({
        nData: 1,
        byteSizes: Uint32Array.of(64),
        sourceInfo: [new Hash({ source: "s" })],
      });
      writeFrame(new SocketWriter(sock), h, [randomBytes(64)]);
    });
  });
  await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
  const port = (fake.address() as { port: number }).port;
  const inp = new InputChannel("TEST/SINK/g:input", {
    connectedOutputChannels: [`tcp://127.0.0.1:${port}`],
    reconnectIntervalMs: 50,
  }).connect();
  await until(() => /protocol error/.test(inp.stats().lastError), "first protocol error");
  await until(() => /token body is not a binary Hash/.test(inp.stats().lastError), "bad body refused");
  assert.equal(inp.stats().tokens, 0);
  assert.notEqual(inp.stats().connections[0].state, "CONNECTED");
  fake.close();
  // A real output on that port: the input connects and receives.
  const out = new OutputChannel("TEST/REAL/1:output", undefined, { registry: null });
  await out.listen({ port });
  await inp.waitConnected(3000);
  const got = collect(inp);
  await out.write(smallData(7));
  await until(() => got.trains.length === 1, "token from the real output");
  await inp.close();
  await out.close();
});

test("a sender held back by a hung consumer raises its alarm, and resumes when that process dies", {
  timeout: 20_000,
}, async () => {
  const { output: out, spec } = await tcpOutput("TEST/SRC/W:output", { stallTimeoutMs: 200 });
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./fixtures/consumer.ts", import.meta.url)), spec],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`consumer exited with ${code}`)));
    });
    let written = 0;
    const writer = (async () => {
      for (let i = 1; i <= 5; i++) {
        await out.write(smallData(i));
        written = i;
      }
    })();
    await until(() => out.stats().alarm === "alarm", "blocked alarm", 2000);
    assert.equal(out.stats().blocked, true);
    assert.ok(written < 5, "the writer should be held back");
    await kill9(child);
    await writer;
    assert.equal(written, 5);
    await until(() => out.stats().alarm === "none", "alarm cleared");
    assert.equal(out.stats().connections, 0);
  } finally {
    await kill9(child).catch(() => {});
    await out.close();
  }
});

test("a welcome that comes after the input stopped waiting for it (a loaded machine) is taken, not refused", async () => {
  const fake = createServer((sock) => {
    sock.on("error", () => {});
    sock.once("data", () => {
      setTimeout(() => {
        const w = new Hash({ welcome: true, session: "s1", nData: 0, sourceInfo: [] });
        w.set("byteSizes", new Uint32Array(0));
        writeFrame(new SocketWriter(sock), w);
        const chunks = encodeCached(smallData(3));
        const h = new Hash({ nData: 1, sourceInfo: [new Hash({ source: "TEST/LATE/1:output" })] });
        h.set("byteSizes", Uint32Array.of(chunks.reduce((n, c) => n + c.byteLength, 0)));
        writeFrame(new SocketWriter(sock), h, chunks);
      }, 500);
    });
  });
  await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
  const port = (fake.address() as { port: number }).port;
  const inp = new InputChannel("TEST/SINK/late:input", {
    connectedOutputChannels: [`tcp://127.0.0.1:${port}`],
  }).connect();
  const got = collect(inp);
  await until(() => got.trains.length === 1, "the token after a late welcome");
  assert.equal(inp.stats().lastError, "");
  assert.equal(inp.stats().reconnects, 0);
  await inp.close();
  fake.close();
});
