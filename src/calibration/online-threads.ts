// Online correction off the event loop: worker threads that each hold the correctors of some modules.
// A thread loads a module's constants from the store itself (tens of MB of HDF5 per module: on the
// event loop that would stall every device), and corrects that module's trains; corrected arrays come
// back without copying. Each correction device keeps to one thread, chosen by its module number.
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { type ErrorDetails, SaseError, startTsWorker } from "../core/index.ts";
import type { CorrectedModuleTrain, CorrectorOptions, RawFrames } from "./corrector.ts";
import type { CalibrationType, Conditions, ConstantRecord } from "./store.ts";

/** What a correction device asks its thread to prepare. */
export interface OnlineSetup {
  /** Detector description name, and pixel rows per module (0 = all). */
  readonly detector: string;
  readonly rows: number;
  readonly module: number;
  readonly storeRoot: string;
  readonly conditions: Conditions;
  /** Time the constants must be valid for, ms since the epoch. */
  readonly eventAt: number;
  readonly options: CorrectorOptions;
}

/** One constant version in use, as shown to operators. */
export type ConstantUse = Pick<
  ConstantRecord,
  "id" | "calibration" | "beginValidity" | "createdAt" | "origin"
>;

/** Messages to an online correction thread. */
export type OnlineRequest =
  | { readonly id: number; readonly type: "load"; readonly slot: string; readonly setup: OnlineSetup }
  | { readonly id: number; readonly type: "correct"; readonly slot: string; readonly raw: RawFrames }
  | { readonly id: number; readonly type: "drop"; readonly slot: string };

/** Answers of an online correction thread. */
export type OnlineReply =
  | { readonly id: number; readonly loaded: readonly ConstantUse[] }
  | { readonly id: number; readonly out: CorrectedModuleTrain }
  | { readonly id: number; readonly dropped: true }
  | { readonly id: number; readonly error: string; readonly constants: boolean };

/** A failure of loading constants (none match, wrong shape, bad values), as opposed to a crash. */
export class MissingConstantsError extends SaseError {
  override readonly name = "MissingConstantsError";
  constructor(message: string, details?: ErrorDetails) {
    super("NO_CONSTANTS", message, details);
  }
}

/** Threads for online correction: $SASE_CORR_THREADS, else one per core. */
export function defaultCorrectionThreads(): number {
  const n = Number(process.env.SASE_CORR_THREADS);
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

type Pending = { resolve: (r: OnlineReply) => void; reject: (e: Error) => void };

/** A pool of online correction threads; `acquire()` shares one among a process's correction devices. */
export class CorrectionThreads {
  static #shared: CorrectionThreads | null = null;
  static #users = 0;

  readonly #workers: Worker[];
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #closed = false;

  constructor(threads = defaultCorrectionThreads()) {
    this.#workers = Array.from({ length: Math.max(1, threads) }, () => {
      const w = startTsWorker(new URL("./online-worker.ts", import.meta.url));
      w.unref();
      w.on("message", (m: OnlineReply) => this.#answer(m));
      w.on("error", (e) => this.#failAll(e));
      return w;
    });
  }

  /** The process's shared pool, started on first use; `release()` once per acquire. */
  static acquire(): CorrectionThreads {
    CorrectionThreads.#users++;
    CorrectionThreads.#shared ??= new CorrectionThreads();
    return CorrectionThreads.#shared;
  }

  /** Gives back a pool from `acquire`; the last user's release stops its threads. */
  static async release(): Promise<void> {
    if (CorrectionThreads.#users === 0) return;
    if (--CorrectionThreads.#users > 0) return;
    const pool = CorrectionThreads.#shared;
    CorrectionThreads.#shared = null;
    await pool?.close();
  }

  /** Loads constants for `slot` (a device id) on `module`'s thread; MissingConstantsError if none fit. */
  async load(slot: string, setup: OnlineSetup): Promise<readonly ConstantUse[]> {
    const r = await this.#send(setup.module, { type: "load", slot, setup });
    if ("loaded" in r) return r.loaded;
    throw new SaseError("BAD_MESSAGE", "unexpected reply to load from a correction thread");
  }

  /** Corrects one train with the constants loaded for `slot`. */
  async correct(slot: string, module: number, raw: RawFrames): Promise<CorrectedModuleTrain> {
    const r = await this.#send(module, { type: "correct", slot, raw });
    if ("out" in r) return r.out;
    throw new SaseError("BAD_MESSAGE", "unexpected reply to correct from a correction thread");
  }

  /** Forgets `slot`'s corrector (its constants' memory goes). */
  async drop(slot: string, module: number): Promise<void> {
    await this.#send(module, { type: "drop", slot });
  }

  #send(module: number, req: DistributiveOmit<OnlineRequest, "id">): Promise<OnlineReply> {
    if (this.#closed) return Promise.reject(new SaseError("CLOSED", "correction threads are closed"));
    const id = this.#next++;
    const worker = this.#workers[module % this.#workers.length]!;
    return new Promise<OnlineReply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref(); // a request in flight keeps the process (and its answer) alive
      worker.postMessage({ ...req, id });
    });
  }

  #answer(m: OnlineReply): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
    if ("error" in m)
      p.reject(m.constants ? new MissingConstantsError(m.error) : new SaseError("TASK_FAILED", m.error));
    else p.resolve(m);
  }

  #failAll(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  /** Stops the threads; requests in flight fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new SaseError("CLOSED", "correction threads closed"));
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/** The calibration types a correction uses, in the order they are shown. */
export const USED_CALIBRATIONS: readonly CalibrationType[] = [
  "Offset",
  "ThresholdsDark",
  "BadPixelsDark",
  "RelativeGain",
  "BadPixelsPC",
];
