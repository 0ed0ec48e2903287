import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createLogger,
  defineDevice,
  DeviceClient,
  DeviceServer,
  el,
  InProcessBroker,
  SaseError,
  State,
  type TopologyEvent,
} from "../../src/core/index.ts";

const quiet = createLogger("test", () => {});

class Lamp extends defineDevice({
  classId: "Lamp",
  schema: {
    watts: el.double({ default: 60, min: 1, max: 500 }),
    bulb: el.string({ mandatory: true }),
    wiring: el.string({ default: "std", requiredAccessLevel: "expert" }),
    failInit: el.bool({ default: false }),
    on: el.slot({ allowedStates: [State.OFF] }),
  },
}) {
  shutdowns = 0;
  override onInit(): void {
    if (this.get("failInit")) throw new Error("no power");
    this.updateState(State.OFF);
  }
  override onShutdown(): void {
    this.shutdowns++;
  }
  on(): void {
    this.updateState(State.ON);
  }
}

async function setup(heartbeatIntervalMs?: number) {
  const broker = new InProcessBroker({ trackerPeriodMs: 10 });
  const server = new DeviceServer({
    serverId: "srv/1",
    broker,
    classes: [Lamp],
    heartbeatIntervalMs,
    log: quiet,
  });
  await server.start();
  const client = new DeviceClient(broker, { user: "olga", accessLevel: "operator" });
  return { broker, server, client };
}

describe("device server", () => {
  it("instantiates by request through the broker and lists its devices", async () => {
    const { broker, server, client } = await setup();
    assert.deepEqual(await client.instantiate("srv/1", "Lamp", "HALL/LAMP/1", { bulb: "LED" }), {
      deviceId: "HALL/LAMP/1",
    });
    assert.equal(await client.get("HALL/LAMP/1", "state"), State.OFF);
    const topo = await client.topology();
    assert.deepEqual([...topo.servers.keys()], ["srv/1"]);
    assert.deepEqual(topo.servers.get("srv/1")?.deviceClasses, ["Lamp"]);
    assert.equal(topo.devices.get("HALL/LAMP/1")?.classId, "Lamp");
    assert.equal(topo.devices.get("HALL/LAMP/1")?.serverId, "srv/1");
    const schema = await client.getClassSchema("srv/1", "Lamp");
    assert.deepEqual(schema.slotNames(), ["on"]);
    await server.stop();
    await broker.close();
  });

  it("refuses bad instantiation requests, each with a clear reason", async () => {
    const { broker, server, client } = await setup();
    const code = (c: string, re: RegExp) => (err: unknown) =>
      err instanceof SaseError && err.code === c && re.test(err.message);
    await assert.rejects(
      client.instantiate("srv/1", "Heater", "A/B/C", {}),
      code("UNKNOWN_CLASS", /no class 'Heater'; classes: Lamp/),
    );
    await assert.rejects(
      client.instantiate("srv/1", "Lamp", "bad id!", { bulb: "x" }),
      code("BAD_ID", /device id "bad id!"/),
    );
    await assert.rejects(
      client.instantiate("srv/1", "Lamp", "A/B/C", {}),
      code("MISSING_KEY", /'bulb' is mandatory/),
    );
    await assert.rejects(
      client.instantiate("srv/1", "Lamp", "A/B/C", { bulb: "x", watts: 0 }),
      code("OUT_OF_RANGE", /'watts' = 0: must be >= 1/),
    );
    await assert.rejects(
      client.instantiate("srv/1", "Lamp", "A/B/C", { bulb: "x", wiring: "odd" }),
      code("ACCESS_DENIED", /needs access level expert/),
    );
    await assert.rejects(
      client.as({ user: "v", accessLevel: "observer" }).instantiate("srv/1", "Lamp", "A/B/C", { bulb: "x" }),
      code("ACCESS_DENIED", /start a device on srv\/1 needs access level operator/),
    );
    await client.instantiate("srv/1", "Lamp", "A/B/C", { bulb: "x" });
    await assert.rejects(
      client.instantiate("srv/1", "Lamp", "A/B/C", { bulb: "x" }),
      code("DEVICE_EXISTS", /'A\/B\/C' already exists/),
    );
    await assert.rejects(client.request("srv/1", "slotFly"), code("UNKNOWN_SLOT", /no slot 'slotFly'/));
    await server.stop();
    await broker.close();
  });

  it("a device whose init fails is refused and leaves no trace", async () => {
    const { broker, server, client } = await setup();
    await assert.rejects(
      client.instantiate("srv/1", "Lamp", "L/1", { bulb: "x", failInit: true }),
      /initialisation failed: no power/,
    );
    assert.equal((await client.topology()).devices.size, 0);
    assert.deepEqual(server.deviceIds, []);
    await server.stop();
    await broker.close();
  });

  it("kills a device by request: onShutdown runs, watchers see it gone, calls then fail", async () => {
    const { broker, server, client } = await setup();
    const lamp = (await server.instantiate(Lamp, "L/2", { bulb: "x" })) as Lamp;
    const events: TopologyEvent[] = [];
    const watch = broker.watchTopology((e) => events.push(e));
    await client.kill("L/2");
    watch.close();
    assert.equal(lamp.shutdowns, 1);
    assert.deepEqual(
      events.map((e) => `${e.event}:${e.instanceId}:${e.reason}`),
      ["gone:L/2:killed by olga"],
    );
    await assert.rejects(
      client.get("L/2", "state"),
      (err: unknown) => err instanceof SaseError && err.code === "UNKNOWN_DEVICE",
    );
    await assert.rejects(client.kill("L/2"), /no device 'L\/2'/);
    await server.stop();
    await broker.close();
  });

  it("keeps itself and its devices present with heartbeats beyond 3 intervals", async () => {
    const { broker, server } = await setup(100);
    await server.instantiate(Lamp, "L/3", { bulb: "x" });
    const gone: string[] = [];
    broker.watchTopology((e) => e.event === "gone" && gone.push(e.instanceId));
    await new Promise((r) => setTimeout(r, 500)); // > 3 heartbeat intervals; tracker checks every 10 ms
    assert.deepEqual(gone, []);
    assert.deepEqual([...(await broker.topology()).keys()].sort(), ["L/3", "srv/1"]);
    await server.stop();
    assert.deepEqual(gone, ["L/3", "srv/1"]);
    await broker.close();
  });

  it("answers pings with its devices and classes", async () => {
    const { broker, server, client } = await setup();
    await server.instantiate(Lamp, "L/4", { bulb: "x" });
    const ping = await client.request<{ serverId: string; devices: string[]; classes: string[] }>(
      "srv/1",
      "slotPing",
    );
    assert.deepEqual(ping, { serverId: "srv/1", devices: ["L/4"], classes: ["Lamp"], trainId: 0 });
    await server.stop();
    await broker.close();
  });

  it("refuses a class that declares a slot it does not implement", () => {
    const Broken = defineDevice({ classId: "Broken", schema: { go: el.slot() } });
    const server = new DeviceServer({ serverId: "srv/2", broker: new InProcessBroker(), log: quiet });
    assert.throws(() => server.register(Broken), /class Broken declares slot 'go' but has no method go\(\)/);
    assert.throws(() => new DeviceServer({ serverId: "bad id", broker: new InProcessBroker() }), /server id/);
  });
  it("loads a class given as a loader only when it is first used, and lists it before that", async () => {
    const broker = new InProcessBroker();
    let loads = 0;
    const server = new DeviceServer({
      serverId: "srv/lazy",
      broker,
      classLoaders: {
        Lamp: async () => {
          loads++;
          return Lamp;
        },
        Wrong: async () => Lamp,
      },
      log: quiet,
    });
    await server.start();
    assert.deepEqual(server.classIds, ["Lamp", "Wrong"]);
    assert.deepEqual((await broker.topology()).get("srv/lazy")?.deviceClasses, ["Lamp", "Wrong"]);
    assert.equal(loads, 0);
    const client = new DeviceClient(broker, { user: "olga", accessLevel: "operator" });
    const cls = await client.request<{ classId: string }>("srv/lazy", "slotGetClassSchema", {
      classId: "Lamp",
    });
    assert.equal(cls.classId, "Lamp");
    await client.instantiate("srv/lazy", "Lamp", "L/LAZY", { bulb: "x" });
    assert.equal(loads, 1);
    await assert.rejects(server.instantiate("Wrong", "L/W"), /the loader of class 'Wrong' gave class 'Lamp'/);
    await assert.rejects(server.instantiate("Nope", "L/N"), /has no class 'Nope'; classes: Lamp, Wrong/);
    await server.stop();
    await broker.close();
  });
});
