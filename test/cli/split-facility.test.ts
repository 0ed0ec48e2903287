// The AGIPD chain split over processes (`sase start --config`), small: a timing server with the detector's
// control device, two detector modules, a correction server per module, the assembler and the DAQ, six
// supervised processes on RabbitMQ. The run it records reads back identical to the run the
// single-process facility records for the same trains; a correction server killed with -9 loses only
// its own module's trains, which the assembler's figures name, and comes back by itself.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connectAmqpBroker, createLogger, DeviceClient, type NDArray } from "../../src/core/index.ts";
import { addFacilityDaq, DAQ_DEVICE_ID, resolveDataRoots } from "../../src/daq/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { openRun } from "../../src/files/index.ts";
import { BROKER_URL, SKIP_NO_BROKER, uniqueTopic } from "../core/amqp-helpers.ts";
import { until } from "../helpers/until.ts";
import { tempDir } from "./helpers.ts";
import { type Supervisor, startSupervisor } from "./supervisor.ts";

const CONTROL = "SPB_IRU_AGIPD1M1/MDL/FPGA_COMP";
const DET = (m: number) => `SPB_DET_AGIPD1M-1/DET/${m}CH0`;
const CORR = (m: number) => `SPB_DET_AGIPD1M-1/CORR/${m}CH0`;
const ASSEMBLER = "SPB_DET_AGIPD1M-1/CAL/ASSEMBLER";
/** What the single-process facility's DAQ simulates with these options (tiny modules, few cells). */
const CELLS = 2;
const ROWS = 16;

/** The description: the same device ids and simulation as the single-process facility's. */
function facilityFile(topic: string, data: string, constants: string): unknown {
  const module = (m: number) => ({
    classId: "DetectorModule",
    module: m,
    rows: ROWS,
    rate: 10,
    control: CONTROL,
  });
  const correction = (m: number) => ({
    classId: "ModuleCorrection",
    module: m,
    rows: ROWS,
    control: CONTROL,
    constantsStore: constants,
    input: { connectedOutputChannels: [`${DET(m)}:xtdf`], onSlowness: "drop" },
  });
  return {
    topic,
    timeServer: "T/TSYS/TIMESERVER",
    servers: {
      "T/SRV/TIMING": {
        devices: {
          "T/TSYS/TIMESERVER": { classId: "TimingServer" },
          [CONTROL]: { classId: "AgipdControl", bunchStructure: { nPulses: CELLS } },
        },
      },
      "T/SRV/DET": { devices: { [DET(0)]: module(0), [DET(1)]: module(1) } },
      "T/SRV/CORR0": { devices: { [CORR(0)]: correction(0) } },
      "T/SRV/CORR1": { devices: { [CORR(1)]: correction(1) } },
      "T/SRV/ASSEMBLER": {
        devices: {
          [ASSEMBLER]: {
            classId: "DetectorAssembler",
            matchTimeoutMs: 1000,
            input: { connectedOutputChannels: [`${CORR(0)}:output`, `${CORR(1)}:output`] },
          },
        },
      },
      "T/SRV/DAQ": {
        devices: {
          [DAQ_DEVICE_ID]: {
            classId: "DaqController",
            dataSources: [CONTROL, `${DET(0)}:xtdf`, `${DET(1)}:xtdf`],
            trainTimeoutMs: 2000,
            onlineRoot: join(data, "online"),
            cataloguePath: join(data, "catalogue.sqlite"),
          },
        },
      },
    },
  };
}

type Client = { get(deviceId: string, key: string): Promise<unknown> };

/** `until` over remote reads, which fail while the devices start: a read that fails counts as "not yet". */
const untilRead = (ok: () => Promise<boolean>, what: string) =>
  until(() => ok().catch(() => false), what, 90_000, 200);

/** Waits until both modules send. */
async function sending(c: Client): Promise<void> {
  for (const m of [0, 1])
    await untilRead(async () => Number(await c.get(DET(m), "trainsSent")) > 0, `${DET(m)} sending`);
}

type Control = Client & { execute(d: string, s: string): Promise<unknown> };

/** Starts recording a run; resolves with its directory. */
async function record(c: Control): Promise<string> {
  return ((await c.execute(DAQ_DEVICE_ID, "record")) as { directory: string }).directory;
}

/** Waits for `n` trains recorded, then stops the run. */
async function stopAfter(c: Control, n: number): Promise<void> {
  await untilRead(
    async () => Number(await c.get(DAQ_DEVICE_ID, "trainsRecorded")) >= n,
    `${n} trains recorded`,
  ).catch(async (err: Error) => {
    const figures = ["trainsRecorded", "trainsMatched", "sourceStats", "problems", "status"];
    const values = await Promise.all(figures.map((k) => c.get(DAQ_DEVICE_ID, k).catch(String)));
    throw new Error(
      `${err.message}: ${JSON.stringify(values, (_k, v) => (typeof v === "bigint" ? Number(v) : v))}`,
    );
  });
  await c.execute(DAQ_DEVICE_ID, "stopRecording");
}

/** Per module source and train: the recorded image, cell and pulse bytes. */
async function moduleTrains(dir: string): Promise<Map<string, Map<number, Buffer>>> {
  const run = await openRun(dir);
  try {
    const out = new Map<string, Map<number, Buffer>>();
    for (const m of [0, 1]) {
      const source = `${DET(m)}:xtdf`;
      const trains = new Map<number, Buffer>();
      const keys = ["image.data", "image.cellId", "image.pulseId"].map((k) => run.keyData(source, k));
      const { trainIds, counts } = keys[0]!.dataCounts();
      trainIds.forEach((id, i) => {
        if (!counts[i]) return;
        const parts = keys.map((kd) => {
          const a = kd.trainData(id) as NDArray;
          return Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);
        });
        trains.set(id, Buffer.concat(parts));
      });
      out.set(source, trains);
    }
    return out;
  } finally {
    run.close();
  }
}

describe("the split AGIPD facility", { skip: SKIP_NO_BROKER }, () => {
  const tmp = tempDir("sase-split-agipd-");
  const topic = uniqueTopic("splitagipd");
  const logDir = join(tmp.dir, "logs");
  let supervisor: Supervisor | undefined;
  let broker: Awaited<ReturnType<typeof connectAmqpBroker>> | undefined;
  let client: DeviceClient;
  const pidOf = (server: string) =>
    Number(
      new RegExp(`started ${server.replace(/\//g, "\\/")} \\(pid (\\d+)\\)`).exec(
        supervisor?.stdout() ?? "",
      )?.[1],
    );

  before(async () => {
    const constants = join(tmp.dir, "constants");
    mkdirSync(constants);
    const config = join(tmp.dir, "facility.json");
    writeFileSync(config, JSON.stringify(facilityFile(topic, join(tmp.dir, "split"), constants)));
    // The test acts as an operator on the facility's devices (records runs).
    const users = join(tmp.dir, "users.json");
    writeFileSync(users, JSON.stringify({ "*": "operator" }));
    supervisor = startSupervisor(config, logDir, { SASE_SIM_THREADS: "1", SASE_BROKER_USERS: users });
    broker = await connectAmqpBroker({ urls: BROKER_URL, topic, log: createLogger("t", () => {}) });
    client = new DeviceClient(broker, { user: "test", accessLevel: "operator" }, { timeoutMs: 30_000 });
  });

  after(async () => {
    await broker?.close();
    await supervisor?.stop();
    tmp.cleanup();
  });

  it("records a run that reads back identical to the single-process facility's", {
    timeout: 180_000,
  }, async () => {
    // The single-process facility runs beside it: both timing servers count trains from the same
    // epoch, so the two runs share train IDs, and the data depend only on seed, module and train.
    const roots = resolveDataRoots({ dataDir: join(tmp.dir, "single") }, {});
    const single = await Facility.standard({ trainRate: 10, heartbeatIntervalMs: 60_000 });
    try {
      await addFacilityDaq(single, {
        modules: 2,
        cells: CELLS,
        rows: ROWS,
        onlineRoot: roots.online,
        cataloguePath: roots.catalogue,
      });
      const split = { get: client.get.bind(client), execute: client.execute.bind(client) };
      // Both record once both send.
      await Promise.all([sending(split), sending(single.client)]);
      // The split run spans the single-process one: it starts first and stops last.
      const splitDir = await record(split);
      const singleDir = await record(single.client);
      await stopAfter(single.client, 20);
      await stopAfter(split, 1);
      const a = await moduleTrains(splitDir);
      const b = await moduleTrains(singleDir);
      let common = 0;
      for (const [source, trains] of a) {
        for (const [id, bytes] of trains) {
          const other = b.get(source)!.get(id);
          if (!other) continue;
          common++;
          assert.ok(bytes.equals(other), `${source} train ${id} differs between the two runs`);
        }
      }
      const range = (r: typeof a) => {
        const ids = [...r.values()].flatMap((t) => [...t.keys()]);
        return `${Math.min(...ids)}..${Math.max(...ids)}`;
      };
      // A loaded machine skips trains in each facility (the timing servers skip the IDs they were late
      // for): the runs share some of their trains, not all.
      assert.ok(common >= 2, `${common} module trains in both runs: split ${range(a)}, single ${range(b)}`);
    } finally {
      await single.stop();
    }
  });

  it("loses only a killed correction server's trains, says so, and restarts it", {
    timeout: 180_000,
  }, async () => {
    const stats = async () =>
      new Map(
        (
          (await client.get(ASSEMBLER, "moduleStats")) as {
            source: string;
            received: number;
            missing: number;
          }[]
        ).map((r) => [r.source, r]),
      );
    const of = async (m: number) => (await stats()).get(`${CORR(m)}:output`)!;
    await untilRead(
      async () => (await of(0)).received > 3 && (await of(1)).received > 3,
      "both modules assembled",
    );
    const pid = pidOf("T/SRV/CORR1");
    assert.ok(pid > 0, supervisor?.stdout());
    const before0 = await of(0);
    const before1 = await of(1);
    process.kill(pid, "SIGKILL");
    // The assembler names the module whose trains are lost; module 0's keep arriving, complete.
    await untilRead(async () => (await of(1)).missing >= before1.missing + 10, "module 1 reported missing");
    const problems = (await client.get(ASSEMBLER, "problems")) as string[];
    assert.ok(
      problems.some((p) => p.includes(`${CORR(1)}:output`)),
      `problems: ${problems.join("; ")}`,
    );
    const [now0, now1] = [await of(0), await of(1)];
    assert.ok(now0.received >= before0.received + 5, "module 0's corrected trains keep coming");
    // A loaded machine may drop a train of module 0 too, but not the trains module 1 lost.
    const lost0 = now0.missing - before0.missing;
    const lost1 = now1.missing - before1.missing;
    assert.ok(lost0 * 4 < lost1, `module 0 lost ${lost0} trains, module 1 ${lost1}`);
    assert.ok(Number(await client.get(DET(1), "trainsSent")) > 0, "the detector module keeps sending");
    // The supervisor starts it again, and its trains come back.
    const log = () => readFileSync(join(logDir, "T_SRV_CORR1.log"), "utf8");
    await untilRead(
      async () => /starting T\/SRV\/CORR1 \(run 2\)/.test(log()),
      "the supervisor restarting CORR1",
    );
    const lost = await of(1);
    await untilRead(async () => (await of(1)).received >= lost.received + 5, "module 1 assembled again");
  });
});
