// Slot calls/s and property updates/s through the in-process broker, each beside a baseline measured
// in the same run (a plain async function call, a Node EventEmitter). Then the same over RabbitMQ with
// separate processes (bench/lib/broker-amqp.ts): sase → sase beside Karabo's middlelayer client → middlelayer
// device and a raw amqplib round trip, plus the memory of an idle device server.
// Sizes: BENCH_CALLS (default 200 000), BENCH_UPDATES (default 1 000 000); over RabbitMQ see lib/broker-amqp.ts.

import { EventEmitter } from "node:events";
import {
  createLogger,
  defineDevice,
  DeviceClient,
  DeviceServer,
  el,
  InProcessBroker,
  type PropertyChange,
  State,
} from "../src/core/index.ts";

const CALLS = Number(process.env.BENCH_CALLS ?? 200_000);
const UPDATES = Number(process.env.BENCH_UPDATES ?? 1_000_000);

class Counter extends defineDevice({
  classId: "Counter",
  schema: {
    value: el.double({ access: "readOnly", default: 0 }),
    ping: el.slot({ allowedStates: [State.ON] }),
  },
}) {
  ping(): number {
    return 1;
  }
}

function rate(n: number, ms: number): string {
  const perSec = (n / ms) * 1000;
  return perSec >= 1e6 ? `${(perSec / 1e6).toFixed(2)} M/s` : `${(perSec / 1e3).toFixed(1)} k/s`;
}

function row(what: string, n: number, ms: number, baselineName: string, baselineMs: number): void {
  const slow = ms / baselineMs;
  console.log(
    `${what.padEnd(44)} ${rate(n, ms).padStart(11)}   ${(((ms / n) * 1e6) | 0).toString().padStart(6)} ns/op   ` +
      `baseline ${baselineName}: ${rate(n, baselineMs)} (${slow.toFixed(1)}x)`,
  );
}

async function time(fn: () => Promise<void> | void): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const broker = new InProcessBroker();
const server = new DeviceServer({ serverId: "bench/server", broker, log: createLogger("bench", () => {}) });
await server.start();
const device = (await server.instantiate(Counter, "BENCH/COUNTER/1")) as Counter;
const client = new DeviceClient(broker, { user: "bench", accessLevel: "operator" });
console.log(`in-process broker: ${CALLS} slot calls, ${UPDATES} property updates (node ${process.version})`);

// ---- slot calls --------------------------------------------------------------------------------
const plain = async () => 1;
const warm = async (fn: () => Promise<unknown>) => {
  for (let i = 0; i < 2000; i++) await fn();
};
await warm(plain);
await warm(() => client.execute("BENCH/COUNTER/1", "ping"));
const baseSeq = await time(async () => {
  for (let i = 0; i < CALLS; i++) await plain();
});
const slotSeq = await time(async () => {
  for (let i = 0; i < CALLS; i++) await client.execute("BENCH/COUNTER/1", "ping");
});
row("slot call, sequential (await each)", CALLS, slotSeq, "await async fn", baseSeq);

const inFlight = 100;
const baseConc = await time(async () => {
  for (let i = 0; i < CALLS; i += inFlight) await Promise.all(Array.from({ length: inFlight }, plain));
});
const slotConc = await time(async () => {
  for (let i = 0; i < CALLS; i += inFlight) {
    await Promise.all(Array.from({ length: inFlight }, () => client.execute("BENCH/COUNTER/1", "ping")));
  }
});
row(`slot call, ${inFlight} in flight`, CALLS, slotConc, "await async fn", baseConc);

await broker.register("BENCH/RAW", { type: "client", host: "h", pid: 0, heartbeatIntervalMs: 60_000 }, plain);
const rawSeq = await time(async () => {
  for (let i = 0; i < CALLS; i++) await broker.call("BENCH/RAW", "x");
});
row("broker.call, no device (transport only)", CALLS, rawSeq, "await async fn", baseSeq);

// ---- property updates --------------------------------------------------------------------------
const emitter = new EventEmitter();
let seen = 0;
emitter.on("change", () => seen++);
const baseEmit = await time(() => {
  for (let i = 0; i < UPDATES; i++) emitter.emit("change", { key: "value", value: i });
});

seen = 0;
const sub = broker.subscribe("BENCH/COUNTER/1", "value", () => seen++);
const setCb = await time(async () => {
  for (let i = 0; i < UPDATES; i++) device.set("value", i);
  await new Promise((r) => setImmediate(r));
});
sub.close();
if (seen !== UPDATES) throw new Error(`callback saw ${seen} of ${UPDATES} updates`);
row("device.set → subscriber callback", UPDATES, setCb, "EventEmitter", baseEmit);

// Async-iterator subscriber: the producer yields every 1000 updates so the consumer can keep up.
const stream = client.subscribe("BENCH/COUNTER/1", "value");
let got = 0;
const consumer = (async () => {
  for await (const _c of stream as AsyncIterable<PropertyChange>) if (++got === UPDATES) break;
})();
const setIter = await time(async () => {
  for (let i = 0; i < UPDATES; i++) {
    device.set("value", i);
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  await consumer;
});
console.log(`  (async iterator dropped ${stream.dropped} of ${UPDATES}; received ${got})`);
row("device.set → for await subscriber", UPDATES, setIter, "EventEmitter", baseEmit);

const setMany = await time(async () => {
  for (let i = 0; i < UPDATES / 10; i++) device.setMany({ value: i, status: "x" });
});
row("device.setMany (2 keys), no subscriber", UPDATES / 10, setMany, "EventEmitter", baseEmit / 10);

await server.stop();
await broker.close();

// ---- over RabbitMQ, separate processes ---------------------------------------------------------
await (await import("./lib/broker-amqp.ts")).amqpRows();
