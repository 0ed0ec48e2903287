import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type Caller,
  defineDevice,
  DeviceClient,
  DeviceServer,
  el,
  InProcessBroker,
  type PropertyChange,
  SaseError,
  type SchemaSpec,
  State,
  ValidationError,
  createLogger,
} from "../../src/core/index.ts";
import { TimingServer } from "../../src/devices/index.ts";

const schema = {
  gain: el.double({ access: "reconfigurable", min: 0, max: 10, default: 1, allowedStates: [State.ON] }),
  mode: el.string({ access: "reconfigurable", options: ["a", "b"], default: "a" }),
  serial: el.string({ default: "S0" }),
  reading: el.double({ access: "readOnly", default: 0 }),
  expertKnob: el.int32({ access: "reconfigurable", default: 0, requiredAccessLevel: "expert" }),
  work: el.slot({
    allowedStates: [State.ON],
    args: { n: el.int32({ min: 0, default: 1 }), tag: el.string({ mandatory: true }) },
  }),
  crash: el.slot(),
  crashLater: el.slot(),
  hang: el.slot(),
  reset: el.slot({ allowedStates: [State.ERROR] }),
  secret: el.slot({ requiredAccessLevel: "admin" }),
} satisfies SchemaSpec;

class Probe extends defineDevice({ classId: "Probe", schema }) {
  override onInit(): void {
    this.updateState(State.ON, "ready");
  }
  override onReconfigure(changes: { gain?: number; mode?: string }): void {
    if (changes.gain === 7) this.refuse("gain 7 is unlucky");
  }
  work(args: { n?: number; tag?: string }): unknown {
    this.set("reading", args.n ?? 0);
    return { did: args.tag, n: args.n };
  }
  crash(): void {
    const o: { x?: { y: number } } = {};
    o.x!.y = 1; // a genuine bug: TypeError
  }
  crashLater(): void {
    this.background("acquisition", async () => {
      throw new Error("detector link lost");
    });
  }
  hang(): Promise<void> {
    return new Promise(() => {});
  }
  reset(): void {
    this.updateState(State.ON, "reset");
  }
  secret(): string {
    return "ok";
  }
}

const op: Caller = { user: "olga", accessLevel: "operator" };
const quiet = createLogger("test", () => {});

describe("device", () => {
  let broker: InProcessBroker;
  let server: DeviceServer;
  let client: DeviceClient;
  const ID = "TEST/PROBE/1";

  before(async () => {
    broker = new InProcessBroker();
    server = new DeviceServer({
      serverId: "test/server",
      broker,
      classes: [Probe, TimingServer],
      timeServerId: "TEST/TIME/1",
      log: quiet,
    });
    await server.start();
    await server.instantiate("TimingServer", "TEST/TIME/1", { frequency: 100, firstTrainId: 1000n });
    await server.instantiate("Probe", ID, { serial: "S42" });
    client = new DeviceClient(broker, op);
  });
  after(async () => {
    await server.stop();
    await broker.close();
  });

  it("starts with defaults, init values, base keys and the state set by onInit", async () => {
    const c = await client.getConfiguration(ID);
    assert.equal(c.values.deviceId, ID);
    assert.equal(c.values.classId, "Probe");
    assert.equal(c.values.serverId, "test/server");
    assert.equal(c.values.serial, "S42");
    assert.equal(c.values.gain, 1);
    assert.equal(c.values.state, State.ON);
    assert.equal(c.values.status, "ready");
  });

  it("stamps every update with the timing server's train ID", async () => {
    await client.waitFor("TEST/TIME/1", "trainId", (v) => (v as bigint) >= 1003n);
    const sub = client.subscribe(ID, "gain");
    await client.set(ID, "gain", 2);
    const { value } = await sub.next();
    sub.close();
    assert.equal(value?.value, 2);
    assert.ok(value!.timestamp.trainId >= 1002, `train ${value?.timestamp.trainId}`);
    const c = await client.getConfiguration(ID, ["gain"]);
    assert.equal(c.timestamps.gain?.trainId, value!.timestamp.trainId);
  });

  it("applies a reconfiguration all-or-nothing", async () => {
    const seen: PropertyChange[] = [];
    const sub = broker.subscribe(ID, undefined, (c) => seen.push(c));
    await assert.rejects(client.reconfigure(ID, { gain: 3, mode: "zzz" }), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.equal(err.code, "NOT_IN_OPTIONS");
      assert.match(err.message, /'mode' = "zzz": must be one of "a", "b"/);
      return true;
    });
    assert.equal(await client.get(ID, "gain"), 2, "the valid key was not applied either");
    await client.reconfigure(ID, { gain: 3, mode: "b" });
    await new Promise((r) => setImmediate(r));
    sub.close();
    assert.deepEqual(
      seen.map((c) => `${c.key}=${c.value}`),
      ["gain=3", "mode=b"],
    );
    assert.equal(seen[0]!.timestamp, seen[1]!.timestamp, "one timestamp for the batch");
  });

  it("lets the device refuse a reconfiguration in onReconfigure", async () => {
    await assert.rejects(
      client.set(ID, "gain", 7),
      (err: unknown) => err instanceof SaseError && err.code === "REFUSED" && /unlucky/.test(err.message),
    );
    assert.equal(await client.get(ID, "gain"), 3);
  });

  it("refuses read-only, init-only, unknown keys and insufficient access", async () => {
    await assert.rejects(client.set(ID, "reading", 1), /'reading' = 1: is read-only/);
    await assert.rejects(
      client.set(ID, "serial", "X"),
      /'serial' = "X": can only be set when the device is instantiated/,
    );
    await assert.rejects(client.set(ID, "gian", 1), /unknown key \(did you mean 'gain'\?\)/);
    await assert.rejects(
      client.set(ID, "expertKnob", 1),
      (err: unknown) => err instanceof SaseError && err.code === "ACCESS_DENIED",
    );
    await client.as({ user: "eve", accessLevel: "expert" }).set(ID, "expertKnob", 1);
    await assert.rejects(
      client.as({ user: "obs", accessLevel: "observer" }).set(ID, "mode", "a"),
      /needs access level operator; caller 'obs' has observer/,
    );
  });

  it("treats a request that names no caller as an anonymous observer", async () => {
    await assert.rejects(
      broker.call(ID, "slotReconfigure", { configuration: { mode: "a" } }),
      /caller 'anonymous' has observer/,
    );
    await assert.rejects(
      broker.call(ID, "work", { tag: "x" }),
      (err: unknown) => err instanceof SaseError && err.code === "ACCESS_DENIED",
    );
    assert.equal(
      ((await broker.call(ID, "slotPing")) as { state: string }).state,
      State.ON,
      "reading is allowed",
    );
  });

  it("calls slots with validated arguments and returns their reply", async () => {
    assert.deepEqual(await client.execute(ID, "work", { n: 4, tag: "t1" }), { did: "t1", n: 4 });
    assert.equal(await client.get(ID, "reading"), 4);
    await assert.rejects(client.execute(ID, "work", { n: 1 }), /argument 'tag' is required/);
    await assert.rejects(
      client.execute(ID, "work", { n: -1, tag: "x" }),
      /work argument 'n' = -1: must be >= 0/,
    );
    await assert.rejects(client.execute(ID, "work", { tag: "x", extra: 1 }), /unknown key/);
    await assert.rejects(
      client.execute(ID, "secret", {}),
      (err: unknown) => err instanceof SaseError && err.code === "ACCESS_DENIED",
    );
    assert.equal(await client.as({ user: "root", accessLevel: "admin" }).execute(ID, "secret"), "ok");
    await assert.rejects(client.execute(ID, "crash", { x: 1 }), /takes no arguments/);
  });

  it("refuses unknown slots and slots outside allowedStates", async () => {
    await assert.rejects(
      client.execute(ID, "wrok"),
      (err: unknown) =>
        err instanceof SaseError && err.code === "UNKNOWN_SLOT" && /slots: work, crash/.test(err.message),
    );
    await assert.rejects(
      client.execute(ID, "reset"),
      (err: unknown) =>
        err instanceof SaseError &&
        err.code === "WRONG_STATE" &&
        /allowed only in ERROR; device is ON/.test(err.message),
    );
  });

  it("times out a slot that never answers; the device keeps serving", async () => {
    await assert.rejects(
      client.execute(ID, "hang", {}, 50),
      (err: unknown) => err instanceof SaseError && err.code === "TIMEOUT",
    );
    assert.equal(await client.get(ID, "state"), State.ON);
  });

  it("a crash in a slot puts the device in ERROR with the reason; the server survives", async () => {
    await server.instantiate(Probe, "TEST/PROBE/2");
    await assert.rejects(
      client.execute("TEST/PROBE/2", "crash"),
      (err: unknown) => err instanceof SaseError && err.code === "SLOT_FAILED",
    );
    const c = await client.getConfiguration("TEST/PROBE/2", ["state", "status"]);
    assert.equal(c.values.state, State.ERROR);
    assert.match(String(c.values.status), /slot 'crash' failed: Cannot set properties of undefined/);
    assert.equal(
      (await client.topology()).devices.get("TEST/PROBE/2")?.status,
      "error",
      "presence shows the error",
    );
    const ping = await client.request<{ devices: string[] }>("test/server", "slotPing");
    assert.ok(ping.devices.includes("TEST/PROBE/2"));
    await assert.rejects(
      client.execute("TEST/PROBE/2", "work", { tag: "x" }),
      /allowed only in ON; device is ERROR/,
    );
    await client.execute("TEST/PROBE/2", "reset");
    assert.equal(await client.get("TEST/PROBE/2", "state"), State.ON);
  });

  it("a crash in a background task puts the device in ERROR", async () => {
    await server.instantiate(Probe, "TEST/PROBE/3");
    await client.execute("TEST/PROBE/3", "crashLater");
    const status = await client.waitFor(
      "TEST/PROBE/3",
      "status",
      (s) => /acquisition failed/.test(String(s)),
      2000,
    );
    assert.match(String(status), /detector link lost/);
    assert.equal(await client.get("TEST/PROBE/3", "state"), State.ERROR);
  });

  it("device code setting a wrong value is refused locally", () => {
    const dev = server.device("TEST/PROBE/3") as Probe;
    assert.throws(() => dev.set("gain", 11), /'gain' = 11: must be <= 10/);
    assert.throws(() => dev.set("mode", 5 as unknown as "a"), /expected a string/);
    assert.equal(dev.get("gain"), 1);
  });

  it("reads the configuration of an unknown device as UNKNOWN_DEVICE", async () => {
    await assert.rejects(
      client.getConfiguration("NO/SUCH/DEVICE"),
      (err: unknown) => err instanceof SaseError && err.code === "UNKNOWN_DEVICE",
    );
    await assert.rejects(client.getConfiguration(ID, ["nokey"]), /unknown key 'nokey'/);
  });

  it("gives its schema as data to remote clients", async () => {
    const s = await client.getSchema(ID);
    assert.deepEqual(s.slotNames(), ["work", "crash", "crashLater", "hang", "reset", "secret"]);
    assert.equal(s.entry("gain")?.access, "reconfigurable");
  });
});
