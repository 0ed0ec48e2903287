// Simulation off the event loop: worker threads that simulate module trains and hand them back
// without copying (their buffers are transferred). A full AGIPD-1M costs seconds of CPU per train at
// full cell counts; in the control process's event loop it would stall every device and the GUI.
// Each module always goes to the same thread, which keeps that module's sensor model built once.
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { SaseError, startTsWorker } from "../core/index.ts";
import type { GainStageName } from "./description.ts";
import type { RawModuleTrain } from "./simulate.ts";

/** What a thread simulates: the same key, the same detector (its sensors are cached per key). */
export interface SimulationKey {
  /** Detector description name, e.g. "AGIPD1M". */
  readonly detector: string;
  /** Pixel rows per module (0 = all). */
  readonly rows: number;
  readonly seed: number;
  readonly cells: number;
  readonly dark: GainStageName | null;
  /** A pulse-capacitor scan (the detector's ladder of charges) instead of photons. */
  readonly pcScan?: boolean;
}

/** A request to a simulation thread. */
export interface SimulationRequest {
  readonly id: number;
  readonly key: SimulationKey;
  readonly module: number;
  readonly trainId: bigint;
}

/** A simulation thread's answer. */
export type SimulationReply =
  | { readonly id: number; readonly train: RawModuleTrain }
  | { readonly id: number; readonly error: string };

/** Threads the process uses by default: $SASE_SIM_THREADS, else one per core. */
export function defaultSimulationThreads(): number {
  const n = Number(process.env.SASE_SIM_THREADS);
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}

/** A pool of simulation threads. `acquire()` shares one pool among a process's module devices. */
export class SimulationThreads {
  static #shared: SimulationThreads | null = null;
  static #users = 0;

  readonly #workers: Worker[];
  readonly #pending = new Map<number, { resolve: (t: RawModuleTrain) => void; reject: (e: Error) => void }>();
  #next = 0;
  #closed = false;

  constructor(threads = defaultSimulationThreads()) {
    this.#workers = Array.from({ length: Math.max(1, threads) }, () => {
      const w = startTsWorker(new URL("./sim-worker.ts", import.meta.url));
      // Idle threads do not keep the process alive; a device waiting for a train has its own timer.
      w.unref();
      w.on("message", (m: SimulationReply) => this.#answer(m));
      w.on("error", (e) => this.#failAll(e));
      return w;
    });
  }

  /** The process's shared pool, started on first use; `release()` once per acquire. */
  static acquire(): SimulationThreads {
    SimulationThreads.#users++;
    SimulationThreads.#shared ??= new SimulationThreads();
    return SimulationThreads.#shared;
  }

  /** Gives back a pool from `acquire`; the last user's release stops its threads. */
  static async release(): Promise<void> {
    if (SimulationThreads.#users === 0) return;
    if (--SimulationThreads.#users > 0) return;
    const pool = SimulationThreads.#shared;
    SimulationThreads.#shared = null;
    await pool?.close();
  }

  get threads(): number {
    return this.#workers.length;
  }

  /** Simulates module `module`'s train `trainId` on the module's thread. */
  moduleTrain(key: SimulationKey, module: number, trainId: bigint): Promise<RawModuleTrain> {
    if (this.#closed) return Promise.reject(new SaseError("CLOSED", "simulation threads are closed"));
    const id = this.#next++;
    const worker = this.#workers[module % this.#workers.length]!;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref(); // a request in flight keeps the process (and its answer) alive
      worker.postMessage({ id, key, module, trainId } satisfies SimulationRequest);
    });
  }

  #answer(m: SimulationReply): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
    if ("error" in m) p.reject(new SaseError("TASK_FAILED", m.error));
    else p.resolve(m.train);
  }

  #failAll(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  /** Stops the threads; requests in flight fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new SaseError("CLOSED", "simulation threads closed"));
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
