import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { type MatchedTrain, TrainMatcher } from "../../src/pipeline/index.ts";

async function collect<D>(m: TrainMatcher<D>): Promise<MatchedTrain<D>[]> {
  const out: MatchedTrain<D>[] = [];
  for await (const t of m) out.push(t);
  return out;
}

test("complete trains are handed on at once and in train order", async () => {
  const m = new TrainMatcher<number>(["A", "B"], { timeoutMs: 10_000 });
  const got = collect(m);
  m.push("A", 1, 10);
  m.push("A", 2, 20);
  m.push("B", 2, 21); // train 2 complete, but waits behind train 1 (B is slower on train 1)
  assert.equal(m.counts.trains, 0);
  m.push("B", 1, 11);
  assert.equal(m.counts.trains, 2);
  m.end();
  const trains = await got;
  assert.deepEqual(
    trains.map((t) => [t.trainId, t.data.get("A"), t.data.get("B"), t.timedOut]),
    [
      [1, 10, 11, false],
      [2, 20, 21, false],
    ],
  );
  assert.equal(m.counts.matchRatio, 1);
  assert.deepEqual(m.problems(), []);
});

test("a silent source times trains out, is counted missing and is reported with a fix", async () => {
  const m = new TrainMatcher<number>(["SA1/XGM/DOOCS", "SPB/MOTOR/X"], { timeoutMs: 30 });
  const got = collect(m);
  for (let id = 1; id <= 3; id++) m.push("SA1/XGM/DOOCS", id, id);
  await sleep(120);
  m.end();
  const trains = await got;
  assert.deepEqual(
    trains.map((t) => [t.trainId, t.missing, t.timedOut]),
    [
      [1, ["SPB/MOTOR/X"], true],
      [2, ["SPB/MOTOR/X"], true],
      [3, ["SPB/MOTOR/X"], true],
    ],
  );
  assert.equal(m.stats()[1]!.missing, 3);
  assert.equal(m.counts.matchRatio, 0);
  const [p] = m.problems();
  assert.equal(p!.problem, "silent");
  assert.match(p!.message, /SPB\/MOTOR\/X sent nothing for 3 train/);
});

test("a misspelt source name is told apart from a silent one, with the likely name", async () => {
  const m = new TrainMatcher<number>(["SA1/XGM/DOOCS", "SPB/MOTR/X"], {
    timeoutMs: 20,
    knownSources: () => ["SA1/XGM/DOOCS", "SPB/MOTOR/X", "SPB/DET/AGIPD1M-1"],
  });
  m.push("SA1/XGM/DOOCS", 1, 1);
  m.push("SPB/MOTOR/X", 1, 1);
  await sleep(60);
  m.end();
  const problems = m.problems();
  const wrong = problems.find((p) => p.source === "SPB/MOTR/X")!;
  assert.equal(wrong.problem, "unknown-name");
  assert.match(wrong.fix, /did you mean SPB\/MOTOR\/X\?/);
  const extra = problems.find((p) => p.source === "SPB/MOTOR/X")!;
  assert.equal(extra.problem, "unexpected");
});

test("with sources in order, a train that a source has passed is handed on at once as skipped", async () => {
  const m = new TrainMatcher<number>(["A", "B", "C"], { timeoutMs: 60_000, sourcesInOrder: true });
  const got = collect(m);
  m.push("A", 1, 1);
  m.push("B", 1, 1); // C is slower, not yet past train 1
  m.push("A", 2, 2);
  m.push("C", 2, 2); // C skipped train 1 (backed off, or its output dropped it): 1 can never complete
  assert.equal(m.counts.trains, 1, "train 1 handed on without waiting for the timeout");
  m.push("B", 2, 2); // train 2 is whole
  m.push("A", 4, 4);
  m.push("B", 4, 4);
  m.push("C", 3, 3); // train 3 waits: A and B may still send it
  assert.equal(m.counts.trains, 2);
  m.push("C", 4, 4); // whole; train 3 lacks A and B, which both passed it
  assert.equal(m.counts.trains, 4);
  m.end();
  const trains = await got;
  assert.deepEqual(
    trains.map((t) => [t.trainId, t.missing, t.skipped, t.timedOut]),
    [
      [1, ["C"], true, false],
      [2, [], false, false],
      [3, ["A", "B"], true, false],
      [4, [], false, false],
    ],
  );
  assert.deepEqual(m.counts, { trains: 4, complete: 2, incomplete: 2, late: 0, matchRatio: 0.5 });
  // Without the promise of order, the same pieces wait for the timeout.
  const plain = new TrainMatcher<number>(["A", "B"], { timeoutMs: 60_000 });
  plain.push("A", 1, 1);
  plain.push("B", 2, 2);
  plain.push("A", 2, 2);
  assert.equal(plain.counts.trains, 0);
  plain.close();
});

test("with sources in order, the timeout counts from a missing source's last piece and its usual gap", async () => {
  let now = 0;
  const m = new TrainMatcher<number>(["A", "B"], { timeoutMs: 100, sourcesInOrder: true, now: () => now });
  const got = collect(m);
  m.push("A", 1, 1);
  m.push("B", 1, 1);
  m.push("A", 2, 2);
  m.push("A", 3, 3);
  now = 80;
  m.push("B", 2, 2); // B is slow, not gone
  now = 150;
  m.flush(false); // train 3 is 150 ms old, but B sent a piece 70 ms ago: it is still coming
  assert.equal(m.counts.trains, 2);
  now = 200;
  m.flush(false); // silent for 120 ms, more than the timeout but not twice B's gap of 80 ms
  assert.equal(m.counts.trains, 2);
  now = 241;
  m.flush(false); // B silent for 161 ms: train 3 goes on without it
  assert.equal(m.counts.trains, 3);
  m.end();
  const trains = await got;
  assert.deepEqual(
    trains.map((t) => [t.trainId, t.missing, t.skipped, t.timedOut]),
    [
      [1, [], false, false],
      [2, [], false, false],
      [3, ["B"], false, true],
    ],
  );
});

test("a timeout shorter than a source's latency loses its data and says how long to wait", async () => {
  const m = new TrainMatcher<number>(["fast", "slow"], { timeoutMs: 20 });
  const got = collect(m);
  for (let id = 1; id <= 3; id++) {
    m.push("fast", id, id);
    await sleep(50);
    m.push("slow", id, id); // after its train was handed on
  }
  m.end();
  const trains = await got;
  assert.equal(trains.length, 3);
  assert.ok(trains.every((t) => t.missing.includes("slow")));
  const s = m.stats().find((x) => x.source === "slow")!;
  assert.equal(s.late, 3);
  const p = m.problems().find((x) => x.source === "slow")!;
  assert.equal(p.problem, "too-slow");
  assert.match(p.fix, /raise the train timeout to at least \d+ ms/);
});

test("a handler gets trains one at a time in order; trains handed on together mark all but the newest stale", async () => {
  const m = new TrainMatcher<number>(["A", "B"], { timeoutMs: 10_000 });
  const got: [number, boolean][] = [];
  let inHandler = 0;
  m.onTrain(async (t) => {
    assert.equal(++inHandler, 1, "one train at a time");
    await sleep(5);
    got.push([t.trainId, t.stale]);
    inHandler--;
  });
  m.push("A", 1, 10);
  m.push("A", 2, 20);
  m.push("B", 2, 21);
  await m.push("B", 1, 11); // completes 1, and 2 behind it: 1 is stale
  await m.push("A", 3, 30);
  m.push("B", 0, 0); // a straggler: its train is gone
  await m.push("B", 3, 31);
  assert.deepEqual(got, [
    [1, true],
    [2, false],
    [3, false],
  ]);
  assert.deepEqual(m.counts, { trains: 3, complete: 3, incomplete: 0, late: 1, matchRatio: 1 });
  assert.equal(m.stats()[1]!.late, 1);
  m.close();
});

test("a reader's pace reaches the pump: push resolves once the iterator has taken the trains", async () => {
  const m = new TrainMatcher<number>(["A"], { timeoutMs: 10_000 });
  let taken = false;
  const pushed = m.push("A", 1, 1)!.then(() => assert.ok(taken, "resolved before the train was read"));
  await sleep(10);
  const it = m[Symbol.asyncIterator]();
  const first = await it.next();
  taken = true;
  assert.equal((first.value as { trainId: number }).trainId, 1);
  const second = it.next(); // the reader comes back for more: the first is taken
  await pushed;
  m.end();
  assert.equal((await second).done, true);
});

test("bad configuration names what was wrong, with the offending value", () => {
  assert.throws(
    () => new TrainMatcher(["A", "A"]),
    (e: Error & { code?: string }) => e.code === "BAD_SCHEMA" && /"A" is configured twice/.test(e.message),
  );
  assert.throws(
    () => new TrainMatcher(["A"], { timeoutMs: 0 }),
    (e: Error & { code?: string }) => e.code === "OUT_OF_RANGE" && /not 0/.test(e.message),
  );
});

test("every piece the matcher does not keep goes to onDropped, and no piece it hands on", async () => {
  const dropped: string[] = [];
  const m = new TrainMatcher<string>(["A", "B"], { timeoutMs: 10_000, onDropped: (p) => dropped.push(p) });
  const got = collect(m);
  m.push("A", 1, "A1");
  m.push("A", 1, "A1 again"); // a second piece for a train still pending
  m.push("C", 1, "C1"); // a source not configured
  m.push("B", 1, "B1"); // train 1 complete: handed on
  m.push("B", 1, "B1 late"); // after its train was handed on
  m.push("A", 2, "A2");
  m.end();
  m.push("B", 2, "B2 after end");
  const trains = await got;
  assert.deepEqual(
    trains.map((t) => [...t.data.values()]),
    [["A1", "B1"], ["A2"]],
  );
  assert.deepEqual(dropped, ["A1 again", "C1", "B1 late", "B2 after end"]);

  // Closed: what is pending is dropped (shutdown hands nothing on).
  const closing: string[] = [];
  const c = new TrainMatcher<string>(["A", "B"], { timeoutMs: 10_000, onDropped: (p) => closing.push(p) });
  c.push("A", 5, "A5");
  c.push("A", 6, "A6");
  c.close();
  assert.deepEqual(closing.sort(), ["A5", "A6"]);
});
