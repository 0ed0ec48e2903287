// sase bridge serve start-up: time from starting the process to the first train a client receives,
// peak resident memory while streaming, and how it ends on SIGTERM.
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { BridgeClient } from "../src/bridge/index.ts";

const root = process.env.SERVE_BENCH_RUNS ?? new URL("../../shared/fixtures/exdf", import.meta.url).pathname;
const more = Number(process.env.SERVE_BENCH_TRAINS ?? 10);
const sase = new URL("../bin/sase.js", import.meta.url).pathname;

function hwm(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

async function one(run: string): Promise<string> {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(process.env.SERVE_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean),
      sase,
      "bridge",
      "serve",
      run,
      "--port",
      "0",
      "--host",
      "127.0.0.1",
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, SASE_PROGRESS: "0" },
    },
  );
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const lines = createInterface({ input: child.stdout });
  let endpoint = "";
  for await (const line of lines) {
    const m = /on (tcp:\/\/\S+)/.exec(line);
    if (m) {
      endpoint = m[1] as string;
      break;
    }
  }
  const tListen = performance.now() - t0;
  const client = new BridgeClient(endpoint, { timeoutMs: 120_000, requestsInFlight: 1 });
  const first = await client.nextRaw();
  const tFirst = performance.now() - t0;
  const rssFirst = hwm(child.pid as number);
  let n = 1;
  let bytes = first.bytes;
  for (; n < 1 + more; n++) {
    try {
      bytes += (await client.nextRaw()).bytes;
    } catch {
      break;
    }
  }
  const tMore = performance.now() - t0;
  const rss = hwm(child.pid as number);
  client.close();
  const tKill = performance.now();
  child.kill("SIGTERM");
  const code = await exited;
  const tExit = performance.now() - tKill;
  return (
    `${run.split("/").at(-1)?.padEnd(16)} listen ${tListen.toFixed(0).padStart(6)} ms  first train ${tFirst.toFixed(0).padStart(6)} ms ` +
    `(${(first.bytes / 1e6).toFixed(1)} MB)  ${n} trains ${(tMore / 1000).toFixed(1)} s ${(bytes / 1e6).toFixed(0)} MB  ` +
    `peak RSS after first ${(rssFirst / 1e6).toFixed(0)} MB, after ${n} ${(rss / 1e6).toFixed(0)} MB  SIGTERM→exit ${code} in ${tExit.toFixed(0)} ms`
  );
}

const runs = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(root)
      .sort()
      .map((d) => join(root, d));
for (const run of runs) {
  console.log(
    `load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}  ${await one(run)}`,
  );
}
