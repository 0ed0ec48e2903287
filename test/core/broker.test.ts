import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  InProcessBroker,
  type InstanceInfo,
  type PropertyChange,
  SaseError,
  Stream,
  TimeoutError,
  timestampNow,
  ValidationError,
} from "../../src/core/index.ts";

const info = (heartbeatIntervalMs = 10_000): InstanceInfo => ({
  type: "device",
  host: "h",
  pid: 1,
  heartbeatIntervalMs,
});
const change = (deviceId: string, key: string, value: unknown): PropertyChange => ({
  deviceId,
  key,
  value,
  timestamp: timestampNow(7),
});

describe("in-process broker: calls", () => {
  it("routes a call to its instance and returns the reply", async () => {
    const broker = new InProcessBroker();
    await broker.register("A/B/C", info(), async (req) => ({
      echo: req.args.x,
      slot: req.slot,
      user: req.caller.user,
    }));
    const reply = await broker.call(
      "A/B/C",
      "slotEcho",
      { x: 5 },
      { caller: { user: "ann", accessLevel: "observer" } },
    );
    assert.deepEqual(reply, { echo: 5, slot: "slotEcho", user: "ann" });
    await broker.close();
  });

  it("never runs the callee inside the caller's stack", async () => {
    const broker = new InProcessBroker();
    let inside = false;
    await broker.register("X", info(), async () => inside);
    inside = true;
    const pending = broker.call("X", "s");
    inside = false;
    assert.equal(await pending, false);
    await broker.close();
  });

  it("times out a slot that does not answer, naming device, slot and time", async () => {
    const broker = new InProcessBroker();
    await broker.register("SLOW", info(), () => new Promise(() => {}));
    await assert.rejects(broker.call("SLOW", "hang", {}, { timeoutMs: 30 }), (err: unknown) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.code, "TIMEOUT");
      assert.match(err.message, /no reply from 'SLOW' to hang within 30 ms/);
      return true;
    });
    await broker.close();
  });

  it("refuses a call to an unknown instance, listing those present", async () => {
    const broker = new InProcessBroker();
    await broker.register("HERE", info(), async () => null);
    await assert.rejects(broker.call("GONE", "s"), (err: unknown) => {
      return (
        err instanceof SaseError && err.code === "UNKNOWN_DEVICE" && /'GONE'.*known: HERE/.test(err.message)
      );
    });
    await broker.close();
  });

  it("carries errors as plain data and rebuilds their type", async () => {
    const broker = new InProcessBroker();
    await broker.register("E", info(), async (req) => {
      if (req.slot === "v")
        throw new ValidationError([new SaseError("OUT_OF_RANGE", "'a' = 3: too big", { key: "a" })]);
      throw new TypeError("boom");
    });
    await assert.rejects(
      broker.call("E", "v"),
      (err: unknown) => err instanceof ValidationError && err.errors[0]?.details.key === "a",
    );
    await assert.rejects(
      broker.call("E", "t"),
      (err: unknown) => err instanceof SaseError && err.code === "SLOT_FAILED" && err.message === "boom",
    );
    await broker.close();
  });

  it("refuses a duplicate id and works again after unregister", async () => {
    const broker = new InProcessBroker();
    const h = await broker.register("D", info(), async () => 1);
    await assert.rejects(
      broker.register("D", info(), async () => 2),
      /already exists/,
    );
    await h.unregister();
    await broker.register("D", info(), async () => 2);
    assert.equal(await broker.call("D", "s"), 2);
    await broker.close();
    await assert.rejects(broker.call("D", "s"), /broker is closed/);
  });
});

describe("in-process broker: property streams", () => {
  it("delivers changes to `for await` subscribers, filtered by key and node prefix", async () => {
    const broker = new InProcessBroker();
    const all = broker.subscribe("DEV");
    const node = broker.subscribe("DEV", "hw");
    const other = broker.subscribe("OTHER", "x");
    broker.publish("DEV", [change("DEV", "hw.port", 1), change("DEV", "hwx", 2), change("DEV", "gain", 3)]);
    const got: string[] = [];
    for await (const c of all) {
      got.push(c.key);
      if (got.length === 3) break;
    }
    assert.deepEqual(got, ["hw.port", "hwx", "gain"]);
    const first = await node.next();
    assert.equal(first.value?.key, "hw.port");
    assert.equal(first.value?.timestamp.trainId, 7);
    node.close();
    assert.equal((await node.next()).done, true, "a closed stream ends");
    other.close();
    await broker.close();
  });

  it("delivers to callbacks and to '*' (every device)", async () => {
    const broker = new InProcessBroker();
    const seen: string[] = [];
    const sub = broker.subscribe("*", undefined, (c) => seen.push(`${c.deviceId}.${c.key}`));
    broker.publish("A", [change("A", "k", 1)]);
    broker.publish("B", [change("B", "k", 2)]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ["A.k", "B.k"]);
    sub.close();
    broker.publish("A", [change("A", "k", 3)]);
    await new Promise((r) => setImmediate(r));
    assert.equal(seen.length, 2, "nothing after close");
    await broker.close();
  });

  it("a throwing callback does not stop delivery to others", async () => {
    const broker = new InProcessBroker();
    let n = 0;
    broker.subscribe("A", undefined, () => {
      throw new Error("subscriber bug");
    });
    broker.subscribe("A", undefined, () => n++);
    broker.publish("A", [change("A", "k", 1)]);
    await new Promise((r) => setImmediate(r));
    assert.equal(n, 1);
    await broker.close();
  });

  it("a slow stream drops the oldest changes and counts them", async () => {
    const s = new Stream<number>(3);
    for (let i = 0; i < 10; i++) s.push(i);
    assert.equal(s.dropped, 7);
    assert.deepEqual([(await s.next()).value, (await s.next()).value, (await s.next()).value], [7, 8, 9]);
  });

  it("closing the broker ends every stream", async () => {
    const broker = new InProcessBroker();
    const sub = broker.subscribe("A");
    const pending = sub.next();
    await broker.close();
    assert.equal((await pending).done, true);
  });
});

describe("in-process broker: topology and heartbeats", () => {
  it("reports instances appearing, changing and leaving", async () => {
    const broker = new InProcessBroker();
    const events = broker.watchTopology();
    const h = await broker.register("T", info(), async () => null);
    h.update({ status: "error" });
    await h.unregister("killed");
    const seen = [];
    for await (const e of events) {
      seen.push(`${e.event}:${e.instanceId}:${e.reason ?? e.info.status ?? ""}`);
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, ["new:T:", "updated:T:error", "gone:T:killed"]);
    assert.equal((await broker.topology()).size, 0);
    await broker.close();
  });

  it("declares an instance gone after 3 silent heartbeat intervals, but not one that beats", async () => {
    const broker = new InProcessBroker({ trackerPeriodMs: 20 });
    const gone: string[] = [];
    broker.watchTopology((e) => {
      if (e.event === "gone") gone.push(`${e.instanceId}:${e.reason}`);
    });
    await broker.register("SILENT", info(100), async () => null);
    const alive = await broker.register("ALIVE", info(100), async () => null);
    const beat = setInterval(() => alive.heartbeat(), 50);
    await new Promise((r) => setTimeout(r, 700));
    clearInterval(beat);
    assert.deepEqual(gone, ["SILENT:heartbeat timeout"]);
    assert.deepEqual([...(await broker.topology()).keys()], ["ALIVE"]);
    await assert.rejects(broker.call("SILENT", "s"), /no instance 'SILENT'/);
    await broker.close();
  });

  it("does not declare instances gone because the whole process stalled", async () => {
    const broker = new InProcessBroker({ trackerPeriodMs: 10 });
    const alive = await broker.register("BUSY", info(50), async () => null);
    await new Promise((r) => setTimeout(r, 30));
    const stallEnd = Date.now() + 400; // a 400 ms stall (GC, busy machine): nobody can beat
    while (Date.now() < stallEnd) {}
    // the tracker runs before anyone beats again
    await new Promise((r) => setTimeout(r, 25));
    alive.heartbeat();
    assert.ok((await broker.topology()).has("BUSY"));
    await broker.close();
  });
});
