// Simulation off the event loop: worker threads that simulate module trains and hand them back
// without copying (their buffers are transferred). A full AGIPD-1M costs seconds of CPU per train at
// full cell counts; in the control process's event loop it would stall every device and the GUI.
// Each module always goes to the same thread, which keeps that module's sensor model built once.
import {
  ReturnedArrays,
  SaseError,
  SharedInstance,
  spansWholeBuffer,
  ThreadPool,
  threadBudget,
} from "../core/index.ts";
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
  /** An earlier train's frames handed back (see giveBack), to be written again. */
  readonly into?: Uint16Array;
}

/** A simulation thread's answer. */
export type SimulationReply =
  | { readonly id: number; readonly train: RawModuleTrain }
  | { readonly id: number; readonly error: string };

/** Threads the process uses by default: $SASE_SIM_THREADS, else its share of the host's (threadBudget). */
export function defaultSimulationThreads(): number {
  return threadBudget("simulation");
}

/** A pool of simulation threads. `acquire()` shares one pool among a process's module devices. */
export class SimulationThreads {
  static readonly #shared = new SharedInstance(() => new SimulationThreads());
  readonly #pool: ThreadPool<SimulationRequest, SimulationReply>;
  /** Each module's frames whose train nobody reads any more, to be written again (at most 2). */
  readonly #returned = new ReturnedArrays<number, Uint16Array>();

  constructor(threads = defaultSimulationThreads()) {
    this.#pool = new ThreadPool({
      name: "simulation threads",
      entry: new URL("./sim-worker.ts", import.meta.url),
      threads,
      failure: (m) => ("error" in m ? new SaseError("TASK_FAILED", m.error) : null),
    });
  }

  /** The process's shared pool, started on first use; `release()` once per acquire. */
  static acquire(): SimulationThreads {
    return SimulationThreads.#shared.acquire();
  }

  /** Gives back a pool from `acquire`; the last user's release stops its threads. */
  static release(): Promise<void> {
    return SimulationThreads.#shared.release();
  }

  get threads(): number {
    return this.#pool.threads;
  }

  /** Simulates module `module`'s train `trainId` on the module's thread. */
  async moduleTrain(key: SimulationKey, module: number, trainId: bigint): Promise<RawModuleTrain> {
    // Frames handed back move to the thread and are written again: fresh arrays would cost a page
    // fault per 4 KB (most of a simulated train's time at a few cells here).
    const into = this.#returned.take(module);
    const reply = await this.#pool.request(
      module,
      { key, module, trainId, ...(into ? { into } : {}) },
      into ? [into.buffer as ArrayBuffer] : [],
    );
    if ("train" in reply) return reply.train;
    throw new SaseError("BAD_MESSAGE", "a simulation thread answered without a train");
  }

  /**
   * Hands back the frames (`data`) of a train of `module` that nothing reads any more: the module's
   * next trains are simulated into them. Only a whole array from `moduleTrain` qualifies.
   */
  giveBack(module: number, data: Uint16Array): void {
    if (spansWholeBuffer(data)) this.#returned.give(module, data);
  }

  /** Stops the threads; requests in flight fail. */
  close(): Promise<void> {
    return this.#pool.close();
  }
}
