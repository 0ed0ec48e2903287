// The timer loop of every device that emits trains (simulated detector modules, XGM, the pipeline
// demo): one train per period, train IDs that only go up, and a train that takes longer than the
// period is not overtaken by the next one (the tick is skipped instead).
//
// While the device's server hears a timing server, the trains are the timing server's: each of its
// train IDs is sent at most once, soon after it arrives, and a producer slower than the timing server
// takes the IDs on a fixed grid (every 2nd at 5 Hz). Devices in different processes then send the same
// trains, as the facility's detectors triggered by one timing system do; on a free-running timer each
// would pick its own IDs, and the trains would never match downstream.
//
// A producer still busy with one train when the next is due does not send that one later: it counts
// it as skipped (`skipped`), so a source that cannot keep up says so instead of thinning its stream
// silently. On the timing server's trains, one that keeps taking longer than its period (a host short
// of CPU) backs off to every 2nd, 4th, ... 16th train of its grid (`stride`), and comes back once its
// trains are quick again: modules that each skipped whatever train they happened to be busy for would
// almost never all send the same train, while modules backing off on one grid of powers of two still
// do (every train of a module at every 4th is also one of a module at every 2nd), so the assembler and
// the DAQ get whole trains at the slowest module's rate rather than none. Stages that share a grid
// (core's TrainGrids: a detector's modules and corrections, in this process and across the facility
// through the timing server) all apply the largest need among them, so they take the very same trains.

import { type GridShare, SaseError } from "../core/index.ts";

/** What the producer needs of its device: its periodic timer and the current train ID. */
export interface ProducerHost {
  /** The latest train ID the device's server knows (0 before the first). */
  readonly trainId: number;
  /** Milliseconds since that train ID arrived (Infinity before the first; absent: free-running only). */
  readonly trainAge?: number;
  /** Runs `task` every `periodMs` until cancelled or the device goes away. */
  every(periodMs: number, task: () => void | Promise<void>): () => void;
}

/** Sends one train: its ID, and how many trains this producer will have sent once it is out. */
export type SendTrain = (trainId: number, sentCount: bigint) => Promise<void>;

/** The facility's train rate: train IDs count its periods (the timing server's default frequency). */
const FACILITY_RATE_HZ = 10;
/** How often a producer looks for a new train ID of the timing server (ms). */
const CLOCK_POLL_MS = 10;
/** A timing server silent this long (ms) is taken as stopped: the producer then runs on its own timer. */
const CLOCK_SILENT_MS = 2000;
/** The furthest a slow producer backs off: every 2^4 = 16th train of its grid. */
const MAX_BACKOFF = 4;
/** The most facility trains a producer at the facility's rate lets pass between two it sends. */
export const MAX_TRAIN_STRIDE = 1 << MAX_BACKOFF;
/** Weight of the latest train in the smoothed time a train takes. */
const BUSY_WEIGHT = 0.3;
/**
 * How long (in facility trains) a stage must have needed a coarser grid before it backs off: a host
 * that stalls for a second or two slows every stage at once, and a need that went away within that
 * would swing the whole detector's shared grid for nothing.
 */
export const BACKOFF_HOLD_TRAINS = 20;
/** How many trains in a row, at the least, must have been too slow before a stage backs off. */
export const BACKOFF_HOLD_SAMPLES = 3;
/**
 * For how many facility trains after it last needed a level a stage goes back to it at once: its
 * slowness is established (a stage waiting on a slow consumer looks quick on the coarser grid, comes
 * back, and is too slow again within a few trains).
 */
export const BACKOFF_RECALL_TRAINS = 100;
/** The longest a stage that keeps having to go back stays backed off before it tries a finer grid again (trains). */
export const BACKOFF_MAX_DOWN_HOLD_TRAINS = 300;
/** A facility train's period (ms): train IDs count these. */
export const FACILITY_TRAIN_MS = 1000 / FACILITY_RATE_HZ;

/**
 * Back-off on the facility's one grid of powers of two, for anything that handles trains and may be
 * too slow for them: at level L it takes every 2^L-th train of its grid (IDs that are multiples of
 * its base stride × 2^L). Producers use it to decide which trains to send, consumers (a module's
 * correction) which trains to handle: every train a stage at level L+1 takes is also one a stage at
 * level L takes, so stages backing off independently still agree on whole trains.
 */
export class GridBackoff {
  /** Back-off level: every 2^level-th train of the grid. */
  #level = 0;
  /** Smoothed time one train takes (ms; NaN before the first). */
  #busyMs = Number.NaN;
  /** The grid shared with other stages (none: this stage's own). */
  #share: GridShare | null = null;
  /** Since which train, and for how many trains in a row, trains have been too slow for the level (null: they are not). */
  #slowSince: number | null = null;
  #slowTrains = 0;
  /** Trains in a row quick enough for a finer grid, since which train (null: none). */
  #quickTrains = 0;
  #quickSince: number | null = null;
  /**
   * For how many facility trains a stage must be quick before it comes back a level: doubled each time
   * it had to go back at once (a stage whose trains are quick only on the coarser grid, as one waiting
   * on a busy consumer is, would otherwise swing the grid every few trains), up to BACKOFF_MAX_DOWN_HOLD_TRAINS.
   */
  #downHold = 0;
  /** The highest level this stage backed off to, and the last train it was at that level (see BACKOFF_RECALL_TRAINS). */
  #high = 0;
  #highAt = Number.NEGATIVE_INFINITY;

  /** `periodMs`: the time between two trains of the grid at level 0; `base`: its stride in facility trains. */
  constructor(
    readonly periodMs: number = FACILITY_TRAIN_MS,
    readonly base = 1,
  ) {}

  /** Every how many facility trains one is taken now: the shared grid's (never finer than the base), or this stage's own. */
  get stride(): number {
    return this.#share ? Math.max(this.base, this.#share.stride) : this.ownStride;
  }

  /** The stride that decides whether train `trainId` is taken (a shared grid switches at a given train). */
  strideAt(trainId: number): number {
    return this.#share ? Math.max(this.base, this.#share.strideAt(trainId)) : this.ownStride;
  }

  /** Every how many facility trains this stage alone could keep up with. */
  get ownStride(): number {
    return this.base << this.#level;
  }

  /** Takes part in a shared grid: `join` is given this stage's own need (see core's TrainGrids). */
  share(join: (need: () => number) => GridShare): this {
    this.leave();
    this.#share = join(() => this.ownStride);
    return this;
  }

  /** Leaves the shared grid, if any: this stage's need no longer counts there. */
  leave(): void {
    this.#share?.leave();
    this.#share = null;
  }

  /** The back-off level (0: every train of the grid). */
  get level(): number {
    return this.#level;
  }

  /** Whether train `trainId` is on the grid at the current level. */
  admits(trainId: number): boolean {
    return trainId % this.strideAt(trainId) === 0;
  }

  /**
   * Records that facility train `trainId` took `ms`, and moves this stage's level by a smoothed time
   * per train. Its need is a level whose interval the trains fill to between 30 % and 90 %.
   * - Backing off waits until trains have been too slow for BACKOFF_HOLD_TRAINS facility trains and
   *   BACKOFF_HOLD_SAMPLES trains in a row: a host stall makes every stage slow together for a second
   *   or two, and is not a stage that cannot keep up. A stage that was at that level within the last
   *   BACKOFF_RECALL_TRAINS trains goes back to it at once.
   * - Coming one level back waits for BACKOFF_HOLD_SAMPLES quick trains in a row and, for a stage that
   *   had to go straight back up before, for #downHold trains (doubled each time), so it does not flap
   *   between two levels. A smaller shared stride then still takes effect a few trains ahead (core's
   *   train-grid.ts).
   */
  took(ms: number, trainId: number): void {
    const interval = (level: number) => this.periodMs * 2 ** level;
    // One very slow train (the first after a change of conditions builds a new simulated detector)
    // counts as at most two intervals, so it backs off a level or two, not to the end of the ladder.
    const took = Math.min(ms, 2 * interval(this.#level));
    const busy = Number.isNaN(this.#busyMs) ? took : this.#busyMs + BUSY_WEIGHT * (took - this.#busyMs);
    this.#busyMs = busy;
    let need = this.#level;
    while (need < MAX_BACKOFF && busy > 0.9 * interval(need)) need++;
    while (need > 0 && busy < 0.3 * interval(need)) need--;
    const was = this.#level;
    // Still at its highest level (if only waiting to come back): that need is recent.
    if (was > 0 && was >= this.#high) {
      this.#high = was;
      this.#highAt = trainId;
    }
    if (need < was) {
      this.#slowSince = null;
      if (this.#quickSince === null || trainId < this.#quickSince) this.#quickSince = trainId;
      if (++this.#quickTrains < BACKOFF_HOLD_SAMPLES || trainId - this.#quickSince < this.#downHold) return;
    }
    this.#quickTrains = 0;
    this.#quickSince = null;
    const recalled = need <= this.#high && trainId - this.#highAt <= BACKOFF_RECALL_TRAINS;
    if (need > was && recalled)
      this.#downHold = Math.min(
        BACKOFF_MAX_DOWN_HOLD_TRAINS,
        Math.max(BACKOFF_HOLD_TRAINS, 2 * this.#downHold),
      );
    if (need > was && !recalled) {
      if (this.#slowSince === null || trainId < this.#slowSince) {
        this.#slowSince = trainId;
        this.#slowTrains = 0;
      }
      this.#slowTrains++;
      const held =
        trainId - this.#slowSince >= BACKOFF_HOLD_TRAINS && this.#slowTrains >= BACKOFF_HOLD_SAMPLES;
      if (!held) return;
    }
    this.#slowSince = null;
    this.#slowTrains = 0;
    this.#level = need;
    if (need > 0 && need >= this.#high) {
      this.#high = need;
      this.#highAt = trainId;
    } else if (trainId - this.#highAt > BACKOFF_RECALL_TRAINS) {
      this.#high = need;
      this.#highAt = trainId;
      this.#downHold = 0;
    }
    if (this.#level !== was) this.#share?.changed();
  }
}

/** Emits one train every 1/rate s while started; `sent` counts the trains that went out. */
export class TrainProducer {
  readonly #clock: ProducerHost;
  readonly #send: SendTrain;
  #cancel: (() => void) | undefined;
  #lastTrain = 0;
  #sent = 0n;
  /** The train being made or sent (undefined: none). */
  #inFlight: Promise<void> | undefined;
  #periodMs = 0;
  #stride = 1;
  #lastAt = Number.NEGATIVE_INFINITY;
  #skipped = 0n;
  /** Which trains of the timing server it sends: its rate's grid, backed off while trains are slow. */
  #grid = new GridBackoff();
  /** How this producer joins a shared grid when it starts (null: its grid is its own). */
  #join: ((need: () => number) => GridShare) | null = null;
  /** How the last train was timed since start() (none yet: null); gaps count within one way only. */
  #timedBy: "clock" | "timer" | null = null;

  constructor(clock: ProducerHost, send: SendTrain) {
    this.#clock = clock;
    this.#send = send;
  }

  /** True between start() and stop(). */
  get running(): boolean {
    return this.#cancel !== undefined;
  }

  /** Trains sent so far. */
  get sent(): bigint {
    return this.#sent;
  }

  /** Trains that were due while the previous one was still being made or sent, and were not sent. */
  get skipped(): bigint {
    return this.#skipped;
  }

  /** Every how many facility trains this producer sends now (its rate's grid times its back-off). */
  get stride(): number {
    return this.#grid.stride;
  }

  /** Every how many facility trains this producer alone could keep up with. */
  get ownStride(): number {
    return this.#grid.ownStride;
  }

  /** Shares the grid with other stages (from the next start on): `join` as GridBackoff.share takes it. */
  shareGrid(join: ((need: () => number) => GridShare) | null): void {
    this.#join = join;
  }

  /** The ID of the latest train this producer started to send (0 before the first). */
  get lastTrainId(): number {
    return this.#lastTrain;
  }

  /** Starts sending at `rateHz` (restarts at the new rate if already running). */
  start(rateHz: number): void {
    if (!(rateHz > 0))
      throw new SaseError("OUT_OF_RANGE", `train rate ${rateHz} Hz: give a rate > 0`, {
        key: "rate",
        value: String(rateHz),
      });
    void this.stop(); // a train in flight still goes out; the next tick waits for it
    this.#timedBy = null;
    this.#periodMs = 1000 / rateHz;
    this.#stride = Math.max(1, Math.round(FACILITY_RATE_HZ / rateHz));
    this.#grid = new GridBackoff(this.#periodMs, this.#stride);
    // Only on the facility's own trains is there a grid to share (a faster rate has a timer of its own).
    if (this.#join && rateHz <= FACILITY_RATE_HZ) this.#grid.share(this.#join);
    // Faster than the facility's trains, or without a clock to follow: a plain timer.
    const followsClock = this.#clock.trainAge !== undefined && rateHz <= FACILITY_RATE_HZ;
    const poll = followsClock ? Math.min(CLOCK_POLL_MS, this.#periodMs) : this.#periodMs;
    this.#cancel = this.#clock.every(poll, () => this.#tick(followsClock));
  }

  /**
   * Stops the timer; a train being made or sent still goes out, and the promise settles once it has.
   * Await it before ending the stream: a train written after the end of stream is one no input counts.
   */
  stop(): Promise<void> {
    this.#cancel?.();
    this.#cancel = undefined;
    // A stopped producer needs nothing of the grid.
    this.#grid.leave();
    return this.#inFlight?.catch(() => undefined) ?? Promise.resolve();
  }

  async #tick(followsClock: boolean): Promise<void> {
    if (this.#inFlight) return;
    const now = performance.now();
    let trainId: number;
    // A loaded broker delivers ticks late now and then: only a clock silent for long is given up on.
    const clockLive =
      followsClock && (this.#clock.trainAge ?? Infinity) < Math.max(CLOCK_SILENT_MS, 3 * this.#periodMs);
    if (clockLive) {
      const id = this.#clock.trainId;
      // Half a period at least between trains: a timing server faster than the facility's 10 Hz.
      if (id <= this.#lastTrain || !this.#grid.admits(id) || now - this.#lastAt < this.#periodMs / 2) return;
      trainId = id;
      // The clock's trains on this producer's grid between the last one sent and this one, but no
      // more than the periods that went by (a timing server faster than 10 Hz, ticks in a burst).
      if (this.#timedBy === "clock")
        this.#skip(
          Math.min(
            Math.floor((id - this.#lastTrain) / this.#stride),
            Math.round((now - this.#lastAt) / this.#periodMs),
          ) - 1,
        );
    } else {
      if (followsClock && now - this.#lastAt < this.#periodMs) return;
      // Follows the timing server, but never repeats an ID when ticks outpace it.
      trainId = Math.max(this.#clock.trainId, this.#lastTrain + 1);
      // On its own timer: the periods that went by without a train.
      if (this.#timedBy === "timer") this.#skip(Math.round((now - this.#lastAt) / this.#periodMs) - 1);
    }
    this.#lastTrain = trainId;
    this.#lastAt = now;
    this.#timedBy = clockLive ? "clock" : "timer";
    const sending = this.#send(trainId, this.#sent + 1n);
    this.#inFlight = sending;
    try {
      await sending;
      this.#sent++;
      if (clockLive) this.#grid.took(performance.now() - now, trainId);
    } finally {
      this.#inFlight = undefined;
    }
  }

  #skip(n: number): void {
    if (n > 0) this.#skipped += BigInt(n);
  }
}
