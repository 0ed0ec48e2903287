// One train grid per detector across device servers: each server reports its stages' need to the timing
// server, which publishes the largest per detector; every server applies it, and a participant that
// stops reporting no longer holds the others back.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createLogger,
  DeviceServer,
  InProcessBroker,
  TRAIN_GRID_EXPIRY_MS,
  TRAIN_GRID_LEAD,
} from "../../src/core/index.ts";
import { TimingServer } from "../../src/devices/index.ts";
import { until } from "../helpers/until.ts";

const TIME = "TEST/GRID/TIMESERVER";

const big = (_k: string, x: unknown) => (typeof x === "bigint" ? Number(x) : x);

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
  type Row = {
    detector: string;
    stride: number;
    fromTrain: bigint | number;
    before: number;
    participants: number;
    slowest: string;
  };
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
    await until(
      () => rows().find((r) => r.detector === "AGIPD1M")?.participants === 2,
      () => JSON.stringify(rows()),
    );
    needA = 4;
    shareA.changed();
    // A larger need: A applies it at once, B as soon as the timing server says.
    assert.equal(shareA.stride, 4);
    await until(
      () => shareB.stride === 4,
      () => `B at every ${shareB.stride}th train; grids ${JSON.stringify(rows(), big)}`,
    );
    assert.deepEqual(
      { ...rows().find((r) => r.detector === "AGIPD1M")!, fromTrain: 0 },
      {
        detector: "AGIPD1M",
        stride: 4,
        before: 4,
        fromTrain: 0,
        participants: 2,
        slowest: "TEST/GRID/SRV/A",
      },
    );
    assert.equal(other.stride, 1);
    // A smaller one: both take up every train from the same train on, a little ahead.
    const trainThen = Number(timing.get("trainId"));
    needA = 1;
    shareA.changed();
    await until(
      () => rows().find((r) => r.detector === "AGIPD1M")?.stride === 1,
      () => JSON.stringify(rows(), big),
    );
    const row = rows().find((r) => r.detector === "AGIPD1M")!;
    const from = Number(row.fromTrain);
    assert.equal(row.before, 4);
    assert.ok(
      from >= trainThen + TRAIN_GRID_LEAD && from % 4 === 0,
      `switches at ${from}, decided at ${trainThen}`,
    );
    await until(
      () => shareB.strideAt(from) === 1,
      () => `B at every ${shareB.strideAt(from)}th train from train ${from}`,
    );
    for (const share of [shareA, shareB]) {
      assert.equal(share.strideAt(from - 1), 4);
      assert.equal(share.strideAt(from), 1);
    }
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
    const t0 = performance.now();
    await broker.call(TIME, "reportTrainGrid", { detector: "AGIPD1M", participant: "GONE", stride: 8 });
    await until(
      () => share.stride === 8,
      () => `at every ${share.stride}th train`,
    );
    await until(
      () => share.stride === 1,
      () => `at every ${share.stride}th train; grids ${JSON.stringify(rows())}`,
      TRAIN_GRID_EXPIRY_MS * 6,
    );
    assert.ok(performance.now() - t0 > TRAIN_GRID_EXPIRY_MS * 0.95, "not before it expired");
    // The live participant keeps reporting: it stays.
    assert.equal(rows().find((r) => r.detector === "AGIPD1M")?.participants, 1);
    share.leave();
  });

  it("without a timing server, the stages of one server share theirs at once", async () => {
    const alone = new DeviceServer({
      serverId: "TEST/GRID/SRV/ALONE",
      broker,
      log: createLogger("a", () => {}),
    });
    await alone.start();
    servers.push(alone);
    let need = 1;
    const slow = alone.grids.join("AGIPD1M", () => need);
    const quick = alone.grids.join("AGIPD1M", () => 1);
    need = 8;
    slow.changed();
    assert.equal(quick.strideAt(1000), 8);
    need = 1;
    slow.changed();
    assert.equal(quick.stride, 1);
    slow.leave();
    quick.leave();
  });
});
