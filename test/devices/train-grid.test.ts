// One train grid per detector across device servers: each server reports its stages' need to the timing
// server, which publishes the largest per detector; every server applies it, and a participant that
// stops reporting no longer holds the others back.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createLogger, DeviceServer, InProcessBroker, TRAIN_GRID_EXPIRY_MS } from "../../src/core/index.ts";
import { TimingServer } from "../../src/devices/index.ts";

const TIME = "TEST/GRID/TIMESERVER";

async function until(ok: () => boolean, what: () => string, ms = 30_000): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("train grids shared through the timing server", () => {
  const broker = new InProcessBroker();
  const servers: DeviceServer[] = [];
  const server = async (id: string) => {
    const s = new DeviceServer({ serverId: id, broker, timeServerId: TIME, log: createLogger(id, () => {}) });
    await s.start();
    servers.push(s);
    return s;
  };
  let timing: TimingServer;
  type Row = { detector: string; stride: number; participants: number; slowest: string };
  const rows = () => timing.get("trainGrids") as Row[];

  before(async () => {
    timing = (await (await server("TEST/GRID/SRV/TIMING")).instantiate(TimingServer, TIME)) as TimingServer;
  });
  after(async () => {
    for (const s of servers.reverse()) await s.stop();
    await broker.close();
  });

  it("every server applies the largest need, and it comes back down when that need does", async () => {
    const a = await server("TEST/GRID/SRV/A");
    const b = await server("TEST/GRID/SRV/B");
    let needA = 1;
    const shareA = a.grids.join("AGIPD1M", () => needA);
    const shareB = b.grids.join("AGIPD1M", () => 1);
    // Another detector's grid is its own.
    const other = b.grids.join("LPD1M", () => 1);
    needA = 4;
    shareA.changed();
    // A applies its own need at once; B through the timing server.
    assert.equal(shareA.stride, 4);
    await until(
      () => shareB.stride === 4,
      () => `B at every ${shareB.stride}th train; grids ${JSON.stringify(rows())}`,
    );
    await until(
      () => rows().find((r) => r.detector === "AGIPD1M")?.participants === 2,
      () => JSON.stringify(rows()),
    );
    assert.deepEqual(
      rows().find((r) => r.detector === "AGIPD1M"),
      { detector: "AGIPD1M", stride: 4, participants: 2, slowest: "TEST/GRID/SRV/A" },
    );
    assert.equal(other.stride, 1);
    needA = 1;
    shareA.changed();
    await until(
      () => shareA.stride === 1 && shareB.stride === 1,
      () => `A at ${shareA.stride}, B at ${shareB.stride}`,
    );
    // A server whose last member leaves no longer takes part.
    shareA.leave();
    await until(
      () => rows().find((r) => r.detector === "AGIPD1M")?.participants === 1,
      () => JSON.stringify(rows()),
    );
    shareB.leave();
    other.leave();
    await until(
      () => rows().length === 0,
      () => JSON.stringify(rows()),
    );
  });

  it("a participant that stops reporting no longer counts once it has been silent too long", async () => {
    const b = await server("TEST/GRID/SRV/C");
    const share = b.grids.join("AGIPD1M", () => 1);
    // A process that reported once and died (no clean leave).
    await broker.call(TIME, "reportTrainGrid", { detector: "AGIPD1M", participant: "GONE", stride: 8 });
    await until(
      () => share.stride === 8,
      () => `at every ${share.stride}th train`,
    );
    const t0 = performance.now();
    await until(
      () => share.stride === 1,
      () => `at every ${share.stride}th train; grids ${JSON.stringify(rows())}`,
      TRAIN_GRID_EXPIRY_MS * 6,
    );
    assert.ok(performance.now() - t0 > TRAIN_GRID_EXPIRY_MS * 0.8, "not before it expired");
    // The live participant keeps reporting: it stays.
    assert.equal(rows().find((r) => r.detector === "AGIPD1M")?.participants, 1);
    share.leave();
  });
});
