// Every distribution × slowness combination, in one process and over TCP: which tokens arrive, which are
// dropped (and counted), whether the sender is held back.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { InputChannel, InputChannelOptions, SlownessPolicy } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";
import { collect, Rig, smallData } from "./helpers.ts";

const N = 20;
const SLOW_MS = 15;

type Transport = "local" | "tcp";

async function rigWith(transport: Transport, outOptions = {}): Promise<{ rig: Rig; to: string }> {
  const rig = new Rig(outOptions);
  if (transport === "local") return { rig, to: rig.output.id };
  const address = await rig.output.listen();
  return { rig, to: `${rig.output.id}@${address}` };
}

function connectInput(rig: Rig, to: string, name: string, options: InputChannelOptions): InputChannel {
  return rig.input(name, { prefetch: 1, maxQueueLength: 3, ...options }, to);
}

/** Writes N tokens as fast as the output lets it, then ends the stream; returns the time writing took. */
async function produce(rig: Rig): Promise<number> {
  const t0 = performance.now();
  for (let i = 1; i <= N; i++) await rig.output.write(smallData(i), { trainId: i });
  const ms = performance.now() - t0;
  await rig.output.endOfStream();
  return ms;
}

const increasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]);

for (const transport of ["local", "tcp"] as const) {
  describe(`copy distribution (${transport})`, () => {
    test("drop: a slow input gets the newest it can take, the rest is dropped and counted; the sender never waits", async () => {
      const { rig, to } = await rigWith(transport);
      const inp = connectInput(rig, to, "slow", { onSlowness: "drop" });
      await inp.waitConnected();
      const got = collect(inp, SLOW_MS);
      const ms = await produce(rig);
      await until(() => got.eos === 1, "end of stream");
      await until(() => inp.stats().dropped === N - got.trains.length, "drop count");
      assert.ok(got.trains.length < N, `slow input got all ${N}`);
      assert.equal(got.trains[0], 1);
      assert.ok(increasing(got.trains));
      assert.equal(inp.stats().lost, 0);
      assert.equal(rig.output.stats().dropped, N - got.trains.length);
      assert.ok(ms < N * SLOW_MS, `sender was held back (${ms.toFixed(0)} ms)`);
      await rig.close();
    });

    test("queueDrop: the sender keeps the newest maxQueueLength tokens, dropping the oldest", async () => {
      const { rig, to } = await rigWith(transport);
      const inp = connectInput(rig, to, "slow", { onSlowness: "queueDrop" });
      await inp.waitConnected();
      const got = collect(inp, SLOW_MS);
      const ms = await produce(rig);
      await until(() => got.eos === 1, "end of stream");
      assert.deepEqual(got.trains.slice(-3), [N - 2, N - 1, N], "the newest three were queued");
      assert.ok(increasing(got.trains));
      assert.ok(got.trains.length < N);
      assert.equal(inp.stats().dropped, N - got.trains.length);
      assert.equal(inp.stats().lost, 0);
      assert.ok(ms < N * SLOW_MS, `sender was held back (${ms.toFixed(0)} ms)`);
      await rig.close();
    });

    test("wait: every token arrives in order and the sender is back-pressured", async () => {
      const { rig, to } = await rigWith(transport);
      const slow = connectInput(rig, to, "slow", { onSlowness: "wait" });
      const fast = connectInput(rig, to, "fast", { onSlowness: "wait" });
      await slow.waitConnected();
      await fast.waitConnected();
      const gotSlow = collect(slow, SLOW_MS);
      const gotFast = collect(fast);
      const ms = await produce(rig);
      await until(() => gotSlow.eos === 1 && gotFast.eos === 1, "end of stream on both");
      const all = Array.from({ length: N }, (_, i) => i + 1);
      assert.deepEqual(gotSlow.trains, all);
      assert.deepEqual(gotFast.trains, all, "copy: every input gets every token");
      assert.equal(slow.stats().dropped, 0);
      assert.ok(ms >= (N - 4) * SLOW_MS * 0.8, `sender was not held back (${ms.toFixed(0)} ms)`);
      await rig.close();
    });
  });

  describe(`shared distribution (${transport})`, () => {
    async function sharedPair(policy: SlownessPolicy, outOptions = {}) {
      const { rig, to } = await rigWith(transport, outOptions);
      const a = connectInput(rig, to, "a", { dataDistribution: "shared", onSlowness: policy });
      const b = connectInput(rig, to, "b", { dataDistribution: "shared", onSlowness: policy });
      await a.waitConnected();
      await b.waitConnected();
      return { rig, a, b, gotA: collect(a, SLOW_MS), gotB: collect(b, SLOW_MS) };
    }

    for (const policy of ["drop", "queueDrop", "wait"] as const) {
      test(`${policy}: each token goes to at most one worker, both work, and every end-of-stream arrives`, async () => {
        const { rig, a, b, gotA, gotB } = await sharedPair(policy);
        const ms = await produce(rig);
        await until(() => gotA.eos === 1 && gotB.eos === 1, "end of stream on every shared input");
        const union = [...gotA.trains, ...gotB.trains].sort((x, y) => x - y);
        assert.equal(new Set(union).size, union.length, "a token went to two shared inputs");
        assert.ok(gotA.trains.length > 0 && gotB.trains.length > 0, "one worker got nothing");
        assert.ok(increasing(gotA.trains) && increasing(gotB.trains));
        await until(() => a.stats().dropped + b.stats().dropped === N - union.length, "drops counted");
        if (policy === "wait") {
          assert.equal(union.length, N, "wait must not lose tokens");
          assert.ok(ms >= (N / 2 - 4) * SLOW_MS * 0.8, `sender was not held back (${ms.toFixed(0)} ms)`);
        } else {
          assert.ok(union.length < N, "two slow workers cannot keep up");
          assert.ok(ms < (N * SLOW_MS) / 2, `sender was held back (${ms.toFixed(0)} ms)`);
        }
        if (policy === "queueDrop") assert.ok(union.includes(N), "the newest token was queued");
        await rig.close();
      });
    }

    test("roundRobin: workers take turns", async () => {
      const { rig, gotA, gotB } = await sharedPair("wait", { sharedSelection: "roundRobin" });
      await produce(rig);
      await until(() => gotA.eos === 1 && gotB.eos === 1, "end of stream");
      const odd = gotA.trains[0] === 1 ? gotA : gotB;
      const even = odd === gotA ? gotB : gotA;
      assert.deepEqual(odd.trains, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
      assert.deepEqual(even.trains, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
      await rig.close();
    });

    test("custom selector: route by train ID", async () => {
      const { rig, gotA, gotB } = await sharedPair("wait", {
        sharedSelection: (token: { data: { get(k: string): unknown } }, ids: readonly string[]) =>
          ids.find((id) => id.includes(Number(token.data.get("trainId")) % 4 === 0 ? "/a:" : "/b:")),
      });
      await produce(rig);
      await until(() => gotA.eos === 1 && gotB.eos === 1, "end of stream");
      assert.deepEqual(gotA.trains, [4, 8, 12, 16, 20]);
      assert.equal(gotB.trains.length, 15);
      await rig.close();
    });

    test("a copy input beside a shared pool gets everything", async () => {
      const { rig, to } = await rigWith(transport);
      const a = connectInput(rig, to, "a", { dataDistribution: "shared", onSlowness: "wait" });
      const b = connectInput(rig, to, "b", { dataDistribution: "shared", onSlowness: "wait" });
      const c = connectInput(rig, to, "c", { onSlowness: "wait" });
      for (const i of [a, b, c]) await i.waitConnected();
      const [ga, gb, gc] = [collect(a), collect(b), collect(c)];
      await produce(rig);
      await until(() => ga.eos + gb.eos + gc.eos === 3, "end of stream");
      assert.equal(gc.trains.length, N);
      assert.equal(ga.trains.length + gb.trains.length, N);
      await rig.close();
    });
  });
}
