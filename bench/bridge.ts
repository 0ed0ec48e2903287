// Karabo bridge throughput: a sase server and a sase client in separate processes (REQ/REP, protocol
// 2.2, every array decoded), beside, in the same run and for the same trains:
//  - raw TCP: the frames joined once and sent over a plain socket, read into one reused buffer with
//    recv_into and MSG_WAITALL (a warm plain read of the network: the ceiling no ZeroMQ transfer can pass);
//  - raw pyzmq: the frames serialized once and sent again and again (ZeroMQ's own speed from Python);
//  - sase's client over zeromq.js instead of its own ZMTP transport, and sase's server over a zeromq.js
//    ROUTER instead of its own ZMTP one (what both used before);
//  - the Python pair: pyzmq + msgpack + numpy following karabo-bridge-py's serializer/deserializer;
//  - what users run: karabo-bridge-py's own Client reading a sase server, beside the same Client
//    reading karabo-bridge-py's own server (its Sender, behind karabo-bridge-serve-files).
// (A raw Node zeromq transfer is no baseline: it is slower than sase itself.)
//
// Cases: (a) one AGIPD module raw train (64 cells, 16.8 MB); (b) 16 such modules (268 MB);
// (c) a control-data train of 50 sources × 40 scalar keys.
// Env: BRIDGE_BENCH_CASES=a,b,c  BRIDGE_BENCH_TRAINS_A=200  BRIDGE_BENCH_TRAINS_B=6
//      BRIDGE_BENCH_TRAINS_C=3000  BRIDGE_BENCH_ROUNDS=3  BRIDGE_BENCH_PYTHON=0 (skip the Python runs)
//      BRIDGE_BENCH_WARMUP_A=300 (trains before (a) is timed; see below)
//      BRIDGE_BENCH_IN_FLIGHT=2 (the sase client's requestsInFlight, and the raw rows' requests on the wire)
//      BRIDGE_BENCH_PAIR_TIMEOUT_S=300 (a run still going after this is killed and reported as failed)
//      BRIDGE_BENCH_ROWS=karabo,zeromq (only the rows whose name holds one of these words; sase → sase always runs)
//      BRIDGE_BENCH_LOAD=0 (busy loops at the bench's niceness, run beside every row for the whole bench: a controlled
//      CPU contention, the same for each row; loop i is pinned to CPU i mod the CPU count)
//      BRIDGE_BENCH_PIN=S,C (run every server on CPU S and every client on CPU C, with taskset: where the
//      scheduler puts the two processes decides a row under contention, see README)
//      BRIDGE_BENCH_THREADS=1 (sase's server prints each of its threads' CPU ms over the measured trains)
//      KARABO_BRIDGE_PY: a directory holding karabo-bridge-py's karabo_bridge package, or a bare git
//      repository of it (default /work/.mirror/European-XFEL+karabo-bridge-py/repo); rows need it.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { BridgeClient, BridgeServer, type BridgeTrain, type SourceData } from "../src/bridge/index.ts";
import { ndarray } from "../src/core/index.ts";
import { childLines } from "./lib/child.ts";
import { loadAverage, median } from "./lib/stats.ts";

type Case = "agipd" | "agipd16" | "control";
interface Result {
  trains: number;
  bytes: number;
  seconds: number;
  /** Peak resident memory of the client process, bytes. */
  maxrss?: number;
  /** CPU seconds [user, system] of the client process (all its threads) over the measured trains. */
  cpu?: [number, number];
  /** The same for the server process, over the trains it sent after the warm-up. */
  serverCpu?: [number, number];
}

const self = new URL(import.meta.url).pathname;
const pyHelper = new URL("./bridge_py.py", import.meta.url).pathname;

function makeTrain(which: Case): BridgeTrain {
  const data: Record<string, SourceData> = {};
  const metadata: BridgeTrain["metadata"] = {};
  if (which === "control") {
    for (let s = 0; s < 50; s++) {
      const source = `SA1_CTRL/DEVICE/D${String(s).padStart(2, "0")}`;
      const values: SourceData = {};
      for (let k = 0; k < 40; k++) values[`group${k % 5}.key${k}.value`] = k % 2 ? k * 0.5 : k;
      data[source] = values;
      metadata[source] = { source, "timestamp.tid": 0 };
    }
    return { data, metadata };
  }
  const modules = which === "agipd" ? 1 : 16;
  for (let m = 0; m < modules; m++) {
    const source = `SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`;
    const pulses = new BigUint64Array(64).map((_, i) => BigInt(i));
    data[source] = {
      "image.data": ndarray(new Uint16Array(64 * 2 * 512 * 128).fill(m), [64, 2, 512, 128]),
      "image.cellId": ndarray(
        new Uint16Array(64).map((_, i) => i),
        [64, 1],
      ),
      "image.pulseId": ndarray(pulses, [64, 1]),
      "image.trainId": ndarray(new BigUint64Array(64), [64, 1]),
      "image.length": ndarray(new Uint32Array(64), [64, 1]),
      "image.status": ndarray(new Uint16Array(64), [64, 1]),
    };
    metadata[source] = { source, "timestamp.tid": 0 };
  }
  return { data, metadata };
}

// A fresh train per train ID, sharing the arrays (as a detector's output would reuse its buffers).
function* trains(which: Case, count: number): Generator<BridgeTrain> {
  const base = makeTrain(which);
  for (let tid = 0; tid < count; tid++) {
    const metadata: BridgeTrain["metadata"] = {};
    for (const source of Object.keys(base.data)) {
      metadata[source] = { source, "timestamp.tid": tid };
      if (which === "control") (base.data[source] as SourceData)["group0.key0.value"] = tid;
    }
    yield { data: base.data, metadata };
  }
}

// ---- child roles -----------------------------------------------------------------------------

/** CPU seconds [user, system] of this process (all threads) since `since` (a resourceUsage()). */
function cpuSince(since: NodeJS.ResourceUsage): [number, number] {
  const now = process.resourceUsage();
  return [(now.userCPUTime - since.userCPUTime) / 1e6, (now.systemCPUTime - since.systemCPUTime) / 1e6];
}

function threadTimes(): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const t of readdirSync("/proc/self/task")) {
    const st = readFileSync(`/proc/self/task/${t}/stat`, "utf8");
    const name = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    out[`${t}:${name}`] = [Number(f[11]) * 10, Number(f[12]) * 10];
  }
  return out;
}

async function saseServer(
  which: Case,
  count: number,
  warmup: number,
  transport: "zmtp" | "zeromq",
): Promise<void> {
  const server = new BridgeServer({
    endpoint: "tcp://127.0.0.1:0",
    dropPolicy: "block",
    queueSize: 2,
    transport,
  });
  console.log(await server.start());
  let since = process.resourceUsage();
  let sent = 0;
  // Per-thread CPU only when asked for: it reads every thread's /proc stat file.
  const perThread = Boolean(process.env.BRIDGE_BENCH_THREADS);
  let threads0 = perThread ? threadTimes() : {};
  const counted = function* () {
    for (const train of trains(which, count)) {
      if (sent++ === warmup) {
        since = process.resourceUsage();
        if (perThread) threads0 = threadTimes();
      }
      yield train;
    }
  };
  await server.serve(counted());
  await server.drain();
  const cpu = cpuSince(since);
  if (perThread) {
    const t1 = threadTimes();
    const per: Record<string, number[]> = {};
    for (const [k, v] of Object.entries(t1))
      per[k] = [v[0] - (threads0[k]?.[0] ?? 0), v[1] - (threads0[k]?.[1] ?? 0)];
    console.error(JSON.stringify(per));
  }
  await server.close({ flushMs: 60_000 });
  console.log(JSON.stringify({ cpu }));
}

async function saseClient(
  endpoint: string,
  count: number,
  warmup: number,
  transport: "zmtp" | "zeromq",
): Promise<void> {
  const inFlight = Number(process.env.BRIDGE_BENCH_IN_FLIGHT ?? 2);
  const client = new BridgeClient(endpoint, { timeoutMs: 60_000, requestsInFlight: inFlight, transport });
  let t0 = 0;
  let since = process.resourceUsage();
  for (let i = 0; i < warmup + count; i++) {
    if (i === warmup) {
      t0 = performance.now();
      since = process.resourceUsage();
      client.stats.bytes = 0;
    }
    // A consumer that is done with each train before the next hands its memory back for reuse.
    client.release(await client.next());
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSince(since);
  const maxrss = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ trains: count, bytes: client.stats.bytes, seconds, maxrss, cpu }));
  client.close();
}

// ---- orchestration ---------------------------------------------------------------------------

function waitExit(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null)
      return child.exitCode === 0 ? resolve() : reject(new Error(`${what} failed`));
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited with ${code}`))));
  });
}

type Command = readonly [string, string[]];
const untranspiled = new URL("../scripts/untranspiled.mjs", import.meta.url).pathname;
const node = (args: string[]): Command => [
  process.execPath,
  ["--import", "tsx", "--import", untranspiled, self, ...args],
];
const py = (args: string[]): Command => ["/usr/bin/python3", [pyHelper, ...args]];

const KB_DEFAULT = "/work/.mirror/European-XFEL+karabo-bridge-py/repo";

/**
 * A directory holding karabo-bridge-py's karabo_bridge package ($KARABO_BRIDGE_PY or the default
 * place), extracted into a temporary directory when that is a bare git repository; or why not.
 */
function karaboBridgePy(): { dir: string; cleanup?: () => void } | { skipped: string } {
  const where = process.env.KARABO_BRIDGE_PY ?? KB_DEFAULT;
  if (!existsSync(where)) return { skipped: `no karabo-bridge-py at ${where} (set KARABO_BRIDGE_PY)` };
  if (existsSync(join(where, "karabo_bridge", "client.py"))) return { dir: where };
  try {
    const tmp = mkdtempSync(join(tmpdir(), "sase-bench-kbp-"));
    const archive = execFileSync("git", ["--git-dir", where, "archive", "HEAD", "karabo_bridge"], {
      maxBuffer: 64 << 20,
    });
    execFileSync("tar", ["-x", "-C", tmp], { input: archive });
    return { dir: tmp, cleanup: () => rmSync(tmp, { recursive: true, force: true }) };
  } catch (err) {
    const why = (err as Error).message.split("\n")[0];
    return { skipped: `${where} holds no karabo_bridge package (${why})` };
  }
}

// One server → client run. A pair still running after BRIDGE_BENCH_PAIR_TIMEOUT_S (default 300 s) is
// killed and the run fails (karabo-bridge-py's own pair once hung in case (c), both sides idle).
async function pair(server: Command, client: (endpoint: string) => Command, what: string): Promise<Result> {
  const limitMs = Number(process.env.BRIDGE_BENCH_PAIR_TIMEOUT_S ?? 300) * 1000;
  const [sCpu, cCpu] = process.env.BRIDGE_BENCH_PIN?.split(",") ?? [];
  const pinned = (cmd: Command, cpu: string | undefined): Command =>
    cpu === undefined ? cmd : ["taskset", ["-c", cpu, cmd[0], ...cmd[1]]];
  server = pinned(server, sCpu);
  const s = spawn(server[0], server[1], { stdio: ["ignore", "pipe", "inherit"] });
  let c: ChildProcess | undefined;
  const timer = setTimeout(() => {
    c?.kill();
    s.kill();
  }, limitMs);
  try {
    const serverOut = childLines(s, `${what} server`);
    const endpoint = await serverOut.first;
    const [cmd, args] = pinned(client(endpoint), cCpu);
    c = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    const line = await childLines(c, `${what} client`).first;
    await waitExit(c, `${what} client`);
    await waitExit(s, `${what} server`);
    const result = JSON.parse(line) as Result;
    // The server's CPU figures are its last JSON line.
    const last = (await serverOut.rest).filter((l) => l.startsWith("{")).pop();
    if (last) result.serverCpu = (JSON.parse(last) as { cpu?: [number, number] }).cpu;
    return result;
  } finally {
    clearTimeout(timer);
    if (c && c.exitCode === null) c.kill();
    if (s.exitCode === null) s.kill();
  }
}

// CPU milliseconds per train, user+system, or blanks where a side did not report it.
function cpuPerTrain(cpu: [number, number] | undefined, trains: number): string {
  if (!cpu) return "".padStart(11);
  const ms = (s: number) => ((s * 1000) / trains).toFixed(2);
  return `${ms(cpu[0])}+${ms(cpu[1])}`.padStart(11);
}

function fmt(r: Result, bytesPerTrain: number): string {
  const rate = r.trains / r.seconds;
  const mbps = (rate * bytesPerTrain) / 1e6;
  const rss = r.maxrss ? `${(r.maxrss / 1e6).toFixed(0).padStart(6)} MB` : "".padStart(9);
  const cpu = `${cpuPerTrain(r.cpu, r.trains)} ${cpuPerTrain(r.serverCpu, r.trains)}`;
  return `${rate.toFixed(1).padStart(9)} trains/s ${mbps.toFixed(0).padStart(7)} MB/s ${rss} ${cpu}`;
}

// `count` busy loops at the bench's own niceness (the artificial load of BRIDGE_BENCH_LOAD); stop() ends each by its id.
function busyLoops(count: number): { stop: () => void } {
  const loops: ChildProcess[] = [];
  for (let i = 0; i < count; i++)
    loops.push(
      spawn("taskset", ["-c", String(i % cpus().length), "sh", "-c", "while :; do :; done"], {
        stdio: "ignore",
      }),
    );
  return {
    stop: () => {
      for (const loop of loops) loop.kill("SIGKILL");
    },
  };
}

async function orchestrate(): Promise<void> {
  const env = process.env;
  const busy = busyLoops(Number(env.BRIDGE_BENCH_LOAD ?? 0));
  try {
    await orchestrateRows(env);
  } finally {
    busy.stop();
  }
}

async function orchestrateRows(env: NodeJS.ProcessEnv): Promise<void> {
  const wanted = (env.BRIDGE_BENCH_CASES ?? "a,b,c").split(",");
  const withPython = env.BRIDGE_BENCH_PYTHON !== "0";
  const rounds = Number(env.BRIDGE_BENCH_ROUNDS ?? 3);
  const kb = withPython ? karaboBridgePy() : { skipped: "BRIDGE_BENCH_PYTHON=0" };
  if ("dir" in kb) process.env.KARABO_BRIDGE_PY = kb.dir;
  // Warm-up: sase's per-train code (decoding a train's headers, encoding them, parsing frames) runs
  // once per train, so V8 optimizes it only after a few hundred trains; until then it costs
  // ~0.2-0.8 ms per train instead of ~10-40 µs. A bridge consumer runs for hours: (a) is timed after
  // 300 trains (the client's user CPU per train fell from 1.23 to 0.82 ms after 1,000 trains).
  const cases: [string, Case, number, number][] = [
    ["a", "agipd", Number(env.BRIDGE_BENCH_TRAINS_A ?? 200), Number(env.BRIDGE_BENCH_WARMUP_A ?? 300)],
    ["b", "agipd16", Number(env.BRIDGE_BENCH_TRAINS_B ?? 6), 1],
    ["c", "control", Number(env.BRIDGE_BENCH_TRAINS_C ?? 3000), 200],
  ];
  console.log(
    "Karabo bridge, REQ/REP over tcp://127.0.0.1, protocol 2.2, server and client in separate processes;",
  );
  console.log(
    "columns (best round): trains/s, MB/s, the client's peak resident memory, then CPU ms per train (user+system,",
  );
  console.log(
    "all threads) of the client and of the server over the measured trains; then the median trains/s",
  );
  const load = Number(env.BRIDGE_BENCH_LOAD ?? 0);
  if (load > 0)
    console.log(`${load} busy loops (the bench's niceness) run beside every row (BRIDGE_BENCH_LOAD)`);
  try {
    for (const [label, which, count, warmup] of cases) {
      if (!wanted.includes(label)) continue;
      const total = String(count + warmup);
      const cArgs = (ep: string) => [ep, String(count), String(warmup)];
      const title = {
        agipd: "one AGIPD module, 64 cells",
        agipd16: "16 AGIPD modules, 64 cells",
        control: "control data, 50 sources × 40 keys",
      }[which];
      console.log(
        `\n(${label}) ${title}: ${count} trains after ${warmup} warm-up, best of ${rounds} interleaved rounds; load average ${loadAverage()}`,
      );
      const pyServer = (mode: string) =>
        py(["server", "tcp://127.0.0.1:*", which, mode, total, String(warmup)]);
      const pyClient = (mode: string) => (ep: string) =>
        py(["client", ep, mode, String(count), String(warmup)]);
      const saseServer = node(["server", which, total, String(warmup)]);
      const zeromqServer = node(["server", which, total, String(warmup), "zeromq"]);
      const contenders: [string, () => Promise<Result>][] = [
        ["sase server → sase client", () => pair(saseServer, (ep) => node(["client", ...cArgs(ep)]), "sase")],
        [
          "sase → sase, zeromq.js client",
          () => pair(saseServer, (ep) => node(["client", ...cArgs(ep), "zeromq"]), "sase zeromq.js"),
        ],
      ];
      if (withPython) {
        contenders.push(
          [
            "raw TCP, reused buffer (Python sockets)",
            () => pair(pyServer("tcp"), pyClient("tcp"), "raw tcp"),
          ],
          ["raw pyzmq (frames built once)", () => pair(pyServer("raw"), pyClient("raw"), "pyzmq")],
          ["Python pair (pyzmq+msgpack)", () => pair(pyServer("protocol"), pyClient("protocol"), "python")],
        );
      }
      if ("dir" in kb) {
        contenders.push(
          ["sase server → karabo-bridge-py Client", () => pair(saseServer, pyClient("kb"), "sase → kb")],
          [
            "sase server on zeromq.js → karabo-bridge-py Client",
            () => pair(zeromqServer, pyClient("kb"), "sase zeromq.js → kb"),
          ],
          ["karabo-bridge-py server → its Client", () => pair(pyServer("kb"), pyClient("kb"), "kb → kb")],
        );
      }
      const only = env.BRIDGE_BENCH_ROWS?.split(",");
      if (only) {
        const keep = contenders.filter(
          ([name], i) => i === 0 || only.some((w) => name.toLowerCase().includes(w.toLowerCase())),
        );
        contenders.splice(0, contenders.length, ...keep);
      }
      // Rounds interleave the contenders so that load from elsewhere on the machine hits them alike;
      // each reports its best round, and the median of its rounds (under load, rounds swing by 2×).
      const best = new Map<string, Result>();
      const rates = new Map<string, number[]>();
      for (let round = 0; round < rounds; round++) {
        for (const [name, runOnce] of contenders) {
          let r: Result;
          try {
            r = await runOnce();
          } catch (err) {
            console.log(`  ${name.padEnd(50)} round ${round + 1} failed: ${(err as Error).message}`);
            continue;
          }
          rates.set(name, [...(rates.get(name) ?? []), r.trains / r.seconds]);
          const prev = best.get(name);
          if (!prev || r.trains / r.seconds > prev.trains / prev.seconds) best.set(name, r);
        }
      }
      const rate = (name: string) => {
        const r = best.get(name);
        return r ? r.trains / r.seconds : Number.NaN;
      };
      const medianRate = (name: string) => median(rates.get(name) ?? []);
      const sase = best.get("sase server → sase client");
      if (!sase) {
        console.log("  no sase → sase run finished: nothing to compare");
        continue;
      }
      const bytesPerTrain = sase.bytes / sase.trains; // the same train in every row
      const vs: Record<string, [string, string]> = {
        "raw TCP, reused buffer (Python sockets)": ["sase server → sase client", "sase → sase"],
        "raw pyzmq (frames built once)": ["sase server → sase client", "sase → sase"],
        "Python pair (pyzmq+msgpack)": ["sase server → sase client", "sase → sase"],
        "sase → sase, zeromq.js client": ["sase server → sase client", "sase → sase"],
        "sase server on zeromq.js → karabo-bridge-py Client": [
          "sase server → karabo-bridge-py Client",
          "sase → its Client",
        ],
        "karabo-bridge-py server → its Client": [
          "sase server → karabo-bridge-py Client",
          "sase → its Client",
        ],
      };
      for (const [name, r] of best) {
        const cmp = vs[name];
        const pc = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;
        const ratio = cmp
          ? `   ${cmp[1]} = ${pc(rate(cmp[0]), rate(name))} of this (medians ${pc(medianRate(cmp[0]), medianRate(name))})`
          : "";
        const med = `median ${medianRate(name).toFixed(1).padStart(7)}`;
        console.log(`  ${name.padEnd(50)} ${fmt(r, bytesPerTrain)} ${med}${ratio}`);
      }
      console.log(`  load average at the end: ${loadAverage()}`);
      if ("skipped" in kb)
        console.log(`  ${"karabo-bridge-py Client rows".padEnd(50)} skipped: ${kb.skipped}`);
    }
  } finally {
    if ("cleanup" in kb) kb.cleanup?.();
  }
}

const [role, ...args] = process.argv.slice(2);
if (role === "server")
  await saseServer(
    args[0] as Case,
    Number(args[1]),
    Number(args[2]),
    args[3] === "zeromq" ? "zeromq" : "zmtp",
  );
else if (role === "client")
  await saseClient(
    args[0] as string,
    Number(args[1]),
    Number(args[2]),
    args[3] === "zeromq" ? "zeromq" : "zmtp",
  );
else await orchestrate();
