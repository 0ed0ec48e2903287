// Keeps child processes running, as Karabo's daemontools-based tooling keeps its device servers: each
// child writes to its own log file; one that exits is restarted after a delay that doubles with every
// quick crash (1 s, 2 s, 4 s ... up to 30 s) and starts over once a run lasted a minute; stop() ends them
// all (SIGTERM, then SIGKILL for any still there after the grace period).

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import type { Logger } from "../core/index.ts";

/** One supervised program. */
export interface ProgramSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** What the supervisor knows about one program. */
export interface ProgramStatus {
  readonly name: string;
  readonly pid: number | undefined;
  readonly restarts: number;
  readonly logFile: string;
  readonly lastExit: string;
}

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30_000;
const STABLE_MS = 60_000;

class Program {
  child: ChildProcess | undefined;
  restarts = 0;
  delay = FIRST_DELAY_MS;
  startedAt = 0;
  lastExit = "";
  timer: NodeJS.Timeout | undefined;
  constructor(readonly spec: ProgramSpec) {}
}

/** Starts programs and restarts them when they exit, until stopped. */
export class Supervisor {
  private readonly programs: Program[];
  private stopping = false;

  constructor(
    specs: readonly ProgramSpec[],
    private readonly log: Logger,
    private readonly onExit?: (status: ProgramStatus) => void,
  ) {
    this.programs = specs.map((s) => new Program(s));
  }

  /** Starts every program. */
  start(): void {
    for (const p of this.programs) this.launch(p);
  }

  /** Where each program stands. */
  status(): ProgramStatus[] {
    return this.programs.map((p) => ({
      name: p.spec.name,
      pid: p.child?.pid,
      restarts: p.restarts,
      logFile: p.spec.logFile,
      lastExit: p.lastExit,
    }));
  }

  /** Ends every program: SIGTERM, SIGKILL after `graceMs`; resolves once all have exited. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.programs.map(async (p) => {
        clearTimeout(p.timer);
        const child = p.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(kill);
      }),
    );
  }

  private launch(p: Program): void {
    if (this.stopping) return;
    const fd = openSync(p.spec.logFile, "a");
    writeSync(
      fd,
      `\n---- ${new Date().toISOString()} sase start: starting ${p.spec.name} (run ${p.restarts + 1})\n`,
    );
    const child = spawn(p.spec.command, [...p.spec.args], {
      stdio: ["ignore", fd, fd],
      env: p.spec.env ?? process.env,
    });
    closeSync(fd);
    p.child = child;
    p.startedAt = performance.now();
    child.once("error", (err) =>
      this.log.error("could not start", { program: p.spec.name, error: err.message }),
    );
    child.once("exit", (code, signal) => {
      p.child = undefined;
      p.lastExit = signal ? `killed by ${signal}` : `exit code ${code}`;
      this.onExit?.({
        name: p.spec.name,
        pid: undefined,
        restarts: p.restarts,
        logFile: p.spec.logFile,
        lastExit: p.lastExit,
      });
      if (this.stopping) return;
      if (performance.now() - p.startedAt > STABLE_MS) p.delay = FIRST_DELAY_MS;
      this.log.warn("exited; restarting", {
        program: p.spec.name,
        exit: p.lastExit,
        inMs: p.delay,
        log: p.spec.logFile,
      });
      p.timer = setTimeout(() => {
        p.restarts++;
        this.launch(p);
      }, p.delay);
      p.delay = Math.min(p.delay * 2, MAX_DELAY_MS);
    });
  }
}
