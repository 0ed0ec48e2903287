// `sase start --config` as the split-facility tests run it: one supervisor process on the test broker,
// its stdout kept (it names the servers it started, with their pids), stopped with Ctrl-C.

import { type ChildProcess, spawn } from "node:child_process";
import { BROKER_URL } from "../core/amqp-helpers.ts";
import { repoRoot, saseBin } from "./helpers.ts";

/** A `sase start --config` supervisor in a child process. */
export interface Supervisor {
  readonly child: ChildProcess;
  /** What it printed on stdout so far. */
  stdout(): string;
  /** Ctrl-C (unless it has exited already); resolves with its exit code once it has exited. */
  stop(): Promise<number | null>;
}

/** `sase start --config CONFIG --log-dir LOG_DIR` on the test broker (environment additions in `env`). */
export function startSupervisor(
  config: string,
  logDir: string,
  env: Record<string, string> = {},
): Supervisor {
  const child = spawn(process.execPath, [saseBin, "start", "--config", config, "--log-dir", logDir], {
    cwd: repoRoot,
    env: { ...process.env, KARABO_BROKER: BROKER_URL, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr!.resume();
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    child,
    stdout: () => out,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      return exited;
    },
  };
}
