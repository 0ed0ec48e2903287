// Online correction off the event loop: worker threads that each hold the correctors of some modules.
// A thread loads a module's constants from the store itself (tens of MB of HDF5 per module: on the
// event loop that would stall every device), and corrects that module's trains; corrected arrays come
// back without copying. Each correction device keeps to one thread, chosen by its module number.
import {
  type ErrorDetails,
  ReturnedArrays,
  SaseError,
  SharedInstance,
  spansWholeBuffer,
  ThreadPool,
  threadBudget,
} from "../core/index.ts";
import type { CorrectedArrays, CorrectedModuleTrain, CorrectorOptions, RawFrames } from "./corrector.ts";
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

/**
 * A raw train as it goes to a correction thread: its frames staged in the slot's shared buffer (the
 * first `length` values of `staged`), the rest copied with the message.
 */
export interface StagedRawFrames extends Omit<RawFrames, "data"> {
  readonly staged: SharedArrayBuffer;
  readonly length: number;
}

/** Messages to an online correction thread. */
export type OnlineRequest =
  | { readonly id: number; readonly type: "load"; readonly slot: string; readonly setup: OnlineSetup }
  | {
      readonly id: number;
      readonly type: "correct";
      readonly slot: string;
      readonly raw: StagedRawFrames;
      /** Arrays of an earlier train of the slot, handed back to be written again (see giveBack). */
      readonly into?: CorrectedArrays;
    }
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

/** Threads for online correction: $SASE_CORR_THREADS, else its share of the host's (threadBudget). */
export function defaultCorrectionThreads(): number {
  return threadBudget("correction");
}

/** A pool of online correction threads; `acquire()` shares one among a process's correction devices. */
export class CorrectionThreads {
  static readonly #shared = new SharedInstance(() => new CorrectionThreads());
  readonly #pool: ThreadPool<OnlineRequest, OnlineReply>;
  /**
   * Each slot's raw frames go to its thread through one shared buffer, reused train after train: a
   * message would copy them twice (serialised here, read there) into freshly allocated memory, and
   * fresh memory costs a page fault per 4 KB on first touch. A slot has one train in flight at a
   * time (its device awaits each correction), so the thread reads it before the next is staged.
   */
  readonly #staging = new Map<string, Uint16Array>();
  /** Each slot's corrected arrays whose train nobody reads any more, to be written again (at most 2). */
  readonly #returned = new ReturnedArrays<string, CorrectedArrays>();

  constructor(threads = defaultCorrectionThreads()) {
    this.#pool = new ThreadPool({
      name: "correction threads",
      entry: new URL("./online-worker.ts", import.meta.url),
      threads,
      failure: (m) =>
        "error" in m
          ? m.constants
            ? new MissingConstantsError(m.error)
            : new SaseError("TASK_FAILED", m.error)
          : null,
    });
  }

  /** The process's shared pool, started on first use; `release()` once per acquire. */
  static acquire(): CorrectionThreads {
    return CorrectionThreads.#shared.acquire();
  }

  /** Gives back a pool from `acquire`; the last user's release stops its threads. */
  static release(): Promise<void> {
    return CorrectionThreads.#shared.release();
  }

  /** Loads constants for `slot` (a device id) on `module`'s thread; MissingConstantsError if none fit. */
  async load(slot: string, setup: OnlineSetup): Promise<readonly ConstantUse[]> {
    const r = await this.#pool.request(setup.module, { type: "load", slot, setup });
    if ("loaded" in r) return r.loaded;
    throw new SaseError("BAD_MESSAGE", "unexpected reply to load from a correction thread");
  }

  /** Corrects one train with the constants loaded for `slot`. */
  async correct(slot: string, module: number, raw: RawFrames): Promise<CorrectedModuleTrain> {
    let stage = this.#staging.get(slot);
    if (!stage || stage.length < raw.data.length) {
      stage = new Uint16Array(new SharedArrayBuffer(raw.data.byteLength));
      this.#staging.set(slot, stage);
    }
    stage.set(raw.data);
    const { data, ...rest } = raw;
    const staged: StagedRawFrames = {
      ...rest,
      staged: stage.buffer as SharedArrayBuffer,
      length: data.length,
    };
    // Arrays handed back move to the thread and are written again: memory already mapped, where fresh
    // arrays would cost a page fault per 4 KB (most of a correction's time at a few cells here).
    const into = this.#returned.take(slot);
    const transfer = into ? [into.data.buffer, into.gain.buffer, into.mask.buffer] : [];
    const r = await this.#pool.request(
      module,
      { type: "correct", slot, raw: staged, ...(into ? { into } : {}) },
      transfer as ArrayBuffer[],
    );
    if ("out" in r) return r.out;
    throw new SaseError("BAD_MESSAGE", "unexpected reply to correct from a correction thread");
  }

  /**
   * Hands back the arrays of a train of `slot` that nothing reads any more: the slot's next trains are
   * corrected into them. Only whole arrays from `correct` qualify (their buffers move to the thread).
   */
  giveBack(slot: string, arrays: CorrectedArrays): void {
    const { data, gain, mask } = arrays;
    if (!spansWholeBuffer(data) || !spansWholeBuffer(gain) || !spansWholeBuffer(mask)) return;
    if (!this.#staging.has(slot)) return; // dropped meanwhile
    this.#returned.give(slot, { data, gain, mask });
  }

  /** Forgets `slot`'s corrector (its constants' memory goes). */
  async drop(slot: string, module: number): Promise<void> {
    this.#staging.delete(slot);
    this.#returned.forget(slot);
    await this.#pool.request(module, { type: "drop", slot });
  }

  /** Stops the threads; requests in flight fail. */
  close(): Promise<void> {
    return this.#pool.close();
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
