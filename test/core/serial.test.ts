// SerialCalls: calls taken one at a time in the order made, a failure not stopping those after it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SerialCalls } from "../../src/core/index.ts";

test("calls run one after another in the order made, each resolving or rejecting as it does", async () => {
  const calls = new SerialCalls();
  const log: string[] = [];
  const step = (name: string, ms: number, fail = false) =>
    calls.run(async () => {
      log.push(`${name} start`);
      await sleep(ms);
      log.push(`${name} end`);
      if (fail) throw new Error(`${name} failed`);
      return name;
    });
  const a = step("a", 30);
  const b = step("b", 1, true);
  const c = step("c", 1);
  assert.equal(calls.pending, 3);
  assert.equal(await a, "a");
  await assert.rejects(b, /b failed/);
  assert.equal(await c, "c");
  assert.deepEqual(log, ["a start", "a end", "b start", "b end", "c start", "c end"]);
  assert.equal(calls.pending, 0);
});

test("idle waits for every call made so far, failed ones included, and does not reject", async () => {
  const calls = new SerialCalls();
  let ended = 0;
  void calls.run(async () => {
    await sleep(20);
    ended++;
  });
  calls
    .run(async () => {
      ended++;
      throw new Error("refused");
    })
    .catch(() => {});
  await calls.idle();
  assert.equal(ended, 2);
  assert.equal(calls.pending, 0);
});
