// Pipeline throughput: one AGIPD module train per token (64 memory cells × 2 (data, gain) × 512 × 128
// uint16 = 16 MiB, as raw AGIPD image.data is stored), handed over in one process and sent across two
// processes over TCP (sase output → sase input), beside memcpy of the same buffer and raw loopback TCP
// measured in the same run, the rows interleaved in rounds. The goal's baseline is the fastest raw
// receiver doing the pipeline input's job: each 16 MiB token received whole into memory the consumer
// could keep (one reused buffer, as sase reads into the memory released tokens hand back), from Node
// (`onread` into the rest of the token) and Python (`recv_into` the rest of the token; and with
// MSG_WAITALL). Printed beside them, and the ratio to them: raw reads into the start of one reused buffer
// (a window: the data is never kept, the kernel's copies stay cache-resident). Then across the boundary
// with Karabo's own middlelayer (../shared/peers/karabo, its InputChannel and OutputChannel in separate
// processes): sase → middlelayer, middlelayer → sase, and middlelayer → middlelayer as its baseline
// (skipped, saying why, without RabbitMQ and the peer).
//
//   npm run bench -- pipeline
//   PIPELINE_BENCH_CELLS=16 PIPELINE_BENCH_TOKENS=50 npm run bench -- pipeline   (smaller)
//   PIPELINE_BENCH_MDL_TOKENS=50   trains per middlelayer run
//   PIPELINE_BENCH_ROUNDS=5        rounds of the TCP rows (PIPELINE_BENCH_RUNS=3: runs of the others)
//   PIPELINE_BENCH_WARMUP=10       tokens every TCP row receives before it is timed (1: from the first)
//   PIPELINE_BENCH_SPLIT_ONLY=1    only the split-facility row
//   PIPELINE_BENCH_SPLIT_S=60      seconds the split facility (examples/facility-agipd.json, 16 modules at
//                                  10 Hz, one process per server) is measured; 0 skips it
//   PIPELINE_BENCH_SPLIT_ROWS=0    pixel rows each module simulates (0: the whole 512-row module; the
//                                  shipped demo's own 64 with "demo")
//   PIPELINE_BENCH_SPLIT_MODULES=16  modules of the chain kept (the first N)
//   PIPELINE_BENCH_SPLIT_ASSEMBLER=wait  the assembler input's onSlowness (drop, queueDrop or wait;
//                                  default as the shipped config), to compare the policies
//
// The split row first simulates three dark runs (high, medium, low gain) of the same modules and cells
// and characterises them (`sase detector simulate --dark`, `sase calibrate dark`) into a fresh constants
// store, so the corrections apply real offsets and gains instead of passing raw data through.
//
// Goals: in-process ≥ 80 % of memcpy, across processes ≥ 80 % of raw loopback TCP receiving whole tokens,
// every path with sase on one side ≥ 2× middlelayer → middlelayer.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConnection, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import {
  connectAmqpBroker,
  createLogger,
  DeviceClient,
  Hash,
  type NDArray,
  ndarray,
} from "../src/core/index.ts";
import {
  ChannelRegistry,
  InputChannel,
  OutputChannel,
  resolveOutputsThrough,
} from "../src/pipeline/index.ts";
import { freePort } from "../test/helpers/port.ts";
import { KaraboPipePeer } from "../test/pipeline/karabo-peer.ts";
import { childLines } from "./lib/child.ts";
import { loadAverage, median } from "./lib/stats.ts";

const CELLS = Number(process.env.PIPELINE_BENCH_CELLS ?? 64);
const TOKENS = Number(process.env.PIPELINE_BENCH_TOKENS ?? 200);
/** Runs per row: the best (memcpy, in-process, middlelayer rows). */
const RUNS = Number(process.env.PIPELINE_BENCH_RUNS ?? 3);
/** Rounds of the TCP rows: best, median and each round's ratio (loopback TCP varies a lot). */
const ROUNDS = Number(process.env.PIPELINE_BENCH_ROUNDS ?? 5);
/**
 * Tokens every TCP row receives before its clock and its receiver's CPU start (the same for every row):
 * process start-up, connecting and JIT warm-up of a fresh sender are not what a running pipeline pays.
 */
const WARMUP = Math.max(1, Math.min(Number(process.env.PIPELINE_BENCH_WARMUP ?? 10), TOKENS - 1));
/** Tokens in flight per input (the library's default is 2). */
const PREFETCH = Number(process.env.PIPELINE_BENCH_PREFETCH ?? 2);
const SHAPE = [CELLS, 2, 512, 128];
const BYTES = CELLS * 2 * 512 * 128 * 2;
const SELF = fileURLToPath(import.meta.url);
const MDL_TOKENS = Number(process.env.PIPELINE_BENCH_MDL_TOKENS ?? 50);
const SPLIT_S = Number(process.env.PIPELINE_BENCH_SPLIT_S ?? 60);
const SPLIT_ROWS = process.env.PIPELINE_BENCH_SPLIT_ROWS ?? "0";
const SPLIT_MODULES = Number(process.env.PIPELINE_BENCH_SPLIT_MODULES ?? 16);
const SPLIT_ASSEMBLER = process.env.PIPELINE_BENCH_SPLIT_ASSEMBLER;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Train IDs count 100 ms periods from this instant (the timing server's epoch). */
const TRAIN_EPOCH_MS = Date.UTC(2017, 0, 1);

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
async function child(role: string): Promise<void> {
  const buffers = trains(4);
  if (role === "raw") {
    // Sends every token as it is, back to back, to the one connection it accepts.
    const server = createServer(async (sock) => {
      sock.setNoDelay(true);
      const c0 = process.cpuUsage();
      for (let i = 0; i < TOKENS; i++) {
        const b = buffers[i % 4];
        if (!sock.write(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))) {
          await new Promise((r) => sock.once("drain", r));
        }
      }
      sock.end(() => process.stdout.write(`cpu ${cpuMs(c0)}\n`));
      server.close();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    process.stdout.write(`${(server.address() as { port: number }).port}\n`);
    return;
  }
  const out = new OutputChannel("BENCH/AGIPD/M0:output", undefined, { registry: null });
  const address = await out.listen();
  process.stdout.write(`${address}\n`);
  while (out.stats().connections === 0) await new Promise((r) => setTimeout(r, 5));
  const c0 = process.cpuUsage();
  for (let i = 0; i < TOKENS; i++) {
    await out.write(new Hash({ image: { data: ndarray(buffers[i % 4], SHAPE) } }), { trainId: i + 1 });
  }
  await out.endOfStream();
  process.stdout.write(`cpu ${cpuMs(c0)}\n`);
  await new Promise((r) => setTimeout(r, 200));
  await out.close();
}

/** CPU (user + system) this process used since `c0`, in ms. */
function cpuMs(c0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000;
}

/** One run of a cross-process row: its time, CPU per token of receiver and sender, the receiver's RSS. */
interface Run {
  ms: number;
  /** ms of CPU per token. */
  recv: number;
  send: number;
  rssMiB: number;
}

/** The sender's CPU per token from its `cpu MS` line. */
function senderCpu(text: string): number {
  return Number(/cpu ([\d.]+)/.exec(text)?.[1]) / TOKENS;
}

function spawnChild(role: string) {
  return spawn(process.execPath, ["--import", "tsx", SELF, "--child", role], {
    stdio: ["ignore", "pipe", "inherit"],
  });
}

/**
 * Raw loopback TCP from Node: the same bytes over a plain socket, timed like the pipeline row from the
 * first whole token. `whole` false: every read lands at the start of one reused buffer, so the kernel
 * copies into the same cache-resident few hundred KiB over and over and the data is never kept (a
 * window, not a receiver's job). `whole` true: each token is read whole into one reused 16 MiB buffer,
 * every read straight into the rest of the token (`onread` into the token's memory, as much as the
 * socket has), as a receiver that hands tokens to a consumer must, and as sase's input reads bodies into
 * the memory released tokens hand back.
 */
async function rawTcp(whole: boolean): Promise<Run> {
  const c = spawnChild("raw");
  const lines = childLines(c, "raw TCP sender");
  const port = Number(await lines.first);
  const into = new Uint8Array(BYTES);
  let received = 0;
  const target = whole ? () => into.subarray(received % BYTES) : into;
  let t0 = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  let c0 = process.cpuUsage();
  const sock = createConnection({
    host: "127.0.0.1",
    port,
    onread: {
      buffer: target,
      callback: (n: number) => {
        received += n;
        if (t0 === 0 && received >= WARMUP * BYTES) {
          t0 = performance.now();
          c0 = process.cpuUsage();
        }
        if (received >= TOKENS * BYTES) done();
        return true;
      },
    },
  });
  sock.setNoDelay(true);
  await finished;
  const ms = ((performance.now() - t0) * TOKENS) / (TOKENS - WARMUP);
  const recv = cpuMs(c0) / (TOKENS - WARMUP);
  sock.destroy();
  const send = senderCpu((await lines.rest).join("\n"));
  return { ms, recv, send, rssMiB: process.memoryUsage().rss / 2 ** 20 };
}

// The same from Python (/usr/bin/python3): a forked sender's sendall of each 16 MiB token; the receiver
// `window`: recv_into one reused buffer from its start (as bench/bridge.ts's raw row; data not kept),
// `whole`: each token whole into one reused 16 MiB buffer, recv_into(view[got:], size - got) until full,
// `waitall`: the same with MSG_WAITALL (the kernel fills the rest of the token in one call).
// Prints one JSON line: ms timed like the other rows, CPU ms per token of receiver and sender, the
// receiver's peak RSS.
const PY_RAW = `
import json, os, resource, socket, sys, time
n, size, mode, warm = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
srv = socket.create_server(("127.0.0.1", 0))
rfd, wfd = os.pipe()
if os.fork() == 0:
    c, _ = srv.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payloads = [memoryview(bytearray([k + 1]) * size) for k in range(4)]
    c0 = cpu()
    for i in range(n):
        c.sendall(payloads[i % 4])
    os.write(wfd, str(cpu() - c0).encode())
    c.close()
    os._exit(0)
s = socket.create_connection(srv.getsockname())
view = memoryview(bytearray(size))
t0, c0 = None, cpu()
if mode == "window":
    got = 0
    while got < n * size:
        k = s.recv_into(view)
        if k == 0:
            break
        got += k
        if t0 is None and got >= warm * size:
            t0, c0 = time.perf_counter(), cpu()
else:
    flags = socket.MSG_WAITALL if mode == "waitall" else 0
    for i in range(n):
        got = 0
        while got < size:
            k = s.recv_into(view[got:], size - got, flags)
            if k == 0:
                sys.exit("connection closed mid-token")
            got += k
        if i + 1 == warm:
            t0, c0 = time.perf_counter(), cpu()
ms = (time.perf_counter() - t0) * 1000 * n / (n - warm)
recv = cpu() - c0
os.wait()
send = float(os.read(rfd, 64))
# VmHWM, not ru_maxrss: that keeps the peak of the Node process this one was forked from.
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"ms": ms, "recv": recv * 1000 / (n - warm), "send": send * 1000 / n, "rssMiB": rss}))
`;

async function rawTcpPython(mode: "window" | "whole" | "waitall"): Promise<Run> {
  const p = spawn("/usr/bin/python3", ["-c", PY_RAW, String(TOKENS), String(BYTES), mode, String(WARMUP)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  p.stdout!.on("data", (b: Buffer) => {
    out += b.toString();
  });
  const code = await new Promise((r) => p.once("exit", r));
  if (code !== 0) throw new Error(`python raw TCP (${mode}) exited with ${code}`);
  return JSON.parse(out) as Run;
}

async function acrossProcesses(): Promise<Run> {
  const c = spawnChild("pipeline");
  const lines = childLines(c, "pipeline sender");
  const address = await lines.first;
  let c0 = process.cpuUsage();
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
    if (++seen === WARMUP) {
      t0 = performance.now();
      c0 = process.cpuUsage();
    }
    sum += t.data.get<NDArray>("image.data").data[0] as number;
    // A consumer done with each token before the next hands its memory back for reuse.
    inp.release(t);
  });
  await ended;
  // Timed from the WARMUP-th token's arrival, as every raw row.
  const ms = ((performance.now() - t0) * TOKENS) / (TOKENS - WARMUP);
  const recv = cpuMs(c0) / (TOKENS - WARMUP);
  if (seen !== TOKENS || sum === 0) throw new Error(`received ${seen} of ${TOKENS} tokens`);
  await inp.close();
  const send = senderCpu((await lines.rest).join("\n"));
  return { ms, recv, send, rssMiB: process.memoryUsage().rss / 2 ** 20 };
}

/** Karabo's middlelayer processes for the interop rows: inputs and outputs, two processes. */
interface MdlPeers {
  a: KaraboPipePeer;
  b: KaraboPipePeer;
  toSase: OutputChannel;
}

async function startMdl(): Promise<MdlPeers> {
  const topic = `sase_bench_${process.pid}`;
  const toSase = new OutputChannel("BENCH/SASE/M0:output", undefined, { registry: null });
  const address = (await toSase.listen()).replace("tcp://", "");
  const src2Port = await freePort();
  // Without the peer the bench goes on to its other rows: nothing of this attempt may stay open.
  const [a, b] = await Promise.allSettled([
    KaraboPipePeer.start(
      {
        "BENCH/KMDL/SINK": { input: [toSase.id], slowness: "wait", quiet: true },
        "BENCH/KMDL/SRC1": {},
        "BENCH/KMDL/SRC2": { port: src2Port },
      },
      { topic, resolve: { [toSase.id]: address } },
    ),
    KaraboPipePeer.start(
      { "BENCH/KMDL/SINK2": { input: ["BENCH/KMDL/SRC2:output"], slowness: "wait", quiet: true } },
      { topic, resolve: { "BENCH/KMDL/SRC2:output": `127.0.0.1:${src2Port}` } },
    ),
  ]);
  if (a.status === "fulfilled" && b.status === "fulfilled") return { a: a.value, b: b.value, toSase };
  await toSase.close();
  for (const s of [a, b]) if (s.status === "fulfilled") await s.value.kill();
  throw (a.status === "rejected" ? a : (b as PromiseRejectedResult)).reason;
}

/** Resolves with ms from the first to the `n`th item a quiet Karabo input counted (scaled to n items). */
function timeCounts(peer: KaraboPipePeer, device: string, n: number): Promise<number> {
  const base = peer.counts.get(device) ?? 0;
  let t0 = 0;
  return new Promise((resolve) => {
    peer.onCount = (d, count) => {
      if (d !== device) return;
      if (count === base + 1) t0 = performance.now();
      if (count === base + n) resolve(((performance.now() - t0) * n) / Math.max(1, n - 1));
    };
  });
}

async function saseToMdl(m: MdlPeers): Promise<number> {
  while (m.toSase.stats().connections === 0) await new Promise((r) => setTimeout(r, 10));
  const buffers = trains(4);
  const timed = timeCounts(m.a, "BENCH/KMDL/SINK", MDL_TOKENS);
  for (let i = 0; i < MDL_TOKENS; i++) {
    await m.toSase.write(new Hash({ image: { data: ndarray(buffers[i % 4], SHAPE) } }), { trainId: i + 1 });
  }
  return timed;
}

async function mdlToSase(m: MdlPeers): Promise<number> {
  const inp = new InputChannel("BENCH/CAL/M0:input", {
    connectedOutputChannels: [`BENCH/KMDL/SRC1:output@tcp://127.0.0.1:${m.a.ports.get("BENCH/KMDL/SRC1")}`],
    onSlowness: "wait",
    prefetch: PREFETCH,
  }).connect();
  await inp.waitConnected(10_000);
  let seen = 0;
  let t0 = 0;
  let sum = 0;
  const done = new Promise<number>((resolve) =>
    inp.onData((t) => {
      if (seen++ === 0) t0 = performance.now();
      sum += t.data.get<NDArray>("image.data").data[0] as number;
      inp.release(t);
      if (seen === MDL_TOKENS) resolve(((performance.now() - t0) * MDL_TOKENS) / (MDL_TOKENS - 1));
    }),
  );
  m.a.send("BENCH/KMDL/SRC1", { awaitInputs: 1 });
  m.a.send("BENCH/KMDL/SRC1", { bench: MDL_TOKENS, shape: SHAPE });
  const ms = await done;
  if (sum === 0) throw new Error("consumer saw no data");
  await inp.close();
  return ms;
}

async function mdlToMdl(m: MdlPeers): Promise<number> {
  const timed = timeCounts(m.b, "BENCH/KMDL/SINK2", MDL_TOKENS);
  m.a.send("BENCH/KMDL/SRC2", { awaitInputs: 1 });
  m.a.send("BENCH/KMDL/SRC2", { bench: MDL_TOKENS, shape: SHAPE });
  return timed;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Resident memory of a process in MiB, from /proc. */
function rssMiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
    : Number.NaN;
}

/** Runs `sase ARGS…` to completion; rejects with its last output line when it fails. */
function sase(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, "bin", "sase.js"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let text = "";
    p.stdout!.on("data", (b: Buffer) => {
      text += b.toString();
    });
    p.stderr!.on("data", (b: Buffer) => {
      text += b.toString();
    });
    p.once("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`sase ${args.slice(0, 2).join(" ")}: ${text.trim().split("\n").pop()}`)),
    );
  });
}

type Dev = {
  classId: string;
  rows?: number;
  rate?: number;
  module?: number;
  constantsStore?: string;
  bunchStructure?: { nPulses?: number };
  input?: { connectedOutputChannels: string[]; onSlowness?: string };
  dataSources?: string[];
};
type Servers = Record<string, { devices: Record<string, Dev> }>;

/** The shipped split facility cut to `modules` modules of `rows` rows (0: whole), correcting with `store`. */
function splitConfig(
  topic: string,
  modules: number,
  rows: string,
  store: string,
): { servers: Servers; timeServer?: string } {
  const config = JSON.parse(readFileSync(join(ROOT, "examples", "facility-agipd.json"), "utf8"));
  config.topic = topic;
  config.gui = { port: 0 };
  const kept = (id: string) => {
    const m = /\/(?:DET|CORR)\/(\d+)CH0/.exec(id);
    return !m || Number(m[1]) < modules;
  };
  for (const [name, server] of Object.entries(config.servers as Servers)) {
    for (const [id, d] of Object.entries(server.devices)) {
      if (!kept(id)) {
        delete server.devices[id];
        continue;
      }
      if ((d.classId === "DetectorModule" || d.classId === "ModuleCorrection") && rows !== "demo")
        d.rows = Number(rows);
      if (d.classId === "ModuleCorrection") d.constantsStore = store;
      if (d.classId === "DetectorAssembler" && SPLIT_ASSEMBLER && d.input)
        d.input.onSlowness = SPLIT_ASSEMBLER;
      if (d.input) d.input.connectedOutputChannels = d.input.connectedOutputChannels.filter(kept);
      if (d.dataSources) d.dataSources = d.dataSources.filter(kept);
    }
    if (Object.keys(server.devices).length === 0) delete config.servers[name];
  }
  return config;
}

/** Three simulated dark runs of the chain's modules characterised into `store`. */
async function takeDarks(dir: string, store: string, modules: number, cells: number, rows: number) {
  const runs = ["high", "medium", "low"].map((g) => join(dir, `dark-${g}`));
  const sized = rows ? ["--rows", String(rows)] : [];
  for (const [i, g] of ["high", "medium", "low"].entries()) {
    await sase([
      "detector",
      "simulate",
      runs[i]!,
      "--run",
      String(i + 1),
      "--trains",
      "8",
      "--cells",
      String(cells),
      "--modules",
      String(modules),
      "--dark",
      g,
      ...sized,
    ]);
  }
  await sase(["calibrate", "dark", ...runs, "--store", store, "--create", ...sized]);
  for (const r of runs) rmSync(r, { recursive: true, force: true });
}

/**
 * Device figures summed over a set of devices, read through the broker: one request per device for
 * all its keys, every device at once, so the figures of one snapshot are of nearly the same moment (a
 * request per key, one device class after another, skewed the windows by seconds on a loaded machine).
 */
async function figures(client: DeviceClient, ids: string[], keys: string[]): Promise<Record<string, number>> {
  const sums: Record<string, number> = Object.fromEntries(keys.map((k) => [k, 0]));
  await Promise.all(
    ids.map(async (id) => {
      // A device without one of the keys (an older build, measured as the baseline) answers the others.
      const values = await client
        .getConfiguration(id, keys)
        .then((c) => c.values)
        .catch(async () => {
          const one = await Promise.all(
            keys.map((k) =>
              client
                .getConfiguration(id, [k])
                .then((c) => c.values[k])
                .catch(() => undefined),
            ),
          );
          return Object.fromEntries(keys.map((k, i) => [k, one[i]])) as Record<string, unknown>;
        });
      for (const k of keys) sums[k]! += Number(values[k] ?? Number.NaN);
    }),
  );
  return sums;
}

/**
 * The AGIPD chain split over processes (`sase start --config examples/facility-agipd.json`, here with
 * whole modules and real constants): train creation (its ID's slot on the 10 Hz clock) → corrected,
 * assembled image arriving at a viewer; trains lost on the way and where; CPU per server process.
 */
async function splitFacility(seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sase-split-bench-"));
  const topic = `sase_split_bench_${process.pid}`;
  const store = join(dir, "constants");
  const config = splitConfig(topic, SPLIT_MODULES, SPLIT_ROWS, store);
  writeFileSync(join(dir, "facility.json"), JSON.stringify(config));
  const devices = Object.entries(config.servers).flatMap(([, s]) => Object.entries(s.devices));
  const ofClass = (c: string) => devices.filter(([, d]) => d.classId === c);
  const modules = ofClass("DetectorModule");
  const corrections = ofClass("ModuleCorrection").map(([id]) => id);
  const assembler = ofClass("DetectorAssembler")[0]![0];
  const cells = ofClass("AgipdControl")[0]?.[1].bunchStructure?.nPulses ?? 4;
  const rows = modules[0]?.[1].rows || 0;
  const shape = `${modules.length} modules of ${rows || 512} rows × ${cells} cells at ${modules[0]?.[1].rate} Hz`;
  const d0 = performance.now();
  await takeDarks(dir, store, modules.length, cells, rows);
  console.log(
    `split facility: darks of ${modules.length} modules characterised into a fresh store in ${((performance.now() - d0) / 1000).toFixed(0)} s`,
  );
  const url = process.env.KARABO_BROKER ?? "amqp://xfel:karabo@127.0.0.1:5672";
  const sup = spawn(
    process.execPath,
    [join(ROOT, "bin", "sase.js"), "start", "--config", join(dir, "facility.json"), "--log-dir", dir],
    { env: { ...process.env, KARABO_BROKER: url }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  sup.stdout!.on("data", (b: Buffer) => {
    out += b.toString();
  });
  sup.stderr!.resume();
  const broker = await connectAmqpBroker({ urls: url, topic, log: createLogger("bench", () => {}) });
  resolveOutputsThrough(broker);
  const client = new DeviceClient(broker, { user: "bench", accessLevel: "operator" }, { timeoutMs: 30_000 });
  const view = new InputChannel("BENCH/SPLIT/VIEW:input", {
    connectedOutputChannels: [`${assembler}:output`],
  }).connect();
  const latencies: number[] = [];
  /** Latency of the images with every module (what a viewer wants to see). */
  const wholeLatencies: number[] = [];
  const trainIds: number[] = [];
  let measuring = false;
  let keepLogs = false;
  let complete = 0;
  view.onData((t) => {
    if (!measuring) return;
    const latency = Date.now() - (TRAIN_EPOCH_MS + t.meta.timestamp.trainId * 100);
    latencies.push(latency);
    trainIds.push(t.meta.timestamp.trainId);
    if (t.data.getOr("image.modulesPresent", 0) === modules.length) {
      complete++;
      wholeLatencies.push(latency);
    }
  });
  const snapshot = async () => {
    const [det, corr, asm] = await Promise.all([
      figures(
        client,
        modules.map(([id]) => id),
        ["trainsSent", "trainsSkipped", "lastTrainId", "xtdf.dropped", "trainStride", "simulationMs"],
      ),
      figures(client, corrections, [
        "input.tokens",
        "input.dropped",
        "input.lost",
        "trainsCorrected",
        "trainsPassedRaw",
        "trainsSkipped",
        "trainStride",
        "output.tokensWritten",
      ]),
      figures(
        client,
        [assembler],
        [
          "input.tokens",
          "input.dropped",
          "input.lost",
          "trainsAssembled",
          "trainsIncomplete",
          "trainsSkipped",
          "output.tokensWritten",
        ],
      ),
    ]);
    const v = view.stats();
    return { det, corr, asm, view: { tokens: v.tokens, dropped: v.dropped, lost: v.lost } };
  };
  try {
    // Warm-up: servers start, connect by name through the broker, load constants and settle. A chain
    // too slow for 20 trains in 120 s (a loaded machine) is measured all the same: its figures say where
    // the trains go; with none assembled at all the logs are kept.
    const warm = performance.now();
    while (view.stats().tokens < 20 && performance.now() - warm < 120_000)
      await new Promise((r) => setTimeout(r, 200));
    if (view.stats().tokens === 0) {
      keepLogs = true;
      throw new Error(`no assembled train within 120 s of start; server logs kept in ${dir}`);
    }
    if (view.stats().tokens < 20)
      console.log(`  (only ${view.stats().tokens} assembled trains in the 120 s warm-up: measuring anyway)`);
    const pids = [...out.matchAll(/started (\S+) \(pid (\d+)\)/g)].map((m) => ({
      name: m[1]!,
      pid: Number(m[2]),
    }));
    const before = await snapshot();
    const cpu0 = pids.map((p) => cpuSeconds(p.pid));
    // Every change of the shared grid's stride during the run (how often it swings), and trains at each.
    const strideChanges: number[] = [];
    let lastStride: number | undefined;
    const gridWatch = config.timeServer
      ? broker.subscribe(config.timeServer, "trainGrids", (c) => {
          if (!measuring || !Array.isArray(c.value)) return;
          for (const row of c.value as { stride: number | bigint }[]) {
            const stride = Number(row.stride);
            if (stride !== lastStride) strideChanges.push(stride);
            lastStride = stride;
          }
        })
      : undefined;
    measuring = true;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    gridWatch?.close();
    const cpu1 = pids.map((p) => cpuSeconds(p.pid));
    const rss = pids.map((p) => rssMiB(p.pid));
    const after = await snapshot();
    const delta = (s: "det" | "corr" | "asm" | "view", k: string) =>
      (after[s] as Record<string, number>)[k]! - (before[s] as Record<string, number>)[k]!;
    latencies.sort((a, b) => a - b);
    wholeLatencies.sort((a, b) => a - b);
    const span = trainIds.length ? Math.max(...trainIds) - Math.min(...trainIds) + 1 : 0;
    console.log(
      `split facility (${shape}, ${pids.length} processes, ${seconds} s, assembler input ${SPLIT_ASSEMBLER ?? "as configured"}): detector → corrected assembled image latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms; trains ${trainIds.length} of ${span} (lost ${span - trainIds.length}), ${complete} with all ${modules.length} modules`,
    );
    console.log(
      `  whole images at the viewer: ${(complete / seconds).toFixed(2)} per s (${complete}), latency p50 ${percentile(wholeLatencies, 50).toFixed(0)} ms, p99 ${percentile(wholeLatencies, 99).toFixed(0)} ms; with modules missing: ${trainIds.length - complete}`,
    );
    const n = modules.length;
    // Each hop: what the senders wrote = what the receivers got + what their outputs dropped for them
    // (+ lost on a broken connection); the remainder is in flight or not yet reported at the snapshot.
    const hop = (name: string, sent: number, s: "corr" | "asm" | "view", per = 1) => {
      const key = s === "view" ? "" : "input.";
      const got = delta(s, `${key}tokens`);
      const dropped = delta(s, `${key}dropped`);
      const lost = delta(s, `${key}lost`);
      console.log(
        `  ${name.padEnd(26)} sent ${(sent / per).toFixed(1).padStart(6)}, received ${(got / per).toFixed(1).padStart(6)}, dropped ${(dropped / per).toFixed(1).padStart(6)}, lost ${lost}, unaccounted ${((sent - got - dropped - lost) / per).toFixed(1)}${per > 1 ? " (per module)" : ""}`,
      );
    };
    console.log(
      `  detector modules: sent ${(delta("det", "trainsSent") / n).toFixed(1)} and skipped ${(delta("det", "trainsSkipped") / n).toFixed(1)} trains each of the ${(delta("det", "lastTrainId") / n).toFixed(0)} between their figures of the two snapshots (output dropped ${delta("det", "xtdf.dropped")}, corrections and DAQ together); at the end every ${(after.det.trainStride! / n).toFixed(1)}th train (mean), simulation ${(after.det.simulationMs! / n).toFixed(0)} ms per train`,
    );
    hop("modules → corrections", delta("det", "trainsSent"), "corr", n);
    hop("corrections → assembler", delta("corr", "output.tokensWritten"), "asm");
    hop("assembler → viewer", delta("asm", "output.tokensWritten"), "view");
    console.log(
      `  corrected ${(delta("corr", "trainsCorrected") / n).toFixed(1)} per module, passed raw ${delta("corr", "trainsPassedRaw")}, skipped off their grid ${(delta("corr", "trainsSkipped") / n).toFixed(1)} per module (at the end every ${(after.corr.trainStride! / n).toFixed(1)}th train, mean); assembler: ${delta("asm", "trainsAssembled")} assembled, ${delta("asm", "trainsIncomplete")} sent incomplete, ${delta("asm", "trainsSkipped")} skipped incomplete`,
    );
    // Corrections backing off to different levels correct trains that cannot be whole: the spread says.
    const strides = await Promise.all(
      corrections.map((id) => figures(client, [id], ["trainStride"]).then((f) => f.trainStride!)),
    );
    console.log(`  correction strides at the end: ${strides.join(" ")}`);
    const moduleStrides = await Promise.all(
      modules.map(([id]) => figures(client, [id], ["trainStride"]).then((f) => f.trainStride!)),
    );
    console.log(`  detector module strides at the end: ${moduleStrides.join(" ")}`);
    // The facility's shared grid (a timing server that keeps one), as operators see it.
    const grids = config.timeServer
      ? await client.get(config.timeServer, "trainGrids").catch(() => undefined)
      : undefined;
    console.log(
      `  timing server's train grids: ${Array.isArray(grids) ? JSON.stringify(grids, (_k, v) => (typeof v === "bigint" ? Number(v) : v)) : "none (the build keeps no shared grid)"}`,
    );
    console.log(
      `  shared grid's stride changes during the run: ${strideChanges.length}${strideChanges.length ? ` (${strideChanges.join(" → ")})` : ""}`,
    );
    const corrMs = (await figures(client, corrections, ["processingMs"])).processingMs! / corrections.length;
    console.log(
      `  correction time per module train: ${corrMs.toFixed(1)} ms (the last train's, mean over modules)`,
    );
    let total = 0;
    for (let i = 0; i < pids.length; i++) {
      const pct = ((cpu1[i]! - cpu0[i]!) / seconds) * 100;
      total += pct;
      console.log(
        `  CPU ${pids[i]!.name.padEnd(34)} ${Number.isFinite(pct) ? pct.toFixed(0).padStart(4) : "   ?"} %   rss ${rss[i]!.toFixed(0).padStart(5)} MiB`,
      );
    }
    console.log(`  CPU all processes ${total.toFixed(0)} % (of one core)`);
  } finally {
    await view.close();
    await broker.close();
    const exited = new Promise((r) => sup.once("exit", r));
    sup.kill("SIGINT");
    await exited;
    if (!keepLogs) rmSync(dir, { recursive: true, force: true });
  }
}

const childAt = process.argv.indexOf("--child");
if (childAt >= 0) {
  await child(process.argv[childAt + 1]);
} else if (process.env.PIPELINE_BENCH_SPLIT_ONLY) {
  await splitFacility(SPLIT_S || 60);
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
  // Raw and pipeline TCP rows run in rounds, each row once per round in an order that rotates, so all
  // see the same load on a shared machine.
  const tcpRows: { name: string; run: () => Promise<Run>; kind: "window" | "whole" | "sase" }[] = [
    { name: "raw TCP, Node, window", run: () => rawTcp(false), kind: "window" },
    { name: "raw TCP, Python, window", run: () => rawTcpPython("window"), kind: "window" },
    { name: "raw TCP, Node, whole tokens", run: () => rawTcp(true), kind: "whole" },
    { name: "raw TCP, Python, whole tokens", run: () => rawTcpPython("whole"), kind: "whole" },
    { name: "raw TCP, Python, MSG_WAITALL", run: () => rawTcpPython("waitall"), kind: "whole" },
    { name: "sase output → sase input", run: acrossProcesses, kind: "sase" },
  ];
  const runs = tcpRows.map(() => [] as Run[]);
  const load0 = loadAverage();
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < tcpRows.length; k++) {
      const at = (k + r) % tcpRows.length;
      runs[at]!.push(await tcpRows[at]!.run());
    }
  }
  const load1 = loadAverage();
  /** Best (shortest) and median time of a row, and its median CPU and peak RSS. */
  const summary = tcpRows.map((row, k) => {
    const rs = runs[k]!;
    return {
      ...row,
      best: Math.min(...rs.map((x) => x.ms)),
      median: median(rs.map((x) => x.ms)),
      recv: median(rs.map((x) => x.recv)),
      send: median(rs.map((x) => x.send)),
      rss: Math.max(...rs.map((x) => x.rssMiB)),
    };
  });
  console.log(
    `loopback TCP, ${ROUNDS} rounds (rows interleaved), timed from the ${WARMUP}th token, load average ${load0} → ${load1}; GB/s best and median; CPU ms per token (median; receiver from the ${WARMUP}th token, sender all tokens), receiver and sender; receiver's RSS (Node rows: this process)`,
  );
  for (const x of summary) {
    console.log(
      `${x.name.padEnd(34)} ${gbps(total, x.best).toFixed(2).padStart(6)} ${gbps(total, x.median).toFixed(2).padStart(6)} GB/s   CPU ${x.recv.toFixed(2)} / ${x.send.toFixed(2)} ms   rss ${x.rss.toFixed(0)} MiB${x.kind === "window" ? "   (data not kept)" : ""}`,
    );
  }
  const sase = summary.find((x) => x.kind === "sase")!;
  const strongest = (kind: "window" | "whole", by: "best" | "median") =>
    summary.filter((x) => x.kind === kind).reduce((a, b) => (b[by] < a[by] ? b : a));
  const pct = (kind: "window" | "whole", by: "best" | "median") => {
    const base = strongest(kind, by);
    return `${((base[by] / sase[by]) * 100).toFixed(0)} % (${by}, of ${base.name})`;
  };
  console.log(
    `in-process / memcpy: ${((mc / ipMs) * 100).toFixed(0)} % (goal ≥ 80 %); sase → sase / raw TCP receiving whole tokens: ${pct("whole", "best")}, ${pct("whole", "median")} (goal ≥ 80 %); / raw TCP into a window, data not kept: ${pct("window", "best")}, ${pct("window", "median")}`,
  );
  // Each round's rows ran back to back under much the same load: sase against the fastest whole-token
  // receiver of its own round is the paired figure (best and median above may come from different rounds).
  const saseAt = tcpRows.findIndex((x) => x.kind === "sase");
  const perRound = runs[saseAt]!.map((run, r) => {
    const base = Math.min(...tcpRows.flatMap((x, k) => (x.kind === "whole" ? [runs[k]![r]!.ms] : [])));
    return (base / run.ms) * 100;
  });
  console.log(
    `per round, sase → sase / the fastest raw whole-token receiver of that round: ${perRound.map((x) => `${x.toFixed(0)} %`).join(", ")} (lowest ${Math.min(...perRound).toFixed(0)} %, median ${median(perRound).toFixed(0)} %)`,
  );
  let m: MdlPeers | undefined;
  try {
    m = await startMdl();
  } catch (err) {
    console.log(`Karabo middlelayer rows skipped: ${(err as Error).message.split("\n")[0]}`);
  }
  if (m) {
    const mdlTotal = MDL_TOKENS * BYTES;
    const mrow = (name: string, ms: number) =>
      console.log(
        `${name.padEnd(34)} ${gbps(mdlTotal, ms).toFixed(2).padStart(8)} GB/s ${((MDL_TOKENS / ms) * 1000).toFixed(1).padStart(10)} tokens/s`,
      );
    // CPU of sender and receiver over each run (% of one core, from /proc): shows which side sets the pace.
    const pa = m.a.child.pid!;
    const pb = m.b.child.pid!;
    const cpuOf = async (run: () => Promise<number>, sender: number, receiver: number) => {
      const w0 = performance.now();
      const c0 = [cpuSeconds(sender), cpuSeconds(receiver)];
      const ms = await run();
      const wall = (performance.now() - w0) / 1000;
      const used = (i: number, pid: number) => cpuSeconds(pid) - c0[i]!;
      return { ms, wall, send: used(0, sender), recv: used(1, receiver) };
    };
    const rows = { m2m: [] as Cpu[], s2m: [] as Cpu[], m2s: [] as Cpu[] };
    /** Run time (ms), wall time around it (s) and CPU seconds of sender and receiver. */
    type Cpu = { ms: number; wall: number; send: number; recv: number };
    for (let i = 0; i < RUNS; i++) {
      rows.m2m.push(await cpuOf(() => mdlToMdl(m!), pa, pb));
      rows.s2m.push(await cpuOf(() => saseToMdl(m!), process.pid, pa));
      rows.m2s.push(await cpuOf(() => mdlToSase(m!), pa, process.pid));
    }
    const fastest = (r: Cpu[]) => r.reduce((a, b) => (b.ms < a.ms ? b : a));
    const [m2m, s2m, m2s] = [fastest(rows.m2m), fastest(rows.s2m), fastest(rows.m2s)];
    const cpu = (r: Cpu) =>
      `   CPU sender ${((r.send / r.wall) * 100).toFixed(0)} % (${((r.send / MDL_TOKENS) * 1000).toFixed(0)} ms per token), receiver ${((r.recv / r.wall) * 100).toFixed(0)} % (${((r.recv / MDL_TOKENS) * 1000).toFixed(0)} ms per token)`;
    console.log(`Karabo middlelayer (${MDL_TOKENS} tokens per run, separate processes, best of ${RUNS}):`);
    mrow("baseline: middlelayer → middlelayer", m2m.ms);
    console.log(cpu(m2m));
    mrow("sase output → middlelayer input", s2m.ms);
    console.log(cpu(s2m));
    mrow("middlelayer output → sase input", m2s.ms);
    console.log(cpu(m2s));
    console.log(
      `sase → MDL / MDL → MDL: ${(m2m.ms / s2m.ms).toFixed(1)}×; MDL → sase / MDL → MDL: ${(m2m.ms / m2s.ms).toFixed(1)}× (goal ≥ 2×)`,
    );
    await m.a.kill();
    await m.b.kill();
    await m.toSase.close();
  }
  if (SPLIT_S > 0) {
    try {
      await splitFacility(SPLIT_S);
    } catch (err) {
      console.log(`split facility row failed: ${(err as Error).message}`);
    }
  }
  const mem = process.memoryUsage();
  console.log(
    `memory of this process: rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`,
  );
}
