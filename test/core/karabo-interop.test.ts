// sase and Karabo 3's middlelayer on one RabbitMQ topic, both ways: Karabo's own client operates a sase
// device server, and sase's client operates Karabo's PeerDevice and stock PropertyTest device.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import {
  type AmqpBroker,
  connectAmqpBroker,
  createLogger,
  DeviceClient,
  DeviceServer,
  defineDevice,
  el,
  type NDArray,
  type SaseError,
  State,
} from "../../src/core/index.ts";
import {
  BROKER_URL,
  PEER_DIR,
  runPeerPython,
  SKIP_NO_BROKER,
  startPeerProcess,
  stopProcess,
  uniqueTopic,
} from "./amqp-helpers.ts";

const quiet = createLogger("test", () => {});

class TestMotor extends defineDevice({
  classId: "TestMotor",
  schema: {
    position: el.double({ access: "reconfigurable", default: 0, min: -100, max: 100, unit: "meter" }),
    speed: el.float({ access: "reconfigurable", default: 1.5 }),
    count: el.int64({ access: "readOnly", default: 0n }),
    label: el.string({ access: "reconfigurable", default: "m1", options: ["m1", "m2"] }),
    offsets: el.vector("int32", { access: "reconfigurable", default: [1, 2] }),
    table: el.table(
      { a: el.int32({ default: 0 }), b: el.string({ default: "" }) },
      { access: "reconfigurable", default: [{ a: 1, b: "x" }] },
    ),
    sub: el.node({ gain: el.uint32({ access: "reconfigurable", default: 3 }) }),
    move: el.slot({ allowedStates: [State.ON] }),
    moveBy: el.slot({ args: { step: el.double({ default: 1 }) } }),
  },
}) {
  override onInit(): void {
    this.updateState(State.ON);
  }
  move(): void {
    this.setMany({ count: this.get("count") + 1n, position: this.get("position") + 1 });
  }
  moveBy({ step }: { step?: number }): void {
    this.set("position", this.get("position") + (step ?? 1));
  }
}

/** A sase device with a property only experts may set (for the GUI's role checks over the broker). */
class GuardedShutter extends defineDevice({
  classId: "GuardedShutter",
  schema: {
    speed: el.double({ access: "reconfigurable", default: 1 }),
    limit: el.double({ access: "reconfigurable", default: 5, requiredAccessLevel: "expert" }),
  },
}) {
  override onInit(): void {
    this.updateState(State.ON);
  }
}

describe("Karabo's middlelayer client drives a sase device server", { skip: SKIP_NO_BROKER }, () => {
  const topic = uniqueTopic("k2s");
  let broker: AmqpBroker;
  let server: DeviceServer;

  before(async () => {
    broker = await connectAmqpBroker({ urls: BROKER_URL, topic, defaultAccessLevel: "operator", log: quiet });
    server = new DeviceServer({ serverId: "SASE_K2S", broker, classes: [TestMotor], log: quiet });
    await server.start();
    await server.instantiate("TestMotor", "SASE/K2S/MOTOR");
  });
  after(async () => {
    await server?.stop();
    await broker?.close();
  });

  it("reads, sets, calls, is refused, starts and kills devices through Karabo's own API", async () => {
    const out = JSON.parse(
      await runPeerPython(
        [
          `${new URL("fixtures/karabo_drives_sase.py", import.meta.url).pathname}`,
          PEER_DIR,
          "SASE_K2S",
          "SASE/K2S/MOTOR",
          "SASE/K2S/NEW",
        ],
        topic,
      ),
    );
    assert.equal(out.error, undefined, out.error);
    assert.equal(out.server_info.type, "server");
    assert.deepEqual(out.server_info.deviceClasses, ["TestMotor"]);
    assert.deepEqual(out.initial, {
      state: "ON",
      position: 0,
      speed: 1.5,
      count: 0,
      label: "m1",
      offsets: [1, 2],
      "sub.gain": 3,
    });
    assert.deepEqual(out.table, [[1, "x"]], "Karabo reads the table as records of (a, b)");
    assert.equal(out.after_set, 5.5);
    assert.match(out.refused, /position.*must be <= 100/);
    assert.deepEqual(out.after_move, { count: 1, position: 6.5 });
    assert.equal(out.started, "SASE/K2S/NEW");
    assert.equal(out.new_position, 2);
    assert.equal(out.gone, true);
    assert.deepEqual(server.deviceIds, ["SASE/K2S/MOTOR"]);
  });
});

describe("sase's client drives Karabo's PeerDevice and PropertyTest", { skip: SKIP_NO_BROKER }, () => {
  const topic = uniqueTopic("s2k");
  let broker: AmqpBroker;
  let client: DeviceClient;
  const peers: ChildProcess[] = [];

  before(async () => {
    peers.push(
      startPeerProcess(
        [
          new URL("fixtures/karabo_server.py", import.meta.url).pathname,
          PEER_DIR,
          topic,
          "K_PEER_SRV",
          "K/PEER/1",
          "K/PT/1",
          "K/IMG/1",
        ],
        topic,
      ),
    );
    broker = await connectAmqpBroker({ urls: BROKER_URL, topic, log: quiet });
    client = new DeviceClient(broker);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const topo = await client.topology();
      if (["K/PEER/1", "K/PT/1", "K/IMG/1"].every((d) => topo.devices.has(d))) break;
      if (Date.now() > deadline) throw new Error(`Karabo peers did not appear: ${[...topo.devices.keys()]}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    await Promise.all(peers.map((p) => stopProcess(p)));
    await broker?.close();
  });

  it("sees Karabo's servers and devices with their instanceInfo", async () => {
    const topo = await client.topology();
    assert.equal(topo.servers.get("K_PEER_SRV")?.deviceClasses?.includes("PeerDevice"), true);
    const peer = topo.devices.get("K/PEER/1");
    assert.equal(peer?.classId, "PeerDevice");
    assert.equal(peer?.serverId, "K_PEER_SRV");
    assert.equal(peer?.heartbeatIntervalMs, 10_000);
  });

  it("reads the PeerDevice's schema and values, sets them, calls its slots and hears the changes", async () => {
    const schema = await client.getSchema("K/PEER/1");
    assert.deepEqual(schema.slotNames().sort(), ["increment", "reset", "slotClearLock"]);
    assert.equal(schema.entry("value")?.access, "reconfigurable");
    assert.equal(schema.entry("state")?.element.kind, "state");
    await client.execute("K/PEER/1", "reset");
    const changes = client.subscribe("K/PEER/1", ["value", "counter"]);
    await broker.settled();
    await client.set("K/PEER/1", "value", 2.25);
    await client.execute("K/PEER/1", "increment");
    const seen = new Map<string, unknown>();
    for await (const c of changes) {
      seen.set(c.key, c.value);
      assert.ok(c.timestamp.sec > 1_700_000_000, "Karabo's sec attribute is carried");
      if (seen.get("counter") === 1 && seen.get("value") === 2.25) break;
    }
    changes.close();
    assert.equal(await client.get("K/PEER/1", "value"), 2.25);
    assert.equal(await client.get("K/PEER/1", "counter"), 1);
    assert.equal(await client.get("K/PEER/1", "state"), "ON");
  });

  it("gets Karabo's error replies as errors", async () => {
    await assert.rejects(client.execute("K/PEER/1", "nosuchslot"), (e: SaseError) => {
      assert.equal(e.code, "UNKNOWN_SLOT");
      return /nosuchslot/.test(e.message);
    });
    await assert.rejects(client.set("K/PT/1", "floatProperty", 5000), /not in allowed range/);
  });

  it("round-trips every PropertyTest property type it can set, and names what it cannot show", async () => {
    const reply = await broker.call<{ unsupported: Record<string, string> }>("K/PT/1", "slotGetSchema");
    for (const reason of Object.values(reply.unsupported)) assert.match(reason, /\w/);
    const schema = await client.getSchema("K/PT/1");
    const kinds = new Set(schema.entries().map((e) => e.element.kind));
    for (const k of [
      "bool",
      "int32",
      "uint32",
      "int64",
      "uint64",
      "float",
      "double",
      "string",
      "vector",
      "table",
      "state",
      "node",
      "slot",
    ])
      assert.ok(kinds.has(k as never), `PropertyTest shows a ${k}`);
    const values: Record<string, unknown> = {
      boolProperty: true,
      int32Property: -7,
      uint32Property: 7,
      int64Property: -(2n ** 40n),
      uint64Property: 2n ** 40n,
      floatProperty: 2.5,
      doubleProperty: 1e-3,
      stringProperty: "sase",
      "vectors.boolProperty": [true, true],
      "vectors.int32Property": [-1, 0, 1],
      "vectors.uint32Property": [4, 5],
      "vectors.int64Property": [3n, -4n],
      "vectors.uint64Property": [8n],
      "vectors.floatProperty": [0.5, 1.5],
      "vectors.doubleProperty": [1.25, 2.5],
      "vectors.stringProperty": ["x", "y"],
      table: [
        {
          intProperty: 3,
          stringProperty: "eggs",
          bool: true,
          boolReadOnly: false,
          floatProperty: 1.5,
          doubleProperty: 2.5,
        },
      ],
      "node.counter": 11,
    };
    await client.reconfigure("K/PT/1", values);
    const conf = await client.getConfiguration("K/PT/1", Object.keys(values));
    for (const [key, want] of Object.entries(values)) {
      const got = conf.values[key];
      if (key === "table") assert.deepEqual((got as Record<string, unknown>[])[0]?.stringProperty, "eggs");
      else assert.deepEqual(got, want, key);
    }
    await client.execute("K/PT/1", "node.increment");
    assert.equal(await client.get("K/PT/1", "node.counterReadOnly"), 12);
    assert.equal(await client.get("K/PT/1", "alarmCondition"), "none");
  });
  it("decodes NDArray and image values read from a Karabo device", async () => {
    const schema = await client.getSchema("K/IMG/1");
    assert.equal(schema.entry("spectrum")?.element.kind, "ndarray");
    assert.equal(schema.entry("frame")?.element.kind, "image");
    const conf = await client.getConfiguration("K/IMG/1", ["spectrum", "frame"]);
    const spectrum = conf.values.spectrum as NDArray;
    assert.equal(spectrum.dtype, "float64");
    assert.deepEqual(spectrum.shape, [5]);
    assert.deepEqual(Array.from(spectrum.data as Float64Array), [0, 0.5, 1, 1.5, 2]);
    const frame = conf.values.frame as { pixels: NDArray };
    assert.equal(frame.pixels.dtype, "uint16");
    assert.deepEqual(frame.pixels.shape, [3, 4]);
    assert.deepEqual(
      Array.from(frame.pixels.data as Uint16Array),
      [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23],
    );
  });
  it("sase gui --broker lists Karabo's and sase's devices and enforces each logged-in user's role", async () => {
    // The device host grants the GUI's broker user expert: the GUI server alone stands between a
    // logged-in operator and an expert-only property (the trust model in README, "Access").
    const hostBroker = await connectAmqpBroker({
      urls: BROKER_URL,
      topic,
      accessLevels: { [decodeURIComponent(new URL(BROKER_URL).username)]: "expert" },
      log: quiet,
    });
    const host = new DeviceServer({
      serverId: "SASE_GUI_SRV",
      broker: hostBroker,
      classes: [GuardedShutter],
      log: quiet,
    });
    await host.start();
    await host.instantiate("GuardedShutter", "SASE/GUI/SHUTTER");
    const bin = join(import.meta.dirname, "../../bin/sase.js");
    const gui = spawn(process.execPath, [bin, "gui", "--broker", BROKER_URL, "--topic", topic], {
      env: { ...process.env, SASE_GUI_PORT: "0", SASE_LOG_LEVEL: "error" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    gui.stderr?.resume();
    const sockets: WebSocket[] = [];
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        gui.stdout?.on("data", (d: Buffer) => {
          out += d;
          const m = /GUI: (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        gui.once("exit", (code) => reject(new Error(`sase gui exited ${code}: ${out}`)));
      });
      const session = async (token?: string) => {
        const ws = new WebSocket(`${url.replace("http", "ws")}ws${token ? `?token=${token}` : ""}`);
        sockets.push(ws);
        const inbox: Record<string, unknown>[] = [];
        const waiters: (() => void)[] = [];
        ws.on("message", (data, binary) => {
          if (binary) return;
          inbox.push(JSON.parse(data.toString()) as Record<string, unknown>);
          for (const w of waiters.splice(0)) w();
        });
        await new Promise((r) => ws.once("open", r));
        const next = async (pred: (m: Record<string, unknown>) => boolean) => {
          for (;;) {
            const i = inbox.findIndex(pred);
            if (i >= 0) return inbox.splice(i, 1)[0]!;
            await new Promise<void>((r) => waiters.push(r));
          }
        };
        let req = 0;
        const request = (m: Record<string, unknown>) => {
          const n = ++req;
          ws.send(JSON.stringify({ ...m, req: n }));
          return next((x) => x.t === "reply" && x.req === n) as Promise<{
            ok: boolean;
            error?: { message: string; field?: string };
          }>;
        };
        return { next, request };
      };
      const login = async (user: string) => {
        const r = await fetch(`${url}api/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user, password: user }),
        });
        assert.equal(r.status, 200);
        return ((await r.json()) as { token: string }).token;
      };

      const observer = await session();
      const devicesOf = (m: Record<string, unknown>) =>
        JSON.stringify(m.topology)
          .match(/"id":"[^"]+"/g)
          ?.map((x) => x.slice(6, -1)) ?? [];
      const topo = await observer.next(
        (m) =>
          m.t === "topology" &&
          ["K/PEER/1", "K/PT/1", "SASE/GUI/SHUTTER"].every((d) => devicesOf(m).includes(d)),
      );
      assert.match(JSON.stringify(topo), /"K_PEER_SRV"/, "Karabo's server is listed");

      const operator = await session(await login("operator"));
      const refused = await operator.request({
        t: "set",
        deviceId: "SASE/GUI/SHUTTER",
        values: { limit: 9 },
      });
      assert.equal(refused.ok, false);
      assert.equal(refused.error?.field, "limit");
      const allowed = await operator.request({
        t: "set",
        deviceId: "SASE/GUI/SHUTTER",
        values: { speed: 2 },
      });
      assert.equal(allowed.ok, true, JSON.stringify(allowed));
      const karabo = await operator.request({ t: "set", deviceId: "K/PEER/1", values: { value: 4.5 } });
      assert.equal(karabo.ok, true, JSON.stringify(karabo));
      assert.equal(await client.get("K/PEER/1", "value"), 4.5);

      const expert = await session(await login("expert"));
      const delegated = await expert.request({
        t: "set",
        deviceId: "SASE/GUI/SHUTTER",
        values: { limit: 9 },
      });
      assert.equal(delegated.ok, true, JSON.stringify(delegated));
      assert.equal(await client.get("SASE/GUI/SHUTTER", "limit"), 9);
      assert.equal(await client.get("SASE/GUI/SHUTTER", "speed"), 2);
    } finally {
      for (const ws of sockets) ws.close();
      await stopProcess(gui);
      await host.stop();
      await hostBroker.close();
    }
  });
});
