// bench/broker.ts over RabbitMQ: every figure between separate processes on the loopback broker.
// sase client → sase device (a `--host` child of this file), beside Karabo's middlelayer client →
// middlelayer device (broker_mdl.py, Karabo 3.0.13 from ../shared/peers/karabo) in the same run, and a
// raw amqplib publish/consume round trip; plus the resident memory of an idle `sase server`.
// Sizes: BENCH_AMQP_CALLS (default 5000), BENCH_AMQP_UPDATES (default 20 000). RabbitMQ from
// $KARABO_BROKER (default amqp://xfel:karabo@127.0.0.1:5672); skipped, saying so, when unreachable.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { connect as amqpConnect } from "amqplib";
import {
  connectAmqpBroker,
  createLogger,
  DeviceClient,
  DeviceServer,
  defineDevice,
  el,
  State,
} from "../../src/core/index.ts";
import { loadAverage, percentile } from "./stats.ts";

const URL_ = (process.env.KARABO_BROKER ?? "amqp://xfel:karabo@127.0.0.1:5672").split(",")[0]!;
const CALLS = Number(process.env.BENCH_AMQP_CALLS ?? 5000);
const UPDATES = Number(process.env.BENCH_AMQP_UPDATES ?? 20_000);
const PEER = new URL("../../../shared/peers/karabo/", import.meta.url).pathname;
const quiet = createLogger("bench", () => {});

class BenchCounter extends defineDevice({
  classId: "BenchCounter",
  schema: {
    value: el.double({ access: "readOnly", default: 0 }),
    ping: el.slot({ requiredAccessLevel: "observer" }),
    burst: el.slot({ requiredAccessLevel: "observer", args: { n: el.int32({ default: 1000 }) } }),
  },
}) {
  override onInit(): void {
    this.updateState(State.ON);
  }
  ping(): number {
    return 1;
  }
  burst({ n }: { n?: number }): void {
    for (let i = 0; i < (n ?? 1000); i++) this.set("value", i);
  }
}

/** The sase side of the bench in its own process: a device server and a raw echo consumer. */
async function host(topic: string): Promise<void> {
  const broker = await connectAmqpBroker({ urls: URL_, topic, log: quiet });
  const server = new DeviceServer({
    serverId: "BENCH_SASE_SRV",
    broker,
    classes: [BenchCounter],
    log: quiet,
  });
  await server.start();
  await server.instantiate("BenchCounter", "BENCH/SASE/1");
  const conn = await amqpConnect(URL_);
  const ch = await conn.createChannel();
  const q = `${topic}.rawecho`;
  await ch.assertQueue(q, { exclusive: true, autoDelete: true });
  await ch.consume(q, (m) => m && ch.sendToQueue(m.properties.replyTo as string, m.content), { noAck: true });
  process.stdout.write("READY\n");
  process.on("SIGTERM", () => void broker.close().then(() => process.exit(0)));
}

function startChild(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ChildProcess> {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d;
      if (out.includes("READY")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}: ${out}`)));
  });
}

function peerEnv(topic: string): NodeJS.ProcessEnv {
  const home = process.env.KARABO_PEER_HOME ?? "/tmp/karabo-peer";
  return {
    ...process.env,
    PYTHONPATH: `${home}/site:${PEER}src`,
    KARABO: home,
    PYTHONDONTWRITEBYTECODE: "1",
    KARABO_BROKER: URL_,
    KARABO_BROKER_TOPIC: topic,
  };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

interface Figures {
  seq: number;
  conc: number;
  p50: number;
  p99: number;
  updates?: number;
}

interface Tally {
  lat: number[];
  seqMs: number;
  seqN: number;
  concMs: number;
  concN: number;
}

/**
 * Awaited calls (with latencies) and calls 100 at a time, `n` of each, for every contender in turn,
 * block by block: on a shared machine the load drifts, and alternating short blocks gives every
 * contender the same conditions instead of giving the first one a quiet minute and the next a busy one.
 */
async function interleaved(
  contenders: Record<string, () => Promise<unknown>>,
  n: number,
  tallies: Record<string, Tally>,
  blocks = 5,
): Promise<void> {
  for (const one of Object.values(contenders)) for (let i = 0; i < 200; i++) await one();
  const per = Math.max(100, Math.floor(n / blocks / 100) * 100);
  for (let b = 0; b < blocks; b++) {
    for (const [name, one] of Object.entries(contenders)) {
      const t = tallies[name] ?? { lat: [], seqMs: 0, seqN: 0, concMs: 0, concN: 0 };
      tallies[name] = t;
      let t0 = performance.now();
      for (let i = 0; i < per; i++) {
        const a = performance.now();
        await one();
        t.lat.push(performance.now() - a);
      }
      t.seqMs += performance.now() - t0;
      t.seqN += per;
      t0 = performance.now();
      for (let i = 0; i < per; i += 100) await Promise.all(Array.from({ length: 100 }, one));
      t.concMs += performance.now() - t0;
      t.concN += per;
    }
  }
}

function figures(t: Tally): Figures {
  return {
    seq: (t.seqN / t.seqMs) * 1000,
    conc: (t.concN / t.concMs) * 1000,
    p50: percentile(t.lat, 50),
    p99: percentile(t.lat, 99),
  };
}

const fmt = (perSec: number) =>
  perSec >= 1000 ? `${(perSec / 1000).toFixed(1)} k/s` : `${perSec.toFixed(0)} /s`;

/** Runs every row over RabbitMQ and prints them. */
export async function amqpRows(): Promise<void> {
  const url = new globalThis.URL(URL_);
  const up = await new Promise<boolean>((resolve) => {
    const s = tcpConnect({ host: url.hostname, port: Number(url.port || 5672), timeout: 1000 });
    s.once("connect", () => resolve(!!s.destroy()));
    s.once("error", () => resolve(false));
  });
  if (!up) {
    console.log(`\nover RabbitMQ: skipped, no broker at ${url.host} (bash ../shared/peers/karabo/setup.sh)`);
    return;
  }
  const topic = `bench_${randomBytes(3).toString("hex")}`;
  console.log(
    `\nover RabbitMQ ${url.host}, separate processes: ${CALLS} slot calls, ${UPDATES} property updates (load average ${loadAverage()})`,
  );
  const children: ChildProcess[] = [];
  try {
    const self = new globalThis.URL(import.meta.url).pathname;
    children.push(await startChild(process.execPath, ["--import", "tsx", self, "--host", topic]));
    const broker = await connectAmqpBroker({ urls: URL_, topic, log: quiet });
    const client = new DeviceClient(broker);
    while (!(await client.topology()).devices.has("BENCH/SASE/1"))
      await new Promise((r) => setTimeout(r, 50));

    // Raw amqplib: publish to the echo queue of the host process, consume the echo.
    const conn = await amqpConnect(URL_);
    const ch = await conn.createChannel();
    const { queue: replies } = await ch.assertQueue("", { exclusive: true, autoDelete: true });
    const waiting = new Map<string, () => void>();
    await ch.consume(replies, (m) => m && waiting.get(m.content.toString())?.(), { noAck: true });
    let seq = 0;
    const rawCall = () =>
      new Promise<void>((resolve) => {
        const id = String(++seq);
        waiting.set(id, () => {
          waiting.delete(id);
          resolve();
        });
        ch.sendToQueue(`${topic}.rawecho`, Buffer.from(id), { replyTo: replies });
      });
    const contenders = { sase: () => client.execute("BENCH/SASE/1", "ping"), raw: rawCall };
    const tallies: Record<string, Tally> = {};

    // Karabo's middlelayer, same broker, same run: its measurement sits between two halves of
    // sase's and the raw round trip's, so drifting load meets all three alike.
    const mdlScript = new globalThis.URL("broker_mdl.py", import.meta.url).pathname;
    const mdlServer = await startChild(
      "/usr/bin/python3",
      [mdlScript, PEER, "server", topic],
      peerEnv(topic),
    );
    children.push(mdlServer);
    await interleaved(contenders, CALLS / 2, tallies);
    const mdlOut = await new Promise<string>((resolve, reject) => {
      const c = spawn(
        "/usr/bin/python3",
        [mdlScript, PEER, "client", topic, String(CALLS), String(UPDATES)],
        { env: peerEnv(topic), stdio: ["ignore", "pipe", "ignore"] },
      );
      let out = "";
      c.stdout.on("data", (d: Buffer) => (out += d));
      c.once("exit", (code) =>
        code === 0 ? resolve(out) : reject(new Error(`Karabo client exited ${code}: ${out}`)),
      );
    });
    const mdl = JSON.parse(mdlOut.trim().split("\n").at(-1)!) as Figures;
    await interleaved(contenders, CALLS / 2, tallies);
    await conn.close();
    const sase = figures(tallies.sase!);
    const raw = figures(tallies.raw!);

    let seen = 0;
    broker.subscribe("BENCH/SASE/1", "value", () => seen++);
    await broker.settled();
    let t0 = performance.now();
    await client.execute("BENCH/SASE/1", "burst", { n: UPDATES });
    while (seen < UPDATES && performance.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 1));
    sase.updates = (seen / (performance.now() - t0)) * 1000;
    await broker.close();

    const row = (what: string, s: number, m: number, r: number) =>
      console.log(
        `${what.padEnd(34)} sase ${fmt(s).padStart(9)}   Karabo MDL ${fmt(m).padStart(9)} (sase ${(s / m).toFixed(1)}x)   raw amqplib ${fmt(r).padStart(9)}`,
      );
    row("slot call, awaited one at a time", sase.seq, mdl.seq, raw.seq);
    row("slot call, 100 in flight", sase.conc, mdl.conc, raw.conc);
    console.log(
      `${"slot call latency p50 / p99".padEnd(34)} sase ${sase.p50.toFixed(2)} / ${sase.p99.toFixed(2)} ms   Karabo MDL ${mdl.p50.toFixed(2)} / ${mdl.p99.toFixed(2)} ms   raw amqplib ${raw.p50.toFixed(2)} / ${raw.p99.toFixed(2)} ms`,
    );
    console.log(
      `${"property updates seen by a subscriber".padEnd(34)} sase ${fmt(sase.updates).padStart(9)}   Karabo MDL ${fmt(mdl.updates ?? 0).padStart(9)} (sase ${(sase.updates / (mdl.updates ?? 1)).toFixed(1)}x)`,
    );

    // Memory of an idle device server: the real `sase server` (compiled) beside Karabo's MDL server.
    const root = new globalThis.URL("../../", import.meta.url).pathname;
    spawnSync(process.execPath, [`${root}scripts/build.js`], { stdio: "ignore" });
    const bin = `${root}bin/sase.js`;
    const idle = await startChild(process.execPath, [
      bin,
      "server",
      "--broker",
      URL_,
      "--topic",
      topic,
      "--id",
      "BENCH_IDLE",
      "--device",
      "SimulatedMotor=BENCH/IDLE/1",
    ]);
    children.push(idle);
    await new Promise((r) => setTimeout(r, 3000));
    t0 = rssMb(idle.pid!);
    console.log(
      `${"idle device server, resident memory".padEnd(34)} sase ${t0.toFixed(0)} MB (sase server + 1 motor)   Karabo MDL ${rssMb(mdlServer.pid!).toFixed(0)} MB (server + 1 device)`,
    );
    console.log(`(load average after: ${loadAverage()})`);
  } finally {
    for (const c of children) c.kill("SIGTERM");
  }
}

if (process.argv[2] === "--host") await host(process.argv[3]!);
