// What the network may do to a sase process on RabbitMQ: a consumer that stops reading must not hold up
// anyone else (its queue is capped, oldest dropped), and a broker restarted under running processes
// finds every one of them back: reconnected, queues and bindings declared again, instances announced.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { connect as amqpConnect } from "amqplib";
import {
  type AmqpBroker,
  connectAmqpBroker,
  createLogger,
  DeviceClient,
  DeviceServer,
  defineDevice,
  el,
  State,
} from "../../src/core/index.ts";
import { waitForReady } from "../helpers/child.ts";
import { until } from "../helpers/until.ts";
import { BROKER_URL, SKIP_NO_BROKER, stopProcess, uniqueTopic } from "./amqp-helpers.ts";

const run = promisify(execFile);
const quiet = createLogger("test", () => {});
const fixture = (name: string) => new URL(`fixtures/${name}`, import.meta.url).pathname;

class Counter extends defineDevice({
  classId: "Counter",
  schema: {
    value: el.int32({ access: "reconfigurable", default: 0 }),
    ping: el.slot({ requiredAccessLevel: "observer" }),
  },
}) {
  override onInit(): void {
    this.updateState(State.ON);
  }
  ping(): string {
    return "pong";
  }
}

/** Starts a child process (tsx) and resolves when it printed READY. */
async function startChild(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  await waitForReady(child, `child ${args[0]}`, (out) => out.includes("READY"));
  return child;
}

describe("a consumer that stops reading", { skip: SKIP_NO_BROKER }, () => {
  const topic = uniqueTopic("slow");
  let host: AmqpBroker;
  let server: DeviceServer;
  let slow: ChildProcess | undefined;

  before(async () => {
    host = await connectAmqpBroker({ urls: BROKER_URL, topic, log: quiet });
    server = new DeviceServer({ serverId: "SLOW_SRV", broker: host, classes: [Counter], log: quiet });
    await server.start();
    await server.instantiate("Counter", "SLOW/COUNTER/1");
  });
  after(async () => {
    if (slow) slow.kill("SIGCONT");
    await stopProcess(slow);
    await server?.stop();
    await host?.close();
  });

  it("holds up neither the publisher nor other subscribers; its queue stays capped", async () => {
    const slowId = `slow-${randomBytes(3).toString("hex")}`;
    slow = await startChild([fixture("amqp-subscriber.ts"), BROKER_URL, topic, "SLOW/COUNTER/1", slowId]);
    slow.kill("SIGSTOP");
    const fast = await connectAmqpBroker({ urls: BROKER_URL, topic, log: quiet });
    try {
      let last = -1;
      fast.subscribe("SLOW/COUNTER/1", "value", (c) => {
        last = Number(c.value);
      });
      await fast.settled();
      const device = server.device("SLOW/COUNTER/1")!;
      const n = 12_000;
      const t0 = Date.now();
      for (let i = 1; i <= n; i++) {
        device.set("value", i);
        if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
      }
      await until(() => last === n, "the fast subscriber to see the last update");
      const client = new DeviceClient(fast);
      const c0 = Date.now();
      assert.equal(await client.execute("SLOW/COUNTER/1", "ping"), "pong");
      assert.ok(Date.now() - c0 < 2000, `slot call took ${Date.now() - c0} ms`);
      assert.ok(Date.now() - t0 < 20_000);
      const { stdout } = await run("rabbitmqctl", ["-q", "list_queues", "name", "messages"]);
      const row = stdout.split("\n").find((l) => l.startsWith(`${topic}.${slowId}\t`));
      assert.ok(row, `queue of the stopped consumer in: ${stdout.slice(0, 200)}`);
      assert.ok(Number(row.split("\t")[1]) <= 10_000, `capped at Karabo's 10 000: ${row}`);
    } finally {
      await fast.close();
    }
  });
});

// The private node of the restart test (stopping the shared broker would break every other test on this
// machine). Booting it takes most of this file's time on a busy machine, so it starts when the file
// loads and boots while the slow-consumer test runs on the shared broker.
const node = `sase_${randomBytes(3).toString("hex")}`;
const port = 20_000 + Math.floor(Math.random() * 9_000);
const dir = mkdtempSync(join(tmpdir(), "sase-rmq-"));
const privateNode: Promise<unknown> = SKIP_NO_BROKER
  ? Promise.resolve()
  : run("bash", [fixture("rabbitmq-node.sh"), "start", node, String(port), dir], { timeout: 120_000 });
// Awaited in the test's before(); a failed boot must not surface earlier as an unhandled rejection.
privateNode.catch(() => undefined);

describe("a broker restarted under running processes", { skip: SKIP_NO_BROKER }, () => {
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const topic = uniqueTopic("restart");
  let server: ChildProcess | undefined;
  let watcher: AmqpBroker | undefined;

  before(async () => {
    await privateNode;
  });
  after(async () => {
    await stopProcess(server);
    await watcher?.close();
    await run("bash", [fixture("rabbitmq-node.sh"), "stop", node]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it("every process reconnects, declares its queues again and announces itself again", async () => {
    const bin = new URL("../../bin/sase.js", import.meta.url).pathname;
    const users = join(dir, "users.json");
    writeFileSync(users, JSON.stringify({ guest: "operator" }));
    server = spawn(
      process.execPath,
      [
        bin,
        "server",
        "--broker",
        url,
        "--topic",
        topic,
        "--id",
        "RST_SRV",
        "--heartbeat",
        "1",
        "--device",
        "SimulatedMotor=RST/MOTOR/1",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SASE_BROKER_USERS: users } },
    );
    await waitForReady(server, "sase server", (out) => out.includes("READY"));
    watcher = await connectAmqpBroker({ urls: url, topic, trackerPeriodMs: 100, log: quiet });
    const client = new DeviceClient(watcher);
    await until(
      async () => (await client.topology()).devices.has("RST/MOTOR/1"),
      "the motor in the topology",
    );
    const changes: unknown[] = [];
    watcher.subscribe("RST/MOTOR/1", "state", (c) => changes.push(c.value));
    await watcher.settled();

    const ctl = (what: string) =>
      run("rabbitmqctl", ["-q", "-n", `${node}@localhost`, what], { timeout: 60_000 });
    await ctl("stop_app");
    await ctl("start_app");

    // Both processes find the broker again by themselves; the watcher sees the motor announced again
    // and can call it, and its subscription was bound again.
    await until(
      async () => {
        try {
          return (await client.request("RST/MOTOR/1", "slotPing", {}, 500)) !== undefined;
        } catch {
          return false;
        }
      },
      "a call through the restarted broker",
      30_000,
    );
    assert.ok((await client.topology()).servers.has("RST_SRV"));
    await client.execute("RST/MOTOR/1", "moveTo", { position: 1 });
    await until(() => changes.includes("MOVING"), "the state change after the restart");
    // The device's queue was declared again: held by the server's connection, so a passive declare from
    // another connection is refused as locked (405) where a missing queue would be 404.
    const probe = await amqpConnect(url);
    const ch = await probe.createChannel();
    ch.on("error", () => undefined);
    await assert.rejects(ch.checkQueue(`${topic}.RST/MOTOR/1`), /RESOURCE_LOCKED/);
    await probe.close().catch(() => undefined);
  });
});
