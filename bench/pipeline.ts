// Pipeline throughput: one AGIPD module train per token (64 memory cells × 2 (data, gain) × 512 × 128
// uint16 = 16 MiB, as raw AGIPD image.data is stored), handed over in one process and sent across two
// processes over TCP, beside memcpy of the same buffer and raw loopback TCP measured in the same run.
//
//   npm run bench -- pipeline
//   PIPELINE_BENCH_CELLS=16 PIPELINE_BENCH_TOKENS=50 npm run bench -- pipeline   (smaller)
//
// Goals: in-process ≥ 80 % of memcpy, across processes ≥ 50 % of raw loopback TCP.

import { spawn } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { Hash, type NDArray, ndarray } from "../src/core/index.ts";
import { ChannelRegistry, InputChannel, OutputChannel } from "../src/pipeline/index.ts";

const CELLS = Number(process.env.PIPELINE_BENCH_CELLS ?? 64);
const TOKENS = Number(process.env.PIPELINE_BENCH_TOKENS ?? 200);
/** Each figure is the best of this many runs (loopback TCP varies a lot from run to run). */
const RUNS = Number(process.env.PIPELINE_BENCH_RUNS ?? 3);
/** Tokens in flight per input (the library's default is 2). */
const PREFETCH = Number(process.env.PIPELINE_BENCH_PREFETCH ?? 2);
const SHAPE = [CELLS, 2, 512, 128];
const BYTES = CELLS * 2 * 512 * 128 * 2;
const SELF = fileURLToPath(import.meta.url);

/** A few distinct trains, so nothing is trivially cached; each gets its own buffer. */
function trains(n: number): Uint16Array[] {
  return Array.from({ length: n }, (_, i) => new Uint16Array(BYTES / 2).fill(i + 1));
}

function gbps(bytes: number, ms: number): number {
  return bytes / (ms / 1000) / 1e9;
}

function memcpy(): number {
  const src = trains(1)[0];
  const dst = new Uint16Array(src.length);
  dst.set(src); // warm up
  const t0 = performance.now();
  for (let i = 0; i < TOKENS; i++) dst.set(src);
  return performance.now() - t0;
}

async function inProcess(): Promise<number> {
  const registry = new ChannelRegistry();
  const out = new OutputChannel("BENCH/AGIPD/M0:output", undefined, { registry });
  const inp = new InputChannel(
    "BENCH/CAL/M0:input",
    { connectedOutputChannels: [out.id], onSlowness: "wait" },
    { registry },
  ).connect();
  await inp.waitConnected();
  const buffers = trains(4);
  let seen = 0;
  let sum = 0;
  inp.onData((t) => {
    seen++;
    sum += t.data.get<NDArray>("image.data").data[0] as number; // the consumer reads the array
  });
  const t0 = performance.now();
  for (let i = 0; i < TOKENS; i++) {
    const data = new Hash({ image: { data: ndarray(buffers[i % 4], SHAPE) } });
    await out.write(data, { trainId: i + 1 });
  }
  await out.endOfStream();
  while (seen < TOKENS) await new Promise((r) => setImmediate(r));
  const ms = performance.now() - t0;
  if (sum === 0) throw new Error("consumer saw no data");
  await inp.close();
  await out.close();
  return ms;
}

/** Child side of the cross-process runs. */
async function child(role: string, port: number): Promise<void> {
  const buffers = trains(4);
  if (role === "raw") {
    const sock = createConnection({ host: "127.0.0.1", port });
    sock.setNoDelay(true);
    await new Promise((r) => sock.once("connect", r));
    for (let i = 0; i < TOKENS; i++) {
      const b = buffers[i % 4];
      if (!sock.write(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))) {
        await new Promise((r) => sock.once("drain", r));
      }
    }
    sock.end();
    return;
  }
  const out = new OutputChannel("BENCH/AGIPD/M0:output", undefined, { registry: null });
  const address = await out.listen();
  process.stdout.write(`${address}\n`);
  while (out.stats().connections === 0) await new Promise((r) => setTimeout(r, 5));
  for (let i = 0; i < TOKENS; i++) {
    await out.write(new Hash({ image: { data: ndarray(buffers[i % 4], SHAPE) } }), { trainId: i + 1 });
  }
  await out.endOfStream();
  await new Promise((r) => setTimeout(r, 200));
  await out.close();
}

function spawnChild(role: string, port = 0) {
  return spawn(process.execPath, ["--import", "tsx", SELF, "--child", role, String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
}

async function rawTcp(): Promise<number> {
  let received = 0;
  let t0 = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const server = createServer((sock) => {
    t0 = performance.now();
    sock.on("data", (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received >= TOKENS * BYTES) done();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const c = spawnChild("raw", (server.address() as { port: number }).port);
  await finished;
  const ms = performance.now() - t0;
  server.close();
  await new Promise((r) => c.once("exit", r));
  return ms;
}

async function acrossProcesses(): Promise<number> {
  const c = spawnChild("pipeline");
  const address = await new Promise<string>((resolve) =>
    c.stdout!.once("data", (b: Buffer) => resolve(b.toString().trim())),
  );
  const inp = new InputChannel("BENCH/CAL/M0:input", {
    connectedOutputChannels: [`BENCH/AGIPD/M0:output@${address}`],
    onSlowness: "wait",
    prefetch: PREFETCH,
  }).connect();
  let seen = 0;
  let t0 = 0;
  let sum = 0;
  const ended = new Promise<void>((r) => inp.onEndOfStream(() => r()));
  inp.onData((t) => {
    if (seen++ === 0) t0 = performance.now();
    sum += t.data.get<NDArray>("image.data").data[0] as number;
  });
  await ended;
  // Timed from the first token's arrival, so process start-up is not counted (the raw run likewise).
  const ms = ((performance.now() - t0) * TOKENS) / Math.max(1, TOKENS - 1);
  if (seen !== TOKENS || sum === 0) throw new Error(`received ${seen} of ${TOKENS} tokens`);
  await inp.close();
  await new Promise((r) => c.once("exit", r));
  return ms;
}

const childAt = process.argv.indexOf("--child");
if (childAt >= 0) {
  await child(process.argv[childAt + 1], Number(process.argv[childAt + 2]));
} else {
  const total = TOKENS * BYTES;
  console.log(
    `token: one AGIPD module train, ${CELLS} cells × 2 × 512 × 128 uint16 = ${BYTES} bytes (${(BYTES / 2 ** 20).toFixed(1)} MiB); ${TOKENS} tokens per run`,
  );
  const row = (name: string, ms: number) =>
    console.log(
      `${name.padEnd(34)} ${gbps(total, ms).toFixed(2).padStart(8)} GB/s ${((TOKENS / ms) * 1000).toFixed(1).padStart(10)} tokens/s`,
    );
  const best = async (run: () => number | Promise<number>) => {
    let ms = Number.POSITIVE_INFINITY;
    for (let i = 0; i < RUNS; i++) ms = Math.min(ms, await run());
    return ms;
  };
  console.log(`best of ${RUNS} runs each`);
  const mc = await best(memcpy);
  row("baseline: memcpy (TypedArray.set)", mc);
  const ipMs = await best(inProcess);
  row("pipeline in-process (zero copy)", ipMs);
  // Raw and pipeline TCP runs alternate, so both see the same load on a shared machine.
  let raw = Number.POSITIVE_INFINITY;
  let tcp = Number.POSITIVE_INFINITY;
  for (let i = 0; i < RUNS; i++) {
    raw = Math.min(raw, await rawTcp());
    tcp = Math.min(tcp, await acrossProcesses());
  }
  row("baseline: raw loopback TCP", raw);
  row("pipeline across processes (TCP)", tcp);
  console.log(
    `in-process / memcpy: ${((mc / ipMs) * 100).toFixed(0)} % (goal ≥ 80 %); TCP / raw TCP: ${((raw / tcp) * 100).toFixed(0)} % (goal ≥ 50 %)`,
  );
}
