// The worker-thread pool the simulation and the online correction share: a lane always reaches the
// same thread, failures come back as errors, closing fails what is in flight, and a shared instance
// lives from its first acquire to its last release.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SaseError, SharedInstance, ThreadPool } from "../../src/core/index.ts";

type Request = { id: number; action: "who" | "fail" | "hang" };
type Reply = { id: number; thread: number } | { id: number; error: string };

function pool(threads: number) {
  return new ThreadPool<Request, Reply>({
    name: "test threads",
    entry: new URL("./workers/lane-worker.ts", import.meta.url),
    threads,
    failure: (m) => ("error" in m ? new SaseError("TASK_FAILED", m.error) : null),
  });
}

const thread = (r: Reply) => ("thread" in r ? r.thread : -1);

test("a lane always reaches the same thread, lanes spread over the threads", async () => {
  const p = pool(2);
  try {
    assert.equal(p.threads, 2);
    const a = await Promise.all([0, 2, 4, 0].map((lane) => p.request(lane, { action: "who" })));
    const b = await Promise.all([1, 3, 5].map((lane) => p.request(lane, { action: "who" })));
    assert.equal(new Set(a.map(thread)).size, 1);
    assert.equal(new Set(b.map(thread)).size, 1);
    assert.notEqual(thread(a[0]!), thread(b[0]!));
  } finally {
    await p.close();
  }
});

test("a failure reply rejects its request only; closing rejects requests in flight and later ones", async () => {
  const p = pool(1);
  await assert.rejects(p.request(0, { action: "fail" }), { code: "TASK_FAILED", message: /asked to fail/ });
  assert.ok(thread(await p.request(0, { action: "who" })) > 0, "the thread still answers");
  const hung = assert.rejects(p.request(0, { action: "hang" }), { code: "CLOSED", message: /test threads closed/ });
  await p.close();
  await hung;
  await assert.rejects(p.request(0, { action: "who" }), { code: "CLOSED", message: /test threads are closed/ });
});

test("a shared instance is made on first acquire and closed by the last release", async () => {
  let made = 0;
  let closed = 0;
  const shared = new SharedInstance(() => {
    made++;
    return { close: async () => void closed++ };
  });
  const a = shared.acquire();
  assert.equal(shared.acquire(), a);
  await shared.release();
  assert.equal(closed, 0, "one user left");
  await shared.release();
  assert.equal(closed, 1);
  await shared.release(); // an extra release does nothing
  assert.equal(closed, 1);
  assert.notEqual(shared.acquire(), a, "a new instance after the last release");
  assert.equal(made, 2);
  await shared.release();
});
