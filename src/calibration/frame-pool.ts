// Several threads correcting the frames of one train together: constants, raw frames and outputs sit
// on SharedArrayBuffers, so a worker gets only frame ranges by message and writes its part of the
// output in place. Used where one module's data rate needs more than one core (online, benchmark).
import type { DetectorDescription } from "../detector/index.ts";
import type { ModuleConstants } from "./constants.ts";
import type { CorrectedFrames, CorrectionOptions } from "./kernel.ts";
import { startTsWorker } from "./pool.ts";
import type { Arena } from "./simd.ts";
import type { Worker } from "node:worker_threads";
import { SaseError } from "../core/index.ts";

/** Messages to a frame worker. */
export type FrameWorkerRequest =
  | {
      type: "constants";
      key: string;
      constants: ModuleConstants;
      options: CorrectionOptions;
      detector: DetectorDescription;
      /** The constants live in the pool's arena (run the SIMD kernel on them). */
      inArena: boolean;
    }
  | {
      type: "correct";
      job: number;
      key: string;
      raw: Uint16Array;
      cellId: Uint16Array;
      first: number;
      last: number;
      out: CorrectedFrames;
      /** Raw frames and outputs live in the pool's arena. */
      inArena: boolean;
    };

/** Replies of a frame worker. */
export type FrameWorkerReply =
  | { type: "done"; job: number }
  | { type: "error"; job: number; message: string };

function isShared(a: ArrayBufferView): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}

/** A pool of threads that split trains frame-wise; every array handed to it must be shared memory. */
export class FramePool {
  #job = 0;
  readonly #pending = new Map<number, { left: number; resolve: () => void; reject: (e: Error) => void }>();

  private constructor(
    readonly workers: Worker[],
    readonly arena: Arena | null,
  ) {
    for (const w of workers) {
      w.on("message", (m: FrameWorkerReply) => {
        const p = this.#pending.get(m.job);
        if (!p) return;
        if (m.type === "error") {
          this.#pending.delete(m.job);
          p.reject(new SaseError("TASK_FAILED", m.message));
        } else if (--p.left === 0) {
          this.#pending.delete(m.job);
          p.resolve();
        }
      });
    }
  }

  /**
   * Starts `n` worker threads. With an arena, constants and frames placed in it are corrected by the
   * WebAssembly SIMD kernel (where it applies); anything else by the JavaScript kernel.
   */
  static async start(n: number, arena: Arena | null = null): Promise<FramePool> {
    const data = { memory: arena?.memory ?? null };
    const workers = Array.from({ length: n }, () =>
      startTsWorker(new URL("./frame-worker.ts", import.meta.url), data),
    );
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once("online", resolve))));
    return new FramePool(workers, arena);
  }

  #inArena(arrays: ArrayBufferView[]): boolean {
    const a = this.arena;
    return a !== null && arrays.every((x) => a.holds(x));
  }

  /** Hands every worker a module's constants (shared memory: nothing is copied) under `key`. */
  setConstants(
    key: string,
    constants: ModuleConstants,
    options: CorrectionOptions,
    detector: DetectorDescription,
  ): void {
    for (const a of [constants.offset, constants.thresholds, constants.relativeGain, constants.badPixels]) {
      if (!isShared(a))
        throw new SaseError(
          "BAD_CONSTANTS",
          "FramePool constants must sit on SharedArrayBuffers (shareConstants)",
        );
    }
    const inArena = this.#inArena([
      constants.offset,
      constants.thresholds,
      constants.relativeGain,
      constants.badPixels,
    ]);
    for (const w of this.workers) {
      w.postMessage({
        type: "constants",
        key,
        constants,
        options,
        detector,
        inArena,
      } satisfies FrameWorkerRequest);
    }
  }

  /** Corrects frames [0, frames) of `raw` into `out`, each worker taking a contiguous share. */
  correct(
    key: string,
    raw: Uint16Array,
    cellId: Uint16Array,
    frames: number,
    out: CorrectedFrames,
  ): Promise<void> {
    for (const a of [raw, cellId, out.data, out.gain, out.mask]) {
      if (!isShared(a)) throw new SaseError("BAD_RAW_DATA", "FramePool data must sit on SharedArrayBuffers");
    }
    const inArena = this.#inArena([raw, cellId, out.data, out.gain, out.mask]);
    const job = ++this.#job;
    const n = Math.min(this.workers.length, frames);
    if (n === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#pending.set(job, { left: n, resolve, reject });
      for (let i = 0; i < n; i++) {
        const first = Math.floor((i * frames) / n);
        const last = Math.floor(((i + 1) * frames) / n);
        this.workers[i]!.postMessage({
          type: "correct",
          job,
          key,
          raw,
          cellId,
          first,
          last,
          out,
          inArena,
        } satisfies FrameWorkerRequest);
      }
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
