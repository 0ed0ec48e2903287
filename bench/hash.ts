// Karabo binary Hash encode/decode throughput, each figure beside a baseline measured in the same run:
//   (a) a Hash of N mixed scalars (default 1000) vs JSON.stringify/parse of the equivalent object;
//   (b) a Hash carrying one uint16 array of M MB (default 16) vs a plain memcpy (Buffer.copy) of its bytes.
// Sizes: HASH_BENCH_SCALARS=<n> HASH_BENCH_MB=<m> npm run bench -- hash

import { decodeHash, encodeHash, encodeHashToBytes, Hash, type NDArray, ndarray } from "../src/core/index.ts";

const SCALARS = Number(process.env.HASH_BENCH_SCALARS ?? 1000);
const MB = Number(process.env.HASH_BENCH_MB ?? 16);
const SECONDS = Number(process.env.HASH_BENCH_SECONDS ?? 1);

/** Runs `fn` repeatedly for about SECONDS (after a warm-up) and returns operations per second. */
function opsPerSecond(fn: () => unknown): number {
  for (let i = 0; i < 3; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(SECONDS * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    fn();
    n++;
    elapsed = process.hrtime.bigint() - start;
  }
  return n / (Number(elapsed) / 1e9);
}

function row(name: string, ops: number, bytes: number): void {
  const mbs = (ops * bytes) / 1e6;
  const us = 1e6 / ops;
  console.log(
    `  ${name.padEnd(46)} ${ops.toFixed(0).padStart(8)} ops/s ${us.toFixed(1).padStart(9)} µs/op ${mbs.toFixed(0).padStart(9)} MB/s`,
  );
}

function mixedScalars(n: number): { hash: Hash; plain: Record<string, unknown> } {
  const hash = new Hash();
  const plain: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = `property${i}`;
    switch (i % 5) {
      case 0:
        hash.set(key, i * 7);
        plain[key] = i * 7;
        break;
      case 1:
        hash.set(key, i * 0.37);
        plain[key] = i * 0.37;
        break;
      case 2:
        hash.set(key, `value ${i}`);
        plain[key] = `value ${i}`;
        break;
      case 3:
        hash.set(key, i % 2 === 0);
        plain[key] = i % 2 === 0;
        break;
      default:
        hash.set(key, BigInt(i) * 1_000_000_007n, "UINT64");
        plain[key] = i * 1_000_000_007; // JSON has no 64-bit integers: a double is the closest equivalent
    }
  }
  return { hash, plain };
}

function benchScalars(): void {
  const { hash, plain } = mixedScalars(SCALARS);
  const bytes = encodeHashToBytes(hash);
  const json = JSON.stringify(plain);
  if (!decodeHash(bytes).equals(hash)) throw new Error("round trip failed");
  console.log(
    `(a) Hash of ${SCALARS} mixed scalars: ${bytes.length} bytes binary, ${json.length} bytes JSON`,
  );
  row(
    "encodeHashToBytes + decodeHash",
    opsPerSecond(() => decodeHash(encodeHashToBytes(hash))),
    bytes.length,
  );
  row(
    "  encodeHashToBytes",
    opsPerSecond(() => encodeHashToBytes(hash)),
    bytes.length,
  );
  row(
    "  decodeHash",
    opsPerSecond(() => decodeHash(bytes)),
    bytes.length,
  );
  row(
    "baseline JSON.stringify + JSON.parse",
    opsPerSecond(() => JSON.parse(JSON.stringify(plain))),
    json.length,
  );
  row(
    "  JSON.stringify",
    opsPerSecond(() => JSON.stringify(plain)),
    json.length,
  );
  row(
    "  JSON.parse",
    opsPerSecond(() => JSON.parse(json)),
    json.length,
  );
}

function benchArray(): void {
  const n = Math.round((MB * 1024 * 1024) / 2);
  const data = new Uint16Array(n);
  for (let i = 0; i < n; i++) data[i] = i & 0xffff;
  const rows = 1024;
  const shape = n % rows === 0 ? [n / rows, rows] : [n];
  const hash = new Hash().set("trainId", 1n, "UINT64").set("image.data", ndarray(data, shape));
  const bytes = encodeHashToBytes(hash);
  const decoded = decodeHash(bytes).get<NDArray>("image.data");
  if (decoded.data.length !== n || decoded.data[n - 1] !== data[n - 1]) throw new Error("round trip failed");
  // Karabo's layout has no padding: whether the array sits aligned depends on the bytes before it, so
  // decode both an aligned and an unaligned copy of the message.
  const aligned = decoded.data.buffer === bytes.buffer ? bytes : shifted(bytes, 1);
  const unaligned = aligned === bytes ? shifted(bytes, 1) : bytes;
  if (decodeHash(aligned).get<NDArray>("image.data").data.buffer !== aligned.buffer)
    throw new Error("not a view");
  console.log(`(b) Hash carrying one ${MB} MB uint16 array (${bytes.length} bytes encoded)`);
  const size = data.byteLength;
  row(
    "encodeHash (chunks) + decodeHash, aligned",
    opsPerSecond(() => encodeHash(hash) && decodeHash(aligned)),
    size,
  );
  row(
    "  encodeHash (chunks: the array is not copied)",
    opsPerSecond(() => encodeHash(hash)),
    size,
  );
  row(
    "  encodeHashToBytes (one contiguous copy)",
    opsPerSecond(() => encodeHashToBytes(hash)),
    size,
  );
  row(
    "  decodeHash, array aligned (a view)",
    opsPerSecond(() => decodeHash(aligned)),
    size,
  );
  row(
    "  decodeHash, array unaligned (one copy)",
    opsPerSecond(() => decodeHash(unaligned)),
    size,
  );
  const src = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const dst = Buffer.allocUnsafe(size);
  row(
    "baseline memcpy (Buffer.copy) of the array",
    opsPerSecond(() => src.copy(dst)),
    size,
  );
  // What encodeHashToBytes and an unaligned decode must also do: take fresh memory for the copy.
  row(
    "  allocate + copy (Buffer.allocUnsafeSlow + copy)",
    opsPerSecond(() => src.copy(Buffer.allocUnsafeSlow(size))),
    size,
  );
}

/** The same bytes starting `by` bytes further into a fresh buffer. */
function shifted(bytes: Uint8Array, by: number): Uint8Array {
  const out = new Uint8Array(bytes.length + by).subarray(by);
  out.set(bytes);
  return out;
}

console.log(`node ${process.version}, ${SECONDS} s per figure`);
benchScalars();
benchArray();
