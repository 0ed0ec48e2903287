// The pool of large receive buffers: what comes back is handed out again, within a byte bound.

import assert from "node:assert/strict";
import { test } from "node:test";
import { BufferPool } from "../../src/core/index.ts";

test("every buffer of a message handed back is reused, however many share one size", () => {
  const pool = new BufferPool();
  const first = Array.from({ length: 16 }, () => pool.take(1000));
  pool.noteMessage(16 * 1000);
  for (const b of first) pool.give(b.buffer);
  assert.equal(pool.pooledBytes, 16_000);
  const second = Array.from({ length: 16 }, () => pool.take(1000));
  const reused = new Set(first.map((b) => b.buffer));
  assert.ok(
    second.every((b) => reused.has(b.buffer)),
    "all 16 buffers came from the pool",
  );
  assert.equal(pool.pooledBytes, 0);
});

test("the pool holds at most twice the largest message and drops older sizes first", () => {
  const pool = new BufferPool();
  pool.noteMessage(3000);
  const olds = [pool.take(1000), pool.take(1000)];
  const news = Array.from({ length: 5 }, () => pool.take(1500));
  for (const b of olds) pool.give(b.buffer);
  for (const b of news) pool.give(b.buffer);
  assert.equal(pool.limit(), 6000);
  assert.ok(pool.pooledBytes <= 6000);
  // The 1000-byte buffers, filled first, were dropped to make room for the newer size.
  assert.notEqual(pool.take(1000).buffer, olds[0]?.buffer);
  assert.notEqual(pool.take(1000).buffer, olds[1]?.buffer);
  assert.equal(pool.take(1500).buffer, news[4]?.buffer);
});

test("memory the pool did not hand out, or already holds, is not taken", () => {
  const pool = new BufferPool();
  pool.noteMessage(1 << 20);
  pool.give(new ArrayBuffer(100));
  pool.give(Buffer.alloc(100).buffer); // possibly a slice of Node's shared pool
  assert.equal(pool.pooledBytes, 0);
  const b = pool.take(100);
  pool.give(b.buffer);
  pool.give(b.buffer);
  assert.equal(pool.pooledBytes, 100);
});
