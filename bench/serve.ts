// `sase bridge serve RUN_DIR` start-up: from starting the process to the first train a client
// receives (REQ/REP, protocol 2.2), the server's CPU time until then, its peak resident memory after
// the first train and after SERVE_BENCH_TRAINS more, and how it ends on SIGTERM; beside EXtra-data's
// serve_files (karabo-bridge-serve-files) on the same run, in the same run of this bench.
// Every run under shared/fixtures/exdf (or the directories given as arguments), twice for sase: the
// first time with an empty run-index cache (the files are scanned), then with the index cached; the
// reused-buffer client's rows (no fresh memory on the client's side) are the server's own start.
// Env: SERVE_BENCH_TRAINS=10  SERVE_BENCH_PYTHON=0 (skip EXtra-data)  SERVE_BENCH_NODE_ARGS (e.g.
//      "--cpu-prof");  SERVE_BENCH_BEFORE: another build's bin/sase.js, run beside this one (before/after); EXTRA_DATA_PY and KARABO_BRIDGE_PY: directories holding the extra_data and
//      karabo_bridge packages, or bare git repositories of them (default: /work/.mirror/...).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { BridgeClient } from "../src/bridge/index.ts";
import { freePort } from "../test/helpers/port.ts";
import { loadAverage } from "./lib/stats.ts";
import { ZmtpSink } from "./lib/zmtp-sink.ts";

const root = new URL("../../shared/fixtures/exdf", import.meta.url).pathname;
const more = Number(process.env.SERVE_BENCH_TRAINS ?? 10);
const sase = new URL("../bin/sase.js", import.meta.url).pathname;
const pyServe = new URL("./serve_files.py", import.meta.url).pathname;
const nodeArgs = (process.env.SERVE_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
const before = process.env.SERVE_BENCH_BEFORE;

/** Peak resident memory (VmHWM) of a process, bytes. */
function hwm(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

/** CPU seconds (user + system) a process has used. */
function cpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A package directory from a directory or a bare git repository (extracted to a temp dir), or why not. */
function pyPackage(where: string, pkg: string, temp: string): string | { skipped: string } {
  if (!existsSync(where)) return { skipped: `no ${pkg} at ${where}` };
  if (existsSync(join(where, pkg, "__init__.py"))) return where;
  try {
    mkdirSync(temp, { recursive: true });
    const archive = execFileSync("git", ["--git-dir", where, "archive", "HEAD", pkg], {
      maxBuffer: 256 << 20,
    });
    execFileSync("tar", ["-x", "-C", temp], { input: archive });
    return temp;
  } catch (err) {
    return { skipped: `${where} holds no ${pkg} (${(err as Error).message.split("\n")[0]})` };
  }
}

/** Which client takes the trains: a sase BridgeClient (fresh memory per train) or a ZmtpSink. */
type ClientKind = "sase" | "sink";

/** Milliseconds to touch every page of fresh memory of `bytes` once (what a client receiving into it pays). */
function freshMemoryMs(bytes: number): number {
  const t = performance.now();
  const a = new Uint8Array(bytes);
  for (let i = 0; i < a.length; i += 4096) a[i] = 1;
  return performance.now() - t;
}

/** Receives trains with a client of the given kind: next() resolves with the bytes of one train. */
function clientOf(kind: ClientKind, endpoint: string): { next(): Promise<number>; close(): void } {
  if (kind === "sink") return new ZmtpSink(endpoint);
  const client = new BridgeClient(endpoint, { timeoutMs: 300_000, requestsInFlight: 1 });
  return { next: async () => (await client.nextRaw()).bytes, close: () => client.close() };
}

async function one(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  kind: ClientKind = "sase",
): Promise<string> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | string>((r) =>
    child.on("exit", (code, signal) => r(code ?? `${signal}`)),
  );
  let endpoint = "";
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /on:? (tcp:\/\/\S+)/.exec(line);
    if (m) {
      endpoint = m[1] as string;
      break;
    }
  }
  if (!endpoint) throw new Error(`no endpoint printed: ${stderr.slice(-500)}`);
  child.stdout.resume();
  const pid = child.pid as number;
  const client = clientOf(kind, endpoint);
  const died = exited.then((code) => {
    throw new Error(`exited ${code} before the first train: ${stderr.trim().split("\n").at(-1)}`);
  });
  const first = await Promise.race([client.next(), died]).catch((err: unknown) => {
    client.close();
    child.kill("SIGKILL"); // a server the client gave up on must not outlive its row
    throw err;
  });
  const tFirst = performance.now() - t0;
  const cpuFirst = cpu(pid);
  const rssFirst = hwm(pid);
  let n = 1;
  for (; n < 1 + more; n++) {
    try {
      await client.next();
    } catch {
      break;
    }
  }
  const rss = hwm(pid);
  client.close();
  const tKill = performance.now();
  child.kill("SIGTERM");
  const code = await exited;
  const tExit = performance.now() - tKill;
  return (
    `first train ${tFirst.toFixed(0).padStart(6)} ms (CPU ${(cpuFirst * 1000).toFixed(0).padStart(5)} ms, ` +
    `${(first / 1e6).toFixed(0).padStart(3)} MB)  peak RSS ${(rssFirst / 1e6).toFixed(0).padStart(5)} MB, ` +
    `after ${n} trains ${(rss / 1e6).toFixed(0).padStart(5)} MB  SIGTERM: exit ${code} in ${tExit.toFixed(0)} ms`
  );
}

const runs = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(root)
      .sort()
      .map((d) => join(root, d));
const temp = mkdtempSync(join(tmpdir(), "sase-bench-serve-"));
try {
  let pythonPath: string | { skipped: string } = { skipped: "SERVE_BENCH_PYTHON=0" };
  if (process.env.SERVE_BENCH_PYTHON !== "0") {
    const ed = pyPackage(
      process.env.EXTRA_DATA_PY ?? "/work/.mirror/European-XFEL+EXtra-data/repo",
      "extra_data",
      join(temp, "py"),
    );
    const kb = pyPackage(
      process.env.KARABO_BRIDGE_PY ?? "/work/.mirror/European-XFEL+karabo-bridge-py/repo",
      "karabo_bridge",
      join(temp, "py"),
    );
    pythonPath = typeof ed !== "string" ? ed : typeof kb !== "string" ? kb : `${ed}:${kb}`;
  }
  console.log(
    "sase bridge serve RUN_DIR start-up: process start → first train received by a client (REQ/REP, 2.2);",
  );
  console.log("peak RSS of the server; SIGTERM after the last train asked for. Clients: a sase BridgeClient");
  console.log("(each train into fresh memory) or a reused-buffer client (the server's cost alone).");
  for (const run of runs) {
    const name = run.split("/").at(-1) as string;
    const cache = join(temp, `cache-${name}`);
    const port = () => freePort();
    const saseArgs = async (bin = sase) => [
      ...nodeArgs,
      bin,
      "bridge",
      "serve",
      run,
      "--port",
      String(await port()),
      "--host",
      "127.0.0.1",
    ];
    const env = { SASE_PROGRESS: "0", XDG_CACHE_HOME: cache };
    console.log(`${name}`);
    let mb = 0;
    const row = async (what: string, cmd: string, args: string[], e: NodeJS.ProcessEnv, kind: ClientKind) => {
      try {
        const text = await one(cmd, args, e, kind);
        mb ||= Number(/(\d+) MB\)/.exec(text)?.[1] ?? 0);
        console.log(`  load ${loadAverage()}  ${what.padEnd(40)} ${text}`);
      } catch (err) {
        console.log(`  ${what}: failed (${(err as Error).message.split("\n")[0]})`);
      }
    };
    await row("sase, index not cached", process.execPath, await saseArgs(), env, "sase");
    // The server's own start without the index (a cache of its own, so also scanning every file).
    const uncached = { ...env, XDG_CACHE_HOME: join(temp, `cache-${name}-sink`) };
    await row(
      "sase, index not cached, reused-buffer client",
      process.execPath,
      await saseArgs(),
      uncached,
      "sink",
    );
    const fresh = freshMemoryMs(mb * 1e6);
    console.log(
      `  load ${loadAverage()}  touching ${mb} MB of fresh memory once (what a client pays): ${fresh.toFixed(0)} ms`,
    );
    await row("sase, index cached", process.execPath, await saseArgs(), env, "sase");
    await row("sase, index cached, reused-buffer client", process.execPath, await saseArgs(), env, "sink");
    if (before) {
      const beforeCache = { ...env, XDG_CACHE_HOME: join(temp, `cache-${name}-before`) };
      await row(
        "sase before, not cached, reused-buffer",
        process.execPath,
        await saseArgs(before),
        beforeCache,
        "sink",
      );
      await row("sase before, index cached", process.execPath, await saseArgs(before), env, "sase");
      await row("sase before, reused-buffer client", process.execPath, await saseArgs(before), env, "sink");
    }
    if (typeof pythonPath === "string") {
      const pyArgs = async () => ["-u", pyServe, run, `tcp://127.0.0.1:${await port()}`];
      const pyEnv = { PYTHONPATH: pythonPath };
      await row("EXtra-data serve_files", "/usr/bin/python3", await pyArgs(), pyEnv, "sase");
      await row("EXtra-data, reused-buffer client", "/usr/bin/python3", await pyArgs(), pyEnv, "sink");
    } else console.log(`  EXtra-data serve_files: skipped (${pythonPath.skipped})`);
  }
} finally {
  rmSync(temp, { recursive: true, force: true });
}
