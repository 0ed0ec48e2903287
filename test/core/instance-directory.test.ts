// The networked broker's list of instances, kept by heartbeats (Karabo's instance tracker).
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import type { InstanceInfo, TopologyEvent } from "../../src/core/index.ts";
import { InstanceDirectory } from "../../src/core/instance-directory.ts";

const device = (serverId: string, heartbeatIntervalMs = 10_000): InstanceInfo => ({
  type: "device",
  serverId,
  host: "h",
  pid: 1,
  heartbeatIntervalMs,
});
const server = (heartbeatIntervalMs = 10_000): InstanceInfo => ({
  type: "server",
  host: "h",
  pid: 1,
  heartbeatIntervalMs,
});

function directory(own: string[] = []): {
  dir: InstanceDirectory;
  events: string[];
  dropped: string[];
} {
  const events: string[] = [];
  const dropped: string[] = [];
  const dir = new InstanceDirectory(
    100,
    (id) => own.includes(id),
    (id) => dropped.push(id),
  );
  dir.watch((e: TopologyEvent) =>
    events.push(`${e.event} ${e.instanceId}${e.event === "gone" ? ` (${e.reason})` : ""}`),
  );
  return { dir, events, dropped };
}

describe("instance directory", () => {
  it("lists an instance once, and tells of a change only when its info changed or it said so", () => {
    const { dir, events } = directory();
    dir.seen("A/B/C", device("srv"), false);
    dir.seen("A/B/C", device("srv"), false);
    dir.seen("A/B/C", { ...device("srv"), status: "error" }, false);
    dir.seen("A/B/C", { ...device("srv"), status: "error" }, true);
    assert.deepEqual(events, ["new A/B/C", "updated A/B/C", "updated A/B/C"]);
    assert.deepEqual([...dir.list().keys()], ["A/B/C"]);
  });

  it("answers a beat of an unknown instance with false, so that the broker asks who it is", () => {
    const { dir } = directory();
    assert.equal(dir.beat("X/Y/Z"), false);
    dir.seen("X/Y/Z", device("srv"), false);
    assert.equal(dir.beat("X/Y/Z"), true);
  });

  it("drops an instance that missed its beats; a silent server takes its devices, not others'", async () => {
    const { dir, events, dropped } = directory();
    dir.seen("srv", server(5), false);
    dir.seen("D/ON/SRV", device("srv", 60_000), false);
    dir.seen("D/ON/OTHER", device("other", 60_000), false);
    await sleep(40);
    dir.expire(1000, 3);
    assert.deepEqual(events.slice(3), [
      "gone srv (heartbeat timeout)",
      "gone D/ON/SRV (server heartbeat timeout)",
    ]);
    assert.deepEqual(dropped, ["srv", "D/ON/SRV"]);
    assert.deepEqual([...dir.list().keys()], ["D/ON/OTHER"]);
  });

  it("keeps an instance whose beats arrive, and forgives a stalled event loop", async () => {
    const { dir, events } = directory();
    dir.seen("A", device("s", 10), false);
    dir.seen("B", device("s", 10), false);
    dir.expire(10, 3);
    await sleep(100);
    dir.beat("A");
    // Checked every 10 ms but last checked 100 ms ago: the loop stalled, and B's silence with it.
    dir.expire(10, 3);
    assert.deepEqual(events, ["new A", "new B"]);
    await sleep(100);
    // Checked as often as expected this time (a period longer than the wait): no stall to forgive.
    dir.expire(10_000, 3);
    assert.deepEqual(events.slice(2), ["gone A (heartbeat timeout)", "gone B (heartbeat timeout)"]);
  });

  it("never expires or forgets this process's own instances, and lists them as registered", async () => {
    const { dir, events } = directory(["OWN/DEV/1"]);
    dir.setOwn("OWN/DEV/1", device("me", 5), "new");
    dir.seen("OWN/DEV/1", device("me", 5), false);
    await sleep(40);
    dir.expire(1000, 3);
    dir.forget("OWN/DEV/1", "shutdown");
    assert.deepEqual(events, ["new OWN/DEV/1"]);
    dir.removeOwn("OWN/DEV/1", device("me", 5), "shutdown");
    assert.deepEqual(events, ["new OWN/DEV/1", "gone OWN/DEV/1 (shutdown)"]);
    assert.equal(dir.list().has("OWN/DEV/1"), false);
  });

  it("ends its watchers' streams on close", async () => {
    const dir = new InstanceDirectory(10, () => false);
    const events = dir.watch()[Symbol.asyncIterator]();
    dir.seen("A", device("s"), false);
    assert.equal((await events.next()).value?.instanceId, "A");
    const waiting = events.next();
    dir.close();
    assert.equal((await waiting).done, true);
  });
});
