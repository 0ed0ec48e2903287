// The periodic train producer shared by the simulated detector, the XGM and the pipeline demo.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ProducerHost, TrainProducer } from "../../src/pipeline/index.ts";

/** A clock on real timers whose train ID the test sets. */
function clock(trainId = 0): ProducerHost & { trainId: number } {
  return {
    trainId,
    every(periodMs, task) {
      const t = setInterval(() => void task(), periodMs);
      return () => clearInterval(t);
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("train IDs follow the clock and never repeat when ticks outpace it", async () => {
  const c = clock(1000);
  const ids: number[] = [];
  const counts: bigint[] = [];
  const p = new TrainProducer(c, async (id, sent) => {
    ids.push(id);
    counts.push(sent);
    if (ids.length === 3) c.trainId = 2000;
  });
  p.start(200);
  while (ids.length < 5) await sleep(5);
  p.stop();
  assert.deepEqual(ids.slice(0, 4), [1000, 1001, 1002, 2000]);
  assert.deepEqual(counts.slice(0, 4), [1n, 2n, 3n, 4n]);
  assert.equal(p.sent, BigInt(ids.length));
  assert.equal(p.running, false);
});

test("a train slower than the period is not overtaken: ticks are skipped, none overlap", async () => {
  let inFlight = 0;
  let most = 0;
  const ids: number[] = [];
  const p = new TrainProducer(clock(), async (id) => {
    most = Math.max(most, ++inFlight);
    await sleep(30);
    ids.push(id);
    inFlight--;
  });
  p.start(500); // 2 ms period, 30 ms per train
  await sleep(150);
  p.stop();
  await sleep(40);
  assert.equal(most, 1);
  assert.ok(ids.length >= 2 && ids.length <= 6, `${ids.length} trains`);
  assert.deepEqual(
    ids,
    ids.map((_, i) => i + 1),
  );
  const after = ids.length;
  await sleep(40);
  assert.equal(ids.length, after, "nothing is sent after stop()");
});

test("a rate of 0 is refused, naming the rate", () => {
  assert.throws(
    () => new TrainProducer(clock(), async () => {}).start(0),
    (e: Error & { code?: string }) => e.code === "OUT_OF_RANGE" && /train rate 0 Hz/.test(e.message),
  );
});
