import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createLogger,
  DeviceClient,
  DeviceServer,
  InProcessBroker,
  type PropertyChange,
  State,
  timestampToMs,
} from "../../src/core/index.ts";
import { TimingServer } from "../../src/devices/index.ts";

describe("timing server", () => {
  let broker: InProcessBroker;
  let server: DeviceServer;
  let client: DeviceClient;
  const ID = "TEST/TIME/1";

  before(async () => {
    broker = new InProcessBroker();
    server = new DeviceServer({
      serverId: "t/srv",
      broker,
      timeServerId: ID,
      log: createLogger("t", () => {}),
    });
    await server.start();
    await server.instantiate(TimingServer, ID, { frequency: 50, firstTrainId: 5000n });
    client = new DeviceClient(broker, { user: "t", accessLevel: "operator" });
  });
  after(async () => {
    await server.stop();
    await broker.close();
  });

  async function collect(n: number): Promise<PropertyChange[]> {
    const sub = client.subscribe(ID, "trainId");
    const out: PropertyChange[] = [];
    for await (const c of sub) if (out.push(c) === n) break;
    return out;
  }

  it("emits consecutive train IDs at the configured rate, each stamped with its own train", async () => {
    const ticks = await collect(11);
    const ids = ticks.map((t) => Number(t.value as bigint));
    assert.ok(ids[0]! >= 5000);
    assert.deepEqual(
      ids,
      ids.map((_, i) => ids[0]! + i),
      "no gaps",
    );
    assert.ok(
      ticks.every((t) => t.timestamp.trainId === Number(t.value)),
      "timestamp carries the train",
    );
    const span = timestampToMs(ticks.at(-1)!.timestamp) - timestampToMs(ticks[0]!.timestamp);
    // never faster than the rate; the upper bound is loose because a loaded machine delays timers
    assert.ok(span > 150 && span < 2000, `10 periods at 50 Hz = 200 ms, got ${span} ms`);
    assert.equal(server.clock.trainId >= ids.at(-1)!, true, "the server's clock follows the ticks");
  });

  it("changes rate on reconfiguration", async () => {
    await client.set(ID, "frequency", 200);
    await collect(2); // the tick already scheduled at the old rate
    const ticks = await collect(21);
    const gaps = ticks
      .slice(1)
      .map((t, i) => timestampToMs(t.timestamp) - timestampToMs(ticks[i]!.timestamp));
    const median = gaps.sort((a, b) => a - b)[gaps.length >> 1]!;
    assert.ok(
      median >= 3 && median < 12,
      `median gap at 200 Hz should be 5 ms (20 ms at 50 Hz), got ${median} ms`,
    );
  });

  it("stops and starts again without going back in train IDs", async () => {
    await client.execute(ID, "stop");
    assert.equal(await client.get(ID, "state"), State.STOPPED);
    const stoppedAt = (await client.get(ID, "trainId")) as bigint;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await client.get(ID, "trainId"), stoppedAt, "no ticks while stopped");
    await assert.rejects(client.execute(ID, "stop"), /allowed only in STARTED/);
    await client.execute(ID, "start");
    const [next] = await collect(1);
    assert.ok((next!.value as bigint) > stoppedAt);
  });

  it("refuses a rate outside (0, 1000] Hz", async () => {
    await assert.rejects(client.set(ID, "frequency", 0), /'frequency' = 0: must be > 0/);
    await assert.rejects(client.set(ID, "frequency", 2000), /must be <= 1000/);
  });
});
