// `sase start --config FILE`: the facility split over supervised `sase server` processes on RabbitMQ.
// A producer on one server streams to a consumer on another (found by name through the broker); the
// consumer's server killed with -9 comes back by itself; Ctrl-C stops every process.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseFacilityFile, readFacilityFile } from "../../src/cli/facility-file.ts";
import { checkDevices } from "../../src/cli/split.ts";
import { connectAmqpBroker, createLogger, DeviceClient } from "../../src/core/index.ts";
import { BROKER_URL, SKIP_NO_BROKER, uniqueTopic } from "../core/amqp-helpers.ts";
import { until } from "../helpers/until.ts";
import { repoRoot, tempDir } from "./helpers.ts";
import { type Supervisor, startSupervisor } from "./supervisor.ts";

describe("facility description files", () => {
  it("are checked, naming what is wrong", () => {
    const bad = (data: unknown, re: RegExp) => assert.throws(() => parseFacilityFile(data, "f.json"), re);
    bad({ servers: {} }, /"servers" must be an object/);
    bad({ servers: { A: { devices: {} } }, extra: 1 }, /unknown key "extra"/);
    bad({ servers: { A: { devices: { "X/Y/Z": {} } } } }, /device X\/Y\/Z needs a "classId"/);
    bad(
      { servers: { A: { devices: { D: { classId: "C" } } }, B: { devices: { D: { classId: "C" } } } } },
      /device D is on two servers: A and B/,
    );
    bad({ servers: { A: { devices: {} } }, gui: { port: -1 } }, /"gui.port" must be a port number/);
  });

  it("may be YAML, with syntax errors placed and device settings checked by key", async () => {
    const tmp = tempDir("sase-yaml-");
    try {
      const small = readFacilityFile(join(repoRoot, "examples", "facility-agipd-small.yaml"));
      await checkDevices(small, "small.yaml");
      const det = small.servers.find((s) => s.serverId.endsWith("/DET0"))!;
      // The merge key copies the first module's settings into the second.
      assert.deepEqual(det.devices.get("SPB_DET_AGIPD1M-1/DET/1CH0")?.configuration, {
        module: 1,
        rows: 16,
        rate: 10,
        control: "SPB_IRU_AGIPD1M1/MDL/FPGA_COMP",
      });
      const file = (name: string, text: string) => {
        const path = join(tmp.dir, name);
        writeFileSync(path, text);
        return path;
      };
      assert.throws(
        () => readFacilityFile(file("a.yml", "servers:\n  A:\n    devices: { X: { classId: C }\n")),
        /a\.yml: not YAML \(.* at line \d+, column \d+\)/,
      );
      assert.throws(
        () => readFacilityFile(file("b.yaml", "servers:\n  A:\n    hots: h1\n    devices: {}\n")),
        /b\.yaml: server A: unknown key "hots" \(known: host, devices\)/,
      );
      const bad = async (devices: string, re: RegExp) =>
        assert.rejects(
          checkDevices(
            readFacilityFile(file("c.yaml", `servers:\n  A:\n    devices:\n      ${devices}\n`)),
            "c.yaml",
          ),
          re,
        );
      await bad(
        "X/Y/Z: { classId: DetectorModul }",
        /device X\/Y\/Z: no class "DetectorModul" \(did you mean DetectorModule\?\)/,
      );
      await bad(
        "X/Y/Z: { classId: DetectorModule, rowz: 3 }",
        /device X\/Y\/Z \(DetectorModule\): 'rowz' = 3: unknown key \(did you mean 'rows'\?\)/,
      );
      await bad(
        "X/Y/Z: { classId: ModuleCorrection, input: { onSlowness: fast } }",
        /'input\.onSlowness' = "fast": must be one of/,
      );
    } finally {
      tmp.cleanup();
    }
  });

  it("the shipped AGIPD demo splits 16 modules over detector and correction servers", async () => {
    const f = readFacilityFile(join(repoRoot, "examples", "facility-agipd.json"));
    const classes = (id: RegExp) =>
      f.servers
        .filter((s) => id.test(s.serverId))
        .flatMap((s) => [...s.devices.values()].map((d) => d.classId));
    assert.equal(classes(/SRV\/DET\d/).filter((c) => c === "DetectorModule").length, 16);
    assert.equal(classes(/SRV\/CORR\d/).filter((c) => c === "ModuleCorrection").length, 16);
    assert.ok(f.servers.filter((s) => /SRV\/CORR\d/.test(s.serverId)).length >= 2);
    for (const c of ["DetectorAssembler", "DaqController", "KaraboBridge"])
      assert.ok(classes(/./).includes(c), c);
    assert.ok(f.gui);
    await checkDevices(f, "facility-agipd.json");
  });
});

describe("sase start --config", { skip: SKIP_NO_BROKER }, () => {
  const tmp = tempDir("sase-split-");
  let supervisor: Supervisor | undefined;
  after(() => {
    supervisor?.child.kill("SIGKILL");
    tmp.cleanup();
  });

  it("runs one process per server, restarts a killed one, and stops them all on Ctrl-C", {
    timeout: 120_000,
  }, async () => {
    const topic = uniqueTopic("split");
    const config = join(tmp.dir, "facility.json");
    writeFileSync(
      config,
      JSON.stringify({
        topic,
        servers: {
          "T/SRV/PRODUCER": {
            devices: { "T/PIPE/PRODUCER": { classId: "StreamProducer", rate: 20, rows: 8, columns: 8 } },
          },
          "T/SRV/CONSUMER": {
            devices: {
              "T/PIPE/CONSUMER": {
                classId: "StreamConsumer",
                input: { connectedOutputChannels: ["T/PIPE/PRODUCER:output"] },
              },
            },
          },
          "T/SRV/ELSEWHERE": { host: "another-host", devices: { "T/X/Y": { classId: "SimulatedMotor" } } },
        },
      }),
    );
    const logDir = join(tmp.dir, "logs");
    const sup = startSupervisor(config, logDir);
    supervisor = sup;
    const broker = await connectAmqpBroker({ urls: BROKER_URL, topic, log: createLogger("t", () => {}) });
    const client = new DeviceClient(broker);
    try {
      const received = async () => {
        try {
          return Number(await client.get("T/PIPE/CONSUMER", "received"));
        } catch {
          return -1;
        }
      };
      // A miss shows what the supervisor said.
      const untilSaid = (ok: () => Promise<boolean>, what: string) =>
        until(ok, () => `${what}; supervisor said:\n${sup.stdout()}`, 60_000, 100);
      await untilSaid(async () => (await received()) >= 5, "images across two server processes");
      assert.match(sup.stdout(), /not here: T\/SRV\/ELSEWHERE \(another-host\)/);
      // It says how to reach its devices: no port file, they are on the broker's topic.
      assert.ok(sup.stdout().includes(`its devices: sase devices --topic ${topic} `), sup.stdout());
      const pid = Number(/started T\/SRV\/CONSUMER \(pid (\d+)\)/.exec(sup.stdout())?.[1]);
      assert.ok(pid > 0, sup.stdout());
      process.kill(pid, "SIGKILL");
      const log = () => readFileSync(join(logDir, "T_SRV_CONSUMER.log"), "utf8");
      await untilSaid(
        async () => /starting T\/SRV\/CONSUMER \(run 2\)/.test(log()),
        "the supervisor restarting it",
      );
      // Only a live process answers: these counts come from the restarted consumer.
      await untilSaid(async () => (await received()) >= 5, "the restarted consumer receiving again");
      const producerPid = Number(/started T\/SRV\/PRODUCER \(pid (\d+)\)/.exec(sup.stdout())?.[1]);
      assert.equal(await sup.stop(), 0);
      const alive = (p: number) => {
        try {
          process.kill(p, 0);
          return true;
        } catch {
          return false;
        }
      };
      assert.equal(alive(producerPid), false, "the producer's server was stopped");
    } finally {
      await broker.close();
    }
  });
});
