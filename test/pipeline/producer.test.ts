// The periodic train producer shared by the simulated detector, the XGM and the pipeline demo.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BACKOFF_HOLD_TRAINS,
  GridBackoff,
  type ProducerHost,
  TrainProducer,
} from "../../src/pipeline/index.ts";
import { UNTIL_MS, until } from "../helpers/until.ts";

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
  await until(() => ids.length >= 5, "5 trains", UNTIL_MS, 5);
  p.stop();
  assert.deepEqual(ids.slice(0, 4), [1000, 1001, 1002, 2000]);
  assert.deepEqual(counts.slice(0, 4), [1n, 2n, 3n, 4n]);
  assert.equal(p.sent, BigInt(ids.length));
  assert.equal(p.running, false);
});

test("stop() settles only once the train in flight has gone out (the end of stream comes after it)", async () => {
  let started = 0;
  let sentOut = 0;
  const p = new TrainProducer(clock(), async () => {
    started++;
    await sleep(80);
    sentOut++;
  });
  p.start(100);
  await until(() => started > 0, "the first train begun", UNTIL_MS, 2);
  await p.stop();
  assert.equal(sentOut, started, "every train begun before stop() went out before it settled");
  assert.equal(p.sent, BigInt(sentOut));
  await p.stop(); // nothing in flight: settles at once
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

/** A timing server on a real timer: its train ID goes up by one every `periodMs`. */
function ticking(periodMs: number, first = 5000): ProducerHost & { stop(): void } {
  let trainId = first;
  let at = Date.now();
  const t = setInterval(() => {
    trainId++;
    at = Date.now();
  }, periodMs);
  return {
    get trainId() {
      return trainId;
    },
    get trainAge() {
      return Date.now() - at;
    },
    every(ms, task) {
      const timer = setInterval(() => void task(), ms);
      return () => clearInterval(timer);
    },
    stop: () => clearInterval(t),
  };
}

test("trains of the timing server that go by while one is still being made are counted as skipped", async () => {
  const clk = ticking(100);
  const ids: number[] = [];
  // Each train takes 2.5 periods: the two or three trains ticked meanwhile are never sent.
  const p = new TrainProducer(clk, async (id) => {
    ids.push(id);
    await sleep(250);
  });
  p.start(10);
  const deadline = performance.now() + 30_000;
  while (ids.length < 4 && performance.now() < deadline) await sleep(20);
  p.stop();
  clk.stop();
  assert.ok(ids.length >= 4, `${ids.length} trains in 30 s`);
  await until(() => p.sent >= BigInt(ids.length), "every train begun to go out");
  const span = ids.at(-1)! - ids[0]! + 1;
  const accounted = Number(p.sent + p.skipped);
  assert.ok(p.skipped >= 1n, `skipped ${p.skipped} of ${span} trains`);
  // Every train of the span is sent or skipped; a gap is never counted beyond the trains the clock
  // ticked (at most one less per train where a late poll rounds the time down).
  assert.ok(
    accounted <= span && accounted >= span - ids.length,
    `sent ${p.sent} + skipped ${p.skipped} of ${span}`,
  );
  assert.equal(p.lastTrainId, ids.at(-1));
});

test("on its own timer, periods that go by while a train is being made are counted as skipped", async () => {
  const ids: number[] = [];
  const p = new TrainProducer(clock(), async (id) => {
    ids.push(id);
    await sleep(35);
  });
  p.start(100); // a 10 ms period, 35 ms per train
  const deadline = performance.now() + 30_000;
  while (ids.length < 4 && performance.now() < deadline) await sleep(10);
  p.stop();
  assert.ok(ids.length >= 4, `${ids.length} trains in 30 s`);
  assert.ok(p.skipped >= 2n, `skipped ${p.skipped} after ${ids.length} trains of 3.5 periods each`);
  // Free-running IDs have no gaps: the skipped periods are not trains of anyone else.
  assert.deepEqual(
    ids,
    ids.map((_, i) => ids[0]! + i),
  );
});

test("a restart counts no gap between the last train before the stop and the first after", async () => {
  const clk = ticking(100);
  const ids: number[] = [];
  const p = new TrainProducer(clk, async (id) => {
    ids.push(id);
  });
  p.start(10);
  await until(() => ids.length >= 1, "the first train", UNTIL_MS, 10);
  p.stop();
  const stoppedAt = clk.trainId;
  await until(() => clk.trainId >= stoppedAt + 5, "5 trains ticked while stopped");
  const before = p.skipped;
  p.start(10);
  await until(() => ids.length >= 2, "the first train after the restart", UNTIL_MS, 10);
  p.stop();
  clk.stop();
  assert.ok(ids[1]! - ids[0]! >= 5, `trains ${ids[0]} then ${ids[1]}`);
  assert.equal(p.skipped, before, "trains while stopped are not skipped ones");
});

test("a producer slower than the timing server backs off on a grid of powers of two and comes back when quick again", async () => {
  const clk = ticking(100, 6400);
  let delayMs = 260;
  const sent: { id: number; stride: number }[] = [];
  const fast: number[] = [];
  const slow = new TrainProducer(clk, async (id) => {
    sent.push({ id, stride: slow.stride });
    await sleep(delayMs);
  });
  const quick = new TrainProducer(clk, async (id) => {
    fast.push(id);
  });
  slow.start(10);
  quick.start(10);
  try {
    const deadline = performance.now() + 30_000;
    while (slow.stride < 4 && performance.now() < deadline) await sleep(20);
    assert.ok(slow.stride >= 4, `stride ${slow.stride} with trains of 260 ms every 100 ms`);
    // On the grid: a backed-off producer's trains are trains of every producer that keeps up.
    for (const { id, stride } of sent) assert.equal(id % stride, 0, `train ${id} at stride ${stride}`);
    const last = sent.at(-1)!.id;
    while (fast.at(-1)! < last && performance.now() < deadline) await sleep(20);
    for (const { id } of sent.slice(1)) assert.ok(fast.includes(id), `train ${id} of the slow producer`);
    delayMs = 0;
    while (slow.stride > 1 && performance.now() < deadline) await sleep(20);
    assert.equal(slow.stride, 1, "back to every train once trains are quick");
    assert.ok(slow.skipped > 0n);
  } finally {
    slow.stop();
    quick.stop();
    clk.stop();
  }
});

test("one slow train backs a producer off a little, and it is back to every train within a few", async () => {
  const clk = ticking(100, 12800);
  let first = true;
  const strides: number[] = [];
  const p = new TrainProducer(clk, async () => {
    strides.push(p.stride);
    if (first) {
      first = false;
      await sleep(3000); // a new simulated detector built for the first train after a change
    }
  });
  p.start(10);
  try {
    const deadline = performance.now() + 30_000;
    while (strides.length < 2 && performance.now() < deadline) await sleep(20);
    assert.ok(p.stride <= 4, `stride ${p.stride} after one slow train`);
    while (p.stride > 1 && performance.now() < deadline) await sleep(20);
    assert.equal(p.stride, 1);
    assert.ok(strides.length <= 12, `${strides.length} trains to come back`);
  } finally {
    p.stop();
    clk.stop();
  }
});

test("a host stall that slows a stage for a second or two does not back it off; a stage slow for longer does", () => {
  const stalled = new GridBackoff();
  const levels: number[] = [];
  let id = 1000;
  // Quick trains, every one taken.
  for (let i = 0; i < 30; i++) {
    stalled.took(10, id++);
    levels.push(stalled.level);
  }
  // The host stalls for ~1.8 s: the stage gets to three trains, 600 ms each, six trains apart.
  for (let i = 0; i < 3; i++) {
    stalled.took(600, id);
    levels.push(stalled.level);
    id += 6;
  }
  // Quick again.
  for (let i = 0; i < 30; i++) {
    stalled.took(10, id++);
    levels.push(stalled.level);
  }
  assert.deepEqual([...new Set(levels)], [0], `levels ${levels.join(",")}`);

  // A stage that really takes 300 ms per train (every 3rd train of the facility's, as it gets to them).
  const slow = new GridBackoff();
  const took: { id: number; level: number }[] = [];
  id = 1000;
  for (let i = 0; i < 20; i++) {
    slow.took(300, id);
    took.push({ id, level: slow.level });
    id += 3 * slow.stride;
  }
  const first = took.find((t) => t.level > 0);
  assert.ok(first, `never backed off: ${JSON.stringify(took)}`);
  // Held for a while (about 2 s of trains), then backed off to a grid it keeps up with and stays there.
  assert.ok(first.id - 1000 >= BACKOFF_HOLD_TRAINS, `backed off at train ${first.id}`);
  assert.ok(first.id - 1000 <= BACKOFF_HOLD_TRAINS + 6, `backed off only at train ${first.id}`);
  assert.equal(slow.level, 2);
  assert.equal(took.at(-1)!.level, 2);
  // Quick again: back to every train without waiting.
  for (let i = 0; i < 6; i++) {
    slow.took(10, id);
    id += slow.stride;
  }
  assert.equal(slow.level, 0);
  // Slow again soon after: its slowness is established, so it goes back at once.
  slow.took(300, id);
  assert.ok(slow.level > 0, "a stage slow again within a few seconds backs off at once");
});

test("a stage near the edge between two strides does not flap between them", () => {
  const g = new GridBackoff();
  let id = 1000;
  // Slow for long enough to back off once (every 2nd train).
  while (g.level === 0 && id < 1100) {
    g.took(150, id);
    id += 2;
  }
  assert.equal(g.level, 1);
  // Then trains of 40 and 130 ms by turns: 77-93 ms smoothed, about what every train would leave them.
  const levels: number[] = [];
  for (let i = 0; i < 60; i++) {
    g.took(i % 2 ? 130 : 40, id);
    levels.push(g.level);
    id += g.stride;
  }
  const changes = levels.filter((l, i) => i > 0 && l !== levels[i - 1]).length;
  assert.equal(changes, 0, `levels ${levels.join(",")}`);
});

test("a stage quick only on the coarser grid (waiting on a busy consumer) tries the finer one less and less often", () => {
  const g = new GridBackoff();
  let id = 1000;
  const levels: number[] = [];
  // 150 ms per train on every train (its consumer is busy), 30 ms on every 2nd: 60 s of trains.
  while (id < 1600) {
    g.took(g.level === 0 ? 150 : 30, id);
    levels.push(g.level);
    id += g.stride;
  }
  const changes = levels.filter((l, i) => i > 0 && l !== levels[i - 1]).length;
  assert.ok(changes <= 12, `${changes} changes of level in 60 s: ${levels.join("")}`);
  assert.equal(g.level, 1);
});
