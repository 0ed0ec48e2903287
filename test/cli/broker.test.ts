// `sase server` as a real process on RabbitMQ, operated by `sase devices/get/set/call --broker`; killed
// with SIGKILL it leaves the topology within its heartbeats and comes back when restarted.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { registerStartCommands } from "../../src/cli/start.ts";
import { waitForReady } from "../helpers/child.ts";
import { runCliInProcess } from "../helpers/cli.ts";
import {
  type AmqpBroker,
  connectAmqpBroker,
  createLogger,
  type TopologyEvent,
} from "../../src/core/index.ts";
import { BROKER_URL, SKIP_NO_BROKER, stopProcess, uniqueTopic } from "../core/amqp-helpers.ts";

const bin = join(import.meta.dirname, "../../bin/sase.js");
const dir = mkdtempSync(join(tmpdir(), "sase-broker-cli-"));
const users = join(dir, "users.json");
writeFileSync(users, JSON.stringify({ [new URL(BROKER_URL).username]: "operator" }));
const HEARTBEAT_S = 1;

/** Starts `sase server` and resolves once it printed READY. */
async function startServer(topic: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      bin,
      "server",
      "--broker",
      BROKER_URL,
      "--topic",
      topic,
      "--id",
      "CLI_SRV",
      "--heartbeat",
      String(HEARTBEAT_S),
      "--device",
      'SimulatedMotor=CLI/MOTOR/1:{"velocity":2}',
    ],
    { env: { ...process.env, SASE_BROKER_USERS: users }, stdio: ["ignore", "pipe", "pipe"] },
  );
  await waitForReady(child, `sase server --topic ${topic}`, (out) => out.includes("READY"));
  return child;
}

/** `sase ARGS` through the command definitions, in this process. */
async function sase(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runCliInProcess(registerStartCommands, args);
  return { code: r.code, stdout: r.out, stderr: r.err };
}

describe("sase server and the client commands on RabbitMQ", { skip: SKIP_NO_BROKER }, () => {
  const topic = uniqueTopic("cli");
  const on = ["--broker", BROKER_URL, "--topic", topic];
  let server: ChildProcess | undefined;
  let watcher: AmqpBroker;
  const events: TopologyEvent[] = [];

  before(async () => {
    watcher = await connectAmqpBroker({
      urls: BROKER_URL,
      topic,
      trackerPeriodMs: 100,
      log: createLogger("w", () => {}),
    });
    watcher.watchTopology((e) => events.push(e));
    server = await startServer(topic);
  });
  after(async () => {
    await stopProcess(server);
    await watcher?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists, reads, sets and calls through the broker", async () => {
    const devices = await sase("devices", ...on);
    assert.equal(devices.code, 0, devices.stderr);
    assert.match(devices.stdout, /server {2}CLI_SRV {2}classes: .*SimulatedMotor/);
    assert.match(devices.stdout, /CLI\/MOTOR\/1 +SimulatedMotor +STATIC/);
    const set = await sase("set", "CLI/MOTOR/1", "velocity", "3.5", ...on);
    assert.equal(set.code, 0, set.stderr);
    assert.equal((await sase("get", "CLI/MOTOR/1", "velocity", ...on)).stdout, "3.5\n");
    const call = await sase("call", "CLI/MOTOR/1", "moveTo", "position=0.5", ...on);
    assert.equal(call.code, 0, call.stderr);
    const denied = await sase("set", "CLI/MOTOR/1", "lowerLimit", "-5", ...on);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /ACCESS_DENIED: .*needs access level expert; caller '\w+' has operator/);
  });

  it("leaves the topology within its missed heartbeats when killed, and returns on restart", async () => {
    server?.kill("SIGKILL");
    const killedAt = Date.now();
    if (server && server.exitCode === null && server.signalCode === null) await once(server, "exit");
    const gone = (id: string) => events.some((e) => e.event === "gone" && e.instanceId === id);
    while (!(gone("CLI_SRV") && gone("CLI/MOTOR/1")) && Date.now() - killedAt < 10_000)
      await new Promise((r) => setTimeout(r, 50));
    const took = Date.now() - killedAt;
    assert.ok(gone("CLI_SRV") && gone("CLI/MOTOR/1"), "server and device gone");
    assert.ok(took <= 3 * HEARTBEAT_S * 1000 + 1500, `gone after ${took} ms`);
    assert.equal(
      events.find((e) => e.instanceId === "CLI_SRV" && e.event === "gone")?.reason,
      "heartbeat timeout",
    );
    events.length = 0;
    server = await startServer(topic);
    const back = () => events.some((e) => e.event === "new" && e.instanceId === "CLI/MOTOR/1");
    for (const end = Date.now() + 60_000; !back() && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(back(), "the restarted motor announced itself");
    assert.equal((await sase("get", "CLI/MOTOR/1", "velocity", ...on)).stdout, "2\n");
  });
});

describe("sase start --broker", { skip: SKIP_NO_BROKER }, () => {
  it("runs the demo facility's devices on the broker, where any client finds and reads them", async () => {
    const topic = uniqueTopic("start");
    const home = mkdtempSync(join(tmpdir(), "sase-start-broker-"));
    const child = spawn(process.execPath, [bin, "start", "--broker", BROKER_URL, "--topic", topic], {
      env: {
        ...process.env,
        SASE_HOME: home,
        SASE_GUI: "off",
        SASE_BRIDGE_PORT: "0",
        SASE_SIM_MODULES: "2",
        SASE_SIM_CELLS: "1",
        SASE_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let watcher: AmqpBroker | undefined;
    try {
      await waitForReady(child, `sase start --topic ${topic}`, (out) => out.includes(`topic ${topic}`));
      watcher = await connectAmqpBroker({ urls: BROKER_URL, topic, log: createLogger("t", () => {}) });
      // A new client's first topology holds the answers to its discovery that came within 400 ms; on a
      // loaded machine the rest arrive later (or with their next heartbeats): wait for them.
      const ids = ["sase/server/main", "SASE_RR_SYS/TSYS/TIMESERVER", "SASE_SIM_MOTOR/MOTOR/X"];
      let topo = await watcher.topology();
      for (const end = Date.now() + 60_000; !ids.every((id) => topo.has(id)) && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 100));
        topo = await watcher.topology();
      }
      for (const id of ids)
        assert.ok(topo.has(id), `${id} on the broker; found ${[...topo.keys()].join(", ")}`);
      assert.equal(topo.get("SASE_SIM_MOTOR/MOTOR/X")?.serverId, "sase/server/main");
      const conf = await watcher.call<{ values: Record<string, unknown> }>(
        "SASE_SIM_MOTOR/MOTOR/X",
        "slotGetConfiguration",
        { keys: ["velocity"] },
      );
      assert.equal(typeof conf.values.velocity, "number");
    } finally {
      await watcher?.close();
      await stopProcess(child);
      rmSync(home, { recursive: true, force: true });
    }
  });
});
