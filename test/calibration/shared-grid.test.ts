// One train grid for a detector across the processes of a split facility (`sase start --config`, on
// RabbitMQ): the detector modules' server, one server per module correction, the assembler. Module 1's
// correction gets a slow reader that asks to be waited for, so it alone cannot keep up with every train;
// the modules' server and module 0's correction (other processes, quick themselves) back off to the same
// stride through the timing server, the assembler gets whole trains and skips few, and once the slow
// reader goes every process comes back to every train.

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connectAmqpBroker, createLogger, DeviceClient } from "../../src/core/index.ts";
import { InputChannel, resolveOutputsThrough } from "../../src/pipeline/index.ts";
import { tempDir } from "../cli/helpers.ts";
import { type Supervisor, startSupervisor } from "../cli/supervisor.ts";
import { BROKER_URL, SKIP_NO_BROKER, uniqueTopic } from "../core/amqp-helpers.ts";
import { until } from "../helpers/until.ts";

const TIME = "G/TSYS/TIMESERVER";
const CONTROL = "SPB_IRU_AGIPD1M1/MDL/FPGA_COMP";
const DET = (m: number) => `SPB_DET_AGIPD1M-1/DET/${m}CH0`;
const CORR = (m: number) => `SPB_DET_AGIPD1M-1/CORR/${m}CH0`;
const ASSEMBLER = "SPB_DET_AGIPD1M-1/CAL/ASSEMBLER";

function facilityFile(topic: string, constants: string): unknown {
  const module = (m: number) => ({
    classId: "DetectorModule",
    module: m,
    rows: 8,
    rate: 10,
    control: CONTROL,
  });
  const correction = (m: number) => ({
    classId: "ModuleCorrection",
    module: m,
    rows: 8,
    control: CONTROL,
    constantsStore: constants, // empty: raw passes through, quick
    input: { connectedOutputChannels: [`${DET(m)}:xtdf`], onSlowness: "drop" },
  });
  return {
    topic,
    timeServer: TIME,
    servers: {
      "G/SRV/TIMING": {
        devices: {
          [TIME]: { classId: "TimingServer" },
          [CONTROL]: { classId: "AgipdControl", bunchStructure: { nPulses: 2 } },
        },
      },
      "G/SRV/DET": { devices: { [DET(0)]: module(0), [DET(1)]: module(1) } },
      "G/SRV/CORR0": { devices: { [CORR(0)]: correction(0) } },
      "G/SRV/CORR1": { devices: { [CORR(1)]: correction(1) } },
      "G/SRV/ASSEMBLER": {
        devices: {
          [ASSEMBLER]: {
            classId: "DetectorAssembler",
            matchTimeoutMs: 10_000,
            input: {
              connectedOutputChannels: [CORR(0), CORR(1)].map((c) => `${c}:output`),
              onSlowness: "wait",
            },
          },
        },
      },
    },
  };
}

const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x));

/** `until` over remote reads, which fail while the devices start: a read that fails counts as "not yet". */
const untilRead = (ok: () => Promise<boolean>, what: () => string) =>
  until(() => ok().catch(() => false), what, 120_000, 200);

describe("the train grid of a split facility", { skip: SKIP_NO_BROKER }, () => {
  const tmp = tempDir("sase-shared-grid-");
  const topic = uniqueTopic("sharedgrid");
  let supervisor: Supervisor | undefined;
  let broker: Awaited<ReturnType<typeof connectAmqpBroker>> | undefined;
  let client: DeviceClient;
  const inputs: InputChannel[] = [];

  before(async () => {
    const constants = join(tmp.dir, "constants");
    mkdirSync(constants);
    const config = join(tmp.dir, "facility.json");
    writeFileSync(config, JSON.stringify(facilityFile(topic, constants)));
    supervisor = startSupervisor(config, join(tmp.dir, "logs"), { SASE_SIM_THREADS: "1" });
    broker = await connectAmqpBroker({ urls: BROKER_URL, topic, log: createLogger("t", () => {}) });
    resolveOutputsThrough(broker);
    client = new DeviceClient(broker, { user: "test", accessLevel: "operator" }, { timeoutMs: 30_000 });
  });

  after(async () => {
    for (const i of inputs) await i.close();
    await broker?.close();
    await supervisor?.stop();
    tmp.cleanup();
  });

  it("one slow correction backs every process off to its stride, whole trains reach the viewer, and all come back", {
    timeout: 240_000,
  }, async () => {
    const n = async (id: string, key: string) => Number(await client.get(id, key));
    const present: number[] = [];
    const viewer = new InputChannel("G/TEST/VIEWER:input", {
      connectedOutputChannels: [`${ASSEMBLER}:output`],
    })
      .onData((t) => {
        present.push(Number(t.data.get("image.modulesPresent")));
      })
      .connect();
    inputs.push(viewer);
    await viewer.waitConnected(120_000);
    await untilRead(
      async () => present.length >= 3,
      () => `whole trains at the viewer (got ${present.length})`,
    );
    const stages = [DET(0), DET(1), CORR(0), CORR(1)];
    const strides = () => Promise.all(stages.map((id) => n(id, "trainStride")));
    let figures = "";

    // Module 1's correction now waits for a reader that takes 300 ms per train: too slow for every train.
    const slow = new InputChannel("G/TEST/SLOW:input", {
      connectedOutputChannels: [`${CORR(1)}:output`],
      onSlowness: "wait",
    })
      .onData(() => new Promise((r) => setTimeout(r, 300)))
      .connect();
    inputs.push(slow);
    await slow.waitConnected(60_000);
    await untilRead(
      async () => {
        const [s, need0, need1] = await Promise.all([
          strides(),
          n(CORR(0), "trainStrideNeeded"),
          n(CORR(1), "trainStrideNeeded"),
        ]);
        figures = `strides ${stages.map((id, i) => `${id} ${s[i]}`).join(", ")}; own needs: correction 0 ${need0}, correction 1 ${need1}`;
        return need1 >= 2 && need0 === 1 && s.every((x) => x === s[0] && x >= 2);
      },
      () => figures,
    );
    // The timing server names who needs it.
    const grids = (await client.get(TIME, "trainGrids")) as {
      detector: string;
      stride: number;
      participants: number;
      slowest: string;
    }[];
    const row = grids.find((g) => g.detector === "AGIPD1M");
    assert.equal(row?.participants, 3, show(grids));
    assert.ok(row!.stride >= 2, show(grids));

    // While backed off, the assembler gets whole trains: few of the trains it sees lack a module.
    const [assembled0, skipped0] = await Promise.all([
      n(ASSEMBLER, "trainsAssembled"),
      n(ASSEMBLER, "trainsSkipped"),
    ]);
    const seen = present.length;
    let assembled = 0;
    let skipped = 0;
    await untilRead(
      async () => {
        assembled = (await n(ASSEMBLER, "trainsAssembled")) - assembled0;
        skipped = (await n(ASSEMBLER, "trainsSkipped")) - skipped0;
        return assembled >= 20;
      },
      () => `20 trains assembled while backed off (${assembled} assembled, ${skipped} skipped)`,
    );
    // Stages each on a grid of their own would skip at least one train per train assembled (module 0's
    // correction taking every train, module 1's every 2nd or 4th); on one grid only the trains around a
    // change of stride go, and those module 1's correction lost while it was too slow for its stride.
    assert.ok(skipped * 2 <= assembled, `${assembled} trains assembled, ${skipped} skipped as incomplete`);
    assert.ok(present.length > seen, "images kept coming");
    assert.ok(
      present.every((p) => p === 2),
      `modules present in the images the viewer got: ${present.join(",")}`,
    );

    // The slow reader goes: every process is back to every train.
    await slow.close();
    await untilRead(
      async () => {
        const s = await strides();
        figures = `strides after the slow reader left: ${s.join(", ")}`;
        return s.every((x) => x === 1);
      },
      () => figures,
    );
  });
});
