// sase's pipelines with Karabo's own middlelayer channels (../shared/peers/karabo, run unmodified in a
// child process): both directions, copy and shared distribution, drop and wait, and a Karabo peer killed
// mid-stream and restarted. The Karabo inputs find the sase outputs through `--resolve` (their
// slotGetOutputChannelInformation answered locally) or, by name, over RabbitMQ from a sase device server
// on sase's AmqpBroker; everything after that is Karabo's code. One peer process serves every test (a
// middlelayer server takes seconds to start), then one restart.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  type AmqpBroker,
  connectAmqpBroker,
  createLogger,
  DeviceServer,
  type Hash,
  type NDArray,
} from "../../src/core/index.ts";
import { rawTrainHash, reducedDetector, SimulatedDetector, DETECTORS } from "../../src/detector/index.ts";
import {
  InputChannel,
  OutputChannel,
  resolveOutputsThrough,
  StreamProducer,
} from "../../src/pipeline/index.ts";
import { BROKER_URL, SKIP_NO_BROKER } from "../core/amqp-helpers.ts";
import { freePort } from "../helpers/port.ts";
import { until } from "../helpers/until.ts";
import { KaraboPipePeer, type PeerDeviceConfig } from "./karabo-peer.ts";
import { sleep, smallData } from "./helpers.ts";

const TOPIC = `sase_pipe_${process.pid}`;
const peers: KaraboPipePeer[] = [];

function sha(a: NDArray): string {
  return createHash("sha256")
    .update(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength))
    .digest("hex")
    .slice(0, 16);
}

async function output(id: string): Promise<{ out: OutputChannel; address: string }> {
  const out = new OutputChannel(id, undefined, { registry: null });
  const address = (await out.listen()).replace("tcp://", "");
  return { out, address };
}

const SINK = "TEST/KMDL/SINK";
const KSRC = "TEST/KMDL/SRC";
const SHARED1 = "TEST/KMDL/SHARED1";
const SHARED2 = "TEST/KMDL/SHARED2";
const COPY = "TEST/KMDL/COPY";
const SLOWDROP = "TEST/KMDL/SLOWDROP";
const BYNAME = "TEST/KMDL/BYNAME";
const PRODUCER = "TEST/SASE/PRODUCER";
let det: { out: OutputChannel; address: string };
let src: { out: OutputChannel; address: string };
let peer: KaraboPipePeer;
let ksrcPort = 0;

function peerDevices(all: boolean): Record<string, PeerDeviceConfig> {
  const devices: Record<string, PeerDeviceConfig> = {
    [SINK]: { input: [det.out.id], slowness: "wait" },
    [KSRC]: { port: ksrcPort },
  };
  if (!all) return devices;
  return {
    ...devices,
    [SHARED1]: { input: [src.out.id], distribution: "shared", slowness: "wait" },
    [SHARED2]: { input: [src.out.id], distribution: "shared", slowness: "wait" },
    [COPY]: { input: [src.out.id], slowness: "wait" },
    [SLOWDROP]: { input: [src.out.id], slowness: "drop", delay: 0.03 },
    // Finds the sase device's output by name, through the broker (no --resolve for it).
    [BYNAME]: { input: [`${PRODUCER}:output`] },
  };
}

async function startPeer(all: boolean): Promise<KaraboPipePeer> {
  const p = await KaraboPipePeer.start(peerDevices(all), {
    topic: TOPIC,
    resolve: { [det.out.id]: det.address, [src.out.id]: src.address },
  });
  peers.push(p);
  return p;
}

let broker: AmqpBroker;
let server: DeviceServer;
describe("pipelines with Karabo's middlelayer", { skip: SKIP_NO_BROKER }, () => {
  before(async () => {
    det = await output("TEST/DET/0CH0:xtdf");
    src = await output("TEST/SASE/SRC:output");
    ksrcPort = await freePort();
    peer = await startPeer(true);
    broker = await connectAmqpBroker({ urls: BROKER_URL, topic: TOPIC, log: createLogger("test", () => {}) });
    server = new DeviceServer({
      serverId: "SASE_PIPE_TEST",
      broker,
      classes: [StreamProducer],
      log: createLogger("test", () => {}),
    });
    await server.start();
  });

  after(async () => {
    for (const p of peers) await p.kill();
    for (const o of [det, src]) await o?.out.close();
    await server?.stop();
    await broker?.close();
  });

  /** A sase input on the middlelayer output KSRC, collecting what arrives. */
  function ksrcInput() {
    const inp = new InputChannel("TEST/SASE/SINK:input", {
      connectedOutputChannels: [`${KSRC}:output@tcp://127.0.0.1:${ksrcPort}`],
      onSlowness: "wait",
      reconnectIntervalMs: 100,
    }).connect();
    const got: { tid: number; data: Hash; source: string }[] = [];
    let eos = 0;
    inp
      .onData((t) => {
        got.push({ tid: t.meta.timestamp.trainId, data: t.data, source: t.meta.source });
      })
      .onEndOfStream(() => {
        eos++;
      });
    return { inp, got, eos: () => eos };
  }
  let fromKsrc: ReturnType<typeof ksrcInput>;

  test("a Karabo middlelayer input receives sase detector module trains with image data, cellId, pulseId and trainId intact", async () => {
    const d = reducedDetector(DETECTORS.AGIPD1M, { rows: 64 });
    const sim = new SimulatedDetector(d, { seed: 7, cells: 16, modules: 1 });
    const out = det.out;
    await until(() => out.stats().connections === 1, "the Karabo input attached", 10_000);
    const sent = new Map<number, Hash>();
    for (let t = 1; t <= 4; t++) {
      const h = rawTrainHash(sim.moduleTrain(0, BigInt(t)), d);
      sent.set(t, h);
      await out.write(h, { trainId: t });
    }
    await out.endOfStream();
    await until(() => peer.count(SINK, "eos") === 1, "end of stream at the Karabo input", 10_000);
    const got = peer.received(SINK);
    assert.deepEqual(
      got.map((x) => x["header.trainId"]),
      [1, 2, 3, 4],
    );
    for (const x of got) {
      const t = x["header.trainId"] as number;
      const h = sent.get(t)!;
      assert.equal(x.tid, t, "the train ID of the timestamp");
      assert.equal(x.source, out.id);
      for (const key of ["data", "cellId", "pulseId", "trainId"]) {
        const a = h.get<NDArray>(`image.${key}`);
        const k = x[`image.${key}`] as { shape: number[]; dtype: string; sha: string };
        assert.deepEqual(k.shape, a.shape, `image.${key} shape`);
        assert.equal(k.dtype, a.dtype, `image.${key} dtype`);
        assert.equal(k.sha, sha(a), `image.${key} bytes`);
      }
    }
  });

  test("a sase input receives a middlelayer output's trains: arrays, train IDs, source and end of stream", async () => {
    fromKsrc = ksrcInput();
    const { inp, got } = fromKsrc;
    await inp.waitConnected(10_000);
    peer.send(KSRC, { awaitInputs: 1 });
    peer.send(KSRC, { write: 5, shape: [16, 2, 64, 128], first: 1000, period: 0.01 });
    peer.send(KSRC, { eos: true });
    await until(() => fromKsrc.eos() === 1, "end of stream from the middlelayer output", 10_000).catch(
      (e) => {
        const seen = JSON.stringify({
          got: got.map((g) => g.tid),
          peer: peer.events.filter((x) => !x.data),
          input: inp.stats(),
        });
        throw new Error(`${(e as Error).message}; ${seen}`);
      },
    );
    assert.deepEqual(
      got.map((g) => g.tid),
      [1000, 1001, 1002, 1003, 1004],
    );
    for (const g of got) {
      assert.equal(g.source, `${KSRC}:output`);
      assert.equal(Number(g.data.get("trainId")), g.tid);
      const image = g.data.get<NDArray>("image.data");
      assert.deepEqual(image.shape, [16, 2, 64, 128]);
      assert.equal(image.dtype, "uint16");
      assert.ok(image.data.every((v) => v === (g.tid & 0xffff)));
      assert.deepEqual([...g.data.get<NDArray>("image.cellId").data], [...Array(16).keys()]);
      const pulses = g.data.get<NDArray>("image.pulseId").data as BigUint64Array;
      assert.deepEqual(
        [...pulses],
        [...Array(16).keys()].map((i) => BigInt(i * 4 + g.tid)),
      );
      assert.ok(
        (g.data.get<NDArray>("image.trainId").data as BigUint64Array).every((v) => v === BigInt(g.tid)),
      );
    }
  });

  test("copy and shared Karabo inputs on one sase output; drop and wait across the boundary, counted exactly", async () => {
    const out = src.out;
    const ins = [SHARED1, SHARED2, COPY, SLOWDROP];
    await until(() => out.stats().connections === 4, "four Karabo inputs attached", 10_000);
    const n = 40;
    const t0 = performance.now();
    for (let t = 1; t <= n; t++) await out.write(smallData(t), { trainId: t });
    const writing = performance.now() - t0;
    await out.endOfStream();
    const ids = (dev: string) => peer.received(dev).map((x) => x.trainId as number);
    await until(
      () => ins.every((dev) => peer.count(dev, "eos") === 1),
      "end of stream at every Karabo input",
      15_000,
    );
    const all = [...Array(n).keys()].map((i) => i + 1);
    assert.deepEqual(ids(COPY), all, "copy + wait: every token, in order");
    const s1 = ids(SHARED1);
    const s2 = ids(SHARED2);
    assert.ok(s1.length > 0 && s2.length > 0, `both shared inputs work (${s1.length}, ${s2.length})`);
    assert.deepEqual(
      [...s1, ...s2].sort((a, b) => a - b),
      all,
      "shared: each token to exactly one",
    );
    const slow = ids(SLOWDROP);
    const row = out.stats().peers.find((p) => p.inputId === `${SLOWDROP}:input`)!;
    assert.ok(slow.length < n, "the slow drop input missed some");
    assert.equal(row.sent, slow.length, "sent = received by Karabo");
    assert.equal(row.sent + row.dropped, n, "every token either sent or counted as dropped");
    assert.ok(writing < 0.03 * n * 1000, `the drop input never held the writer back (${writing} ms)`);
  });

  test("outputs are found by name through the broker both ways: slotGetOutputChannelInformation", async () => {
    await server.instantiate("StreamProducer", PRODUCER, { rate: 50, rows: 8, columns: 8 });
    await until(
      () => peer.received(BYNAME).length >= 5,
      "a Karabo input fed by a sase device found by name",
      15_000,
    );
    const first = peer.received(BYNAME)[0];
    assert.equal(first.source, `${PRODUCER}:output`);
    assert.deepEqual((first["image.data"] as { shape: number[] }).shape, [8, 8]);
    // What Karabo's input asked: the device's answer, with Karabo's key names and types.
    const info = (await broker.call(PRODUCER, "slotGetOutputChannelInformation", {
      channelId: "output",
    })) as {
      success: boolean;
      info: { hostname: string; port: number; connectionType: string; memoryLocation: string };
    };
    assert.equal(info.success, true);
    assert.equal(info.info.connectionType, "tcp");
    assert.ok(info.info.port > 0);
    // And a sase input finds the Karabo device's output by name.
    resolveOutputsThrough(broker);
    const inp = new InputChannel("TEST/SASE/BYNAME:input", {
      connectedOutputChannels: [`${KSRC}:output`],
      onSlowness: "wait",
    }).connect();
    const tids: number[] = [];
    inp.onData((t) => {
      tids.push(t.meta.timestamp.trainId);
    });
    await inp.waitConnected(10_000);
    peer.send(KSRC, { awaitInputs: 1 });
    peer.send(KSRC, { write: 3, shape: [2, 8, 8], first: 7000 });
    await until(() => tids.length === 3, "trains from the Karabo output found by name", 10_000);
    assert.deepEqual(tids, [7000, 7001, 7002]);
    await inp.close();
  });

  test("a Karabo peer killed mid-stream and restarted: both directions resume by themselves", async () => {
    const { inp, got } = fromKsrc;
    let t = 100;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await det.out.write(smallData(++t), { trainId: t });
        await sleep(5);
      }
    })();
    peer.send(KSRC, { write: 100_000, shape: [2, 8, 8], first: 2000, period: 0.005 });
    const before = got.length;
    await until(
      () => peer.received(SINK).length > 10 && got.length > before + 10,
      "streams flowing both ways",
      10_000,
    );
    await peer.kill();
    await until(() => det.out.stats().connections === 0, "the dead Karabo input detached", 5000);
    await until(() => inp.stats().connections[0].state !== "CONNECTED", "the sase input saw the loss", 5000);
    peer = await startPeer(false);
    await until(() => peer.received(SINK).length > 10, "the restarted Karabo input receiving", 15_000);
    writing = false;
    await writer;
    const again = peer.received(SINK).map((x) => x.trainId as number);
    assert.ok(
      again.every((x, i) => i === 0 || x === again[i - 1] + 1),
      "in order, none missing with wait",
    );
    await until(() => inp.stats().connections[0].state === "CONNECTED", "the sase input reconnected", 10_000);
    peer.send(KSRC, { awaitInputs: 1 });
    const mark = got.length;
    peer.send(KSRC, { write: 3, shape: [2, 8, 8], first: 5000 });
    await until(() => got.length === mark + 3, "trains from the restarted peer", 10_000);
    assert.deepEqual(
      got.slice(mark).map((g) => g.tid),
      [5000, 5001, 5002],
    );
    assert.equal(inp.stats().reconnects, 1);
    await inp.close();
  });
});
