// Channels on devices: declared in the schema, created and connected by the framework, health published
// as properties that a client reads, alarms when the producer goes away, recovery when it comes back.

import assert from "node:assert/strict";
import { test } from "node:test";
import { State } from "../../src/core/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { StreamConsumer, StreamProducer } from "../../src/pipeline/index.ts";
import { UNTIL_MS, until } from "../helpers/until.ts";

const PRODUCER = "TEST/PIPE/PRODUCER";
const CONSUMER = "TEST/PIPE/CONSUMER";

/** Resolves with what `read()` gives once `ok` holds for it; a miss names the last value read. */
async function eventually<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = UNTIL_MS,
): Promise<T> {
  let v: T | undefined;
  await until(
    async () => {
      v = await read();
      return ok(v);
    },
    () => `${what}; last value ${String(v)}`,
    ms,
  );
  return v as T;
}

test("a producer and a consumer device stream through declared channels, with health as properties", {
  timeout: 20_000,
}, async () => {
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  const c = facility.client;
  try {
    await facility.addDevice(StreamConsumer, CONSUMER, {
      input: {
        connectedOutputChannels: [`${PRODUCER}:output`],
        stallTimeoutMs: 300,
        onSlowness: "queueDrop",
      },
    });
    // The consumer came first: its output is missing, which it says.
    await eventually(
      () => c.get(CONSUMER, "input.alarmCondition"),
      (v) => v === "alarm",
      "missing-output alarm",
    );
    assert.deepEqual(await c.get(CONSUMER, "input.missingConnections"), [`${PRODUCER}:output`]);

    await facility.addDevice(StreamProducer, PRODUCER, { rate: 50, rows: 8, columns: 8 });
    await eventually(
      () => c.get(CONSUMER, "received"),
      (v) => (v as bigint) >= 10n,
      "images received",
    );
    await eventually(
      () => c.get(CONSUMER, "input.alarmCondition"),
      (v) => v === "none",
      "alarm cleared",
    );
    assert.equal(await c.get(CONSUMER, "state"), State.MONITORING);
    assert.ok(((await c.get(CONSUMER, "input.tokens")) as bigint) > 0n);
    await eventually(
      () => c.get(CONSUMER, "input.rate"),
      (v) => (v as number) > 20,
      "rate near 50 Hz",
    );
    assert.equal(await c.get(CONSUMER, "input.health"), "receiving");
    assert.ok(Number.isFinite(await c.get(CONSUMER, "input.latencyMs")));
    // Output health is published a few times a second, so it may trail the first tokens.
    await eventually(
      () => c.get(PRODUCER, "output.connections"),
      (v) => v === 1,
      "one connection published",
    );
    assert.match(String(await c.get(PRODUCER, "output.address")), /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await c.get(PRODUCER, "output.connectedInputs"), [
      `${CONSUMER}:input (copy/queueDrop, local)`,
    ]);

    // The producer goes away without ending its stream: the consumer raises its alarm within a second.
    const t0 = performance.now();
    await facility.server.kill(PRODUCER);
    await eventually(
      () => c.get(CONSUMER, "input.alarmCondition"),
      (v) => v === "alarm",
      "alarm",
      1500,
    );
    assert.ok(performance.now() - t0 < 1000, "alarm took longer than a second");

    // It comes back: the consumer reconnects by itself.
    await facility.addDevice(StreamProducer, PRODUCER, { rate: 50, rows: 8, columns: 8 });
    await eventually(
      () => c.get(CONSUMER, "input.reconnects"),
      (v) => v === 1,
      "reconnect counted",
    );
    await eventually(
      () => c.get(CONSUMER, "input.alarmCondition"),
      (v) => v === "none",
      "alarm cleared again",
    );

    // Stopping ends the stream; the consumer hears it.
    await c.request(PRODUCER, "stop");
    await eventually(
      () => c.get(CONSUMER, "status"),
      (v) => v === "stream ended",
      "end of stream",
    );
    await eventually(
      () => c.get(CONSUMER, "input.health"),
      (v) => v === "idle",
      "idle after the end",
    );
    assert.equal(await c.get(CONSUMER, "input.endOfStreams"), 1);
  } finally {
    await facility.stop();
  }
});
