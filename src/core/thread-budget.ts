// One place that decides how many worker threads each kind of pool in a process gets from the host's
// cores. Simulation and correction pools used to take one thread per core each, so a process running
// both (`sase start`) had twice as many busy threads as cores in every train's burst, and the trains
// being corrected waited behind the next ones being simulated. Now they split one budget.
import { readlinkSync } from "node:fs";
import { availableParallelism, setPriority } from "node:os";
import { SaseError } from "./errors.ts";

/** The pools that share the budget. */
export type ThreadKind = "simulation" | "correction";

/** Each kind's own override. */
const OVERRIDE: Record<ThreadKind, string> = {
  simulation: "SASE_SIM_THREADS",
  correction: "SASE_CORR_THREADS",
};

/**
 * An integer from `min` to `max` from the environment variable `name`, or null when unset; a SaseError
 * saying `give ${allowed}` otherwise.
 */
function envInteger(name: string, min: number, max: number, allowed: string): number | null {
  const text = process.env[name];
  if (text === undefined || text === "") return null;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new SaseError("BAD_OPTION", `${name}=${text}: give ${allowed}`, { key: name, value: text });
  return n;
}

/** A thread count (≥ 1) from the environment variable `name`, or null when unset. */
function envCount(name: string): number | null {
  return envInteger(name, 1, Number.POSITIVE_INFINITY, "a whole number of threads ≥ 1");
}

/** Worker threads this process may keep busy in all: $SASE_THREADS, else the cores available. */
export function hostThreads(): number {
  return envCount("SASE_THREADS") ?? availableParallelism();
}

/**
 * Threads for a pool of `kind`: its own variable ($SASE_SIM_THREADS, $SASE_CORR_THREADS) when set,
 * else its share of `hostThreads()`: correction half rounded up, simulation the rest, each at least
 * one (2 cores: one each; 16: eight each). Correction gets the odd core: it is on the path whose latency
 * is measured, while the simulation stands in for the detector's own hardware.
 */
export function threadBudget(kind: ThreadKind): number {
  const own = envCount(OVERRIDE[kind]);
  if (own !== null) return own;
  const host = hostThreads();
  const correction = Math.ceil(host / 2);
  return Math.max(1, kind === "correction" ? correction : host - correction);
}

/** Each kind's nice value by default, and the variable that overrides it. */
const NICE: Record<ThreadKind, { readonly env: string; readonly value: number }> = {
  simulation: { env: "SASE_SIM_NICE", value: 0 },
  correction: { env: "SASE_CORR_NICE", value: 0 },
};

/**
 * How much lower than the process's other threads a pool of `kind` runs ($SASE_SIM_NICE,
 * $SASE_CORR_NICE; 0-19, default 0). A nice simulation sends fewer trains (counted as skipped) on a
 * host short of cores instead of delaying the correction and display of the trains it sent; measured
 * on this project's shared 2-core VM it starved the simulation more than it helped the chain, so it
 * is off unless asked for.
 */
export function threadNice(kind: ThreadKind): number {
  const { env, value } = NICE[kind];
  return envInteger(env, 0, 19, "a nice value from 0 to 19") ?? value;
}

/**
 * Lowers the calling thread's scheduling priority by `nice` (Linux: a thread has its own nice value),
 * so that it yields the cores to the process's other threads when they are short. False where the
 * system does not allow it (not Linux, no /proc).
 */
export function lowerThisThreadPriority(nice: number): boolean {
  if (nice <= 0) return false;
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, Math.min(19, nice));
    return true;
  } catch {
    return false;
  }
}
