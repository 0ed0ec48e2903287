// The AMQP broker between sase processes' brokers (each its own connection), and Karabo's wire format
// checked against a capture of real Karabo traffic.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { connect as amqpConnect } from "amqplib";
import {
  type AmqpBroker,
  connectAmqpBroker,
  createLogger,
  DeviceClient,
  DeviceServer,
  decodeMessage,
  defineDevice,
  el,
  encodeMessage,
  argsHash,
  resolveBrokerEnv,
  type SaseError,
  State,
  type TopologyEvent,
} from "../../src/core/index.ts";
import { BROKER_URL, PEER_DIR, SKIP_NO_BROKER, uniqueTopic } from "./amqp-helpers.ts";

const quiet = createLogger("test", () => {});

class Valve extends defineDevice({
  classId: "Valve",
  schema: {
    opening: el.double({ access: "reconfigurable", default: 0, min: 0, max: 1 }),
    limit: el.double({ access: "reconfigurable", default: 1, requiredAccessLevel: "expert" }),
    open: el.slot({ allowedStates: [State.CLOSED], args: { to: el.double({ default: 1 }) } }),
  },
}) {
  override onInit(): void {
    this.updateState(State.CLOSED);
  }
  open({ to }: { to?: number }): { opened: number } {
    this.setMany({ opening: to ?? 1, state: State.OPENED });
    return { opened: to ?? 1 };
  }
}

describe("Karabo's message format", () => {
  it("decodes every message of a captured Karabo session exactly as Karabo's own parser did", () => {
    const lines = readFileSync(`${PEER_DIR}captures/demo-session.jsonl`, "utf8").trim().split("\n");
    let checked = 0;
    for (const line of lines) {
      const rec = JSON.parse(line) as {
        raw_hex?: string;
        size: number;
        header?: Record<string, [string, unknown]>;
        body?: Record<string, [string, unknown]>;
      };
      // Long messages were captured in part only.
      if (!rec.raw_hex || rec.raw_hex.length !== 2 * rec.size) continue;
      const msg = decodeMessage(Buffer.from(rec.raw_hex, "hex"));
      for (const [key, [type]] of Object.entries(rec.header ?? {}))
        assert.equal(msg.header.typeOf(key), type, key);
      assert.deepEqual(msg.header.keys(), Object.keys(rec.header ?? {}));
      for (const [key, [type]] of Object.entries(rec.body ?? {}))
        assert.equal(msg.body.typeOf(key), type, key);
      checked++;
    }
    assert.ok(checked > 50, `${checked} messages`);
  });

  it("writes the request header Karabo writes: replyTo, MQTimestamp, signalInstanceId, then a1..aN", () => {
    const bytes = encodeMessage(
      "peerclient-demo",
      { replyTo: "peerclient-demo-748db1563b065" },
      argsHash([]),
    );
    assert.equal(bytes.length, 129, "the captured slotGetConfiguration request is 129 bytes");
    const msg = decodeMessage(bytes);
    assert.deepEqual(msg.header.keys(), ["replyTo", "MQTimestamp", "signalInstanceId"]);
    assert.equal(msg.header.typeOf("MQTimestamp"), "INT64");
    assert.equal(msg.args.length, 0);
  });

  it("refuses trailing bytes and truncated messages", () => {
    const good = encodeMessage("x", {}, argsHash([1]));
    assert.throws(() => decodeMessage(Buffer.concat([good, Buffer.from([0])])), /bytes after/);
    assert.throws(() => decodeMessage(good.subarray(0, good.length - 2)));
  });

  it("takes broker URLs (comma list = failover) and the topic from Karabo's environment", () => {
    assert.deepEqual(
      resolveBrokerEnv({
        KARABO_BROKER: "amqp://a:b@h1:5672, amqp://a:b@h2:5672",
        KARABO_BROKER_TOPIC: "spb",
      }),
      { urls: ["amqp://a:b@h1:5672", "amqp://a:b@h2:5672"], topic: "spb" },
    );
    assert.deepEqual(resolveBrokerEnv({ USER: "olga" }, { urls: "amqp://x@y" }), {
      urls: ["amqp://x@y"],
      topic: "olga",
    });
  });
});

describe("AMQP broker between sase processes", { skip: SKIP_NO_BROKER }, () => {
  const topic = uniqueTopic("s2s");
  const logged: string[] = [];
  let host: AmqpBroker;
  let remote: AmqpBroker;
  let server: DeviceServer;
  let client: DeviceClient;

  before(async () => {
    host = await connectAmqpBroker({
      urls: BROKER_URL,
      topic,
      accessLevels: { [new URL(BROKER_URL).username]: "operator" },
      log: createLogger("host", (line) => logged.push(line)),
    });
    remote = await connectAmqpBroker({ urls: BROKER_URL, topic, log: quiet });
    server = new DeviceServer({ serverId: "SRV_S2S", broker: host, classes: [Valve], log: quiet });
    await server.start();
    await server.instantiate("Valve", "S2S/VALVE/1");
    client = new DeviceClient(remote);
    // Announcements travel through the broker: wait until the other process has heard them.
    while (!(await client.topology()).devices.has("S2S/VALVE/1")) await new Promise((r) => setTimeout(r, 20));
  });
  after(async () => {
    await server?.stop();
    await host?.close();
    await remote?.close();
  });

  it("finds the remote server and device and works them: schema, get, set, slots with arguments, changes", async () => {
    const topo = await client.topology();
    assert.equal(topo.servers.get("SRV_S2S")?.deviceClasses?.[0], "Valve");
    assert.equal(topo.devices.get("S2S/VALVE/1")?.serverId, "SRV_S2S");
    const schema = await client.getSchema("S2S/VALVE/1");
    assert.equal(schema.entry("opening")?.access, "reconfigurable");
    assert.deepEqual(schema.slotNames(), ["open"]);
    const open = schema.entry("open")?.element as { args?: Record<string, unknown> } | undefined;
    assert.ok(open?.args?.to, "slot arguments cross the wire");
    const changes = client.subscribe("S2S/VALVE/1", "state");
    await remote.settled();
    assert.deepEqual(await client.set("S2S/VALVE/1", "opening", 0.25), { applied: ["opening"] });
    assert.equal(await client.get("S2S/VALVE/1", "opening"), 0.25);
    assert.deepEqual(await client.execute("S2S/VALVE/1", "open", { to: 0.5 }), { opened: 0.5 });
    for await (const c of changes) if (c.value === State.OPENED) break;
    const conf = await client.getConfiguration("S2S/VALVE/1");
    assert.equal(conf.values.opening, 0.5);
    assert.equal(typeof conf.timestamps.opening?.sec, "number");
  });

  it("returns the device's validation failures with their codes", async () => {
    await assert.rejects(
      client.set("S2S/VALVE/1", "opening", 3),
      (e: SaseError) => e.code === "OUT_OF_RANGE",
    );
    await assert.rejects(client.execute("S2S/VALVE/1", "fly"), (e: SaseError) => e.code === "UNKNOWN_SLOT");
  });

  it("grants what the caller's broker identity allows, whatever level the caller claims", async () => {
    const claimed = client.as({ user: "mallory", accessLevel: "admin" });
    await assert.rejects(claimed.set("S2S/VALVE/1", "limit", 0.5), (e: SaseError) => {
      assert.equal(e.code, "ACCESS_DENIED");
      return /needs access level expert/.test(e.message);
    });
  });

  it("refuses an id that is already on the topic, as Karabo does", async () => {
    await assert.rejects(
      remote.register(
        "S2S/VALVE/1",
        { type: "device", host: "h", pid: 1, heartbeatIntervalMs: 1000 },
        async () => ({ schema: {} }),
      ),
      (e: SaseError) => e.code === "DEVICE_EXISTS",
    );
    await assert.rejects(
      client.instantiate("SRV_S2S", "Valve", "S2S/VALVE/1"),
      (e: SaseError) => e.code === "DEVICE_EXISTS",
    );
  });

  it("tells a free id from a held one by the broker's reply code, whatever the names spell", async () => {
    // The broker's NOT_FOUND message names the queue: a topic or id with "405" in it once read as
    // RESOURCE_LOCKED, and `sase server` on such a topic (1 in 700 random test topics) exited at once.
    const topic405 = `${uniqueTopic("id")}_405`;
    const probe = await connectAmqpBroker({ urls: BROKER_URL, topic: topic405, log: quiet });
    const holder = await amqpConnect(BROKER_URL);
    try {
      const free = await probe.register(
        "S2S_405/VALVE/405",
        { type: "server", host: "h", pid: 1, heartbeatIntervalMs: 1000 },
        async () => ({}),
      );
      await free.unregister();
      // A queue held by a connection that answers no ping: refused by the lock alone (405).
      const ch = await holder.createChannel();
      await ch.assertQueue(`${topic405}.S2S/VALVE/HELD`, { exclusive: true, autoDelete: true });
      await assert.rejects(
        probe.register(
          "S2S/VALVE/HELD",
          { type: "server", host: "h", pid: 1, heartbeatIntervalMs: 1000 },
          async () => ({}),
        ),
        (e: SaseError) => e.code === "DEVICE_EXISTS",
      );
    } finally {
      await holder.close();
      await probe.close();
    }
  });

  it("logs and drops a malformed message and keeps answering", async () => {
    const conn = await amqpConnect(BROKER_URL);
    const ch = await conn.createChannel();
    ch.publish(`${topic}.Slots`, "S2S/VALVE/1.slotPing", Buffer.from([1, 2, 3, 4, 5]));
    ch.publish(`${topic}.Global_Slots`, "x.slotInstanceNew", Buffer.from("garbage"));
    await ch.close();
    await conn.close();
    const info = await client.request<{ classId: string }>("S2S/VALVE/1", "slotPing");
    assert.equal(info.classId, "Valve");
    for (let i = 0; i < 50 && !logged.some((l) => l.includes("malformed message dropped")); i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(
      logged.some((l) => l.includes("malformed message dropped")),
      logged.join("\n"),
    );
  });

  it("announces new and gone devices to other processes", async () => {
    const events: TopologyEvent[] = [];
    const sub = remote.watchTopology((e) => events.push(e));
    await client.instantiate("SRV_S2S", "Valve", "S2S/VALVE/2");
    await client.kill("S2S/VALVE/2");
    for (let i = 0; i < 100 && !events.some((e) => e.event === "gone"); i++)
      await new Promise((r) => setTimeout(r, 20));
    sub.close();
    assert.deepEqual(
      events.filter((e) => e.instanceId === "S2S/VALVE/2").map((e) => e.event),
      ["new", "gone"],
    );
    assert.deepEqual(server.deviceIds, ["S2S/VALVE/1"]);
  });

  it("answers slotPing with the instanceInfo, as Karabo instances do", async () => {
    const info = await remote.call<{ type: string; deviceClasses: string[] }>("SRV_S2S", "slotPing");
    assert.equal(info.type, "server");
    assert.deepEqual(info.deviceClasses, ["Valve"]);
  });
});
