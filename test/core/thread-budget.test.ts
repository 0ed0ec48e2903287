import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { hostThreads, SaseError, threadBudget, threadNice } from "../../src/core/index.ts";

const VARS = ["SASE_THREADS", "SASE_SIM_THREADS", "SASE_CORR_THREADS", "SASE_SIM_NICE", "SASE_CORR_NICE"];
const saved = Object.fromEntries(VARS.map((v) => [v, process.env[v]]));
afterEach(() => {
  for (const v of VARS) {
    if (saved[v] === undefined) delete process.env[v];
    else process.env[v] = saved[v];
  }
});

test("simulation and correction split one host budget; each pool's own variable overrides its share", () => {
  for (const v of VARS) delete process.env[v];
  const shares = (host: number) => {
    process.env.SASE_THREADS = String(host);
    return [threadBudget("correction"), threadBudget("simulation")];
  };
  assert.deepEqual(shares(1), [1, 1]);
  assert.deepEqual(shares(2), [1, 1]);
  assert.deepEqual(shares(5), [3, 2]);
  assert.deepEqual(shares(16), [8, 8]);
  process.env.SASE_SIM_THREADS = "6";
  assert.equal(threadBudget("simulation"), 6);
  assert.equal(threadBudget("correction"), 8);
  assert.equal(hostThreads(), 16);
});

test("nice values default to 0 and are read from their variables", () => {
  for (const v of VARS) delete process.env[v];
  assert.equal(threadNice("simulation"), 0);
  process.env.SASE_SIM_NICE = "10";
  assert.equal(threadNice("simulation"), 10);
  assert.equal(threadNice("correction"), 0);
});

test("a bad count or nice value is refused naming the variable and what is allowed", () => {
  for (const [name, value, read, allowed] of [
    ["SASE_THREADS", "0", () => hostThreads(), "a whole number of threads ≥ 1"],
    ["SASE_CORR_THREADS", "1.5", () => threadBudget("correction"), "a whole number of threads ≥ 1"],
    ["SASE_SIM_NICE", "20", () => threadNice("simulation"), "a nice value from 0 to 19"],
    ["SASE_CORR_NICE", "-1", () => threadNice("correction"), "a nice value from 0 to 19"],
  ] as const) {
    for (const v of VARS) delete process.env[v];
    process.env[name] = value;
    assert.throws(read, (e: unknown) => {
      assert.ok(e instanceof SaseError);
      assert.equal(e.code, "BAD_OPTION");
      assert.equal(e.message, `${name}=${value}: give ${allowed}`);
      return true;
    });
  }
});
