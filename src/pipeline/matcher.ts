// Train matching, the one rule every consumer of several sources uses (DAQ, assembler, GUI image feed,
// Karabo bridge): data of one train arrives from many sources at different times. A train is handed on
// in train order once every configured source has delivered it, or once the train timeout has passed
// since its first piece arrived (absent sources are then recorded as missing); a newer complete train
// waits behind an older one still filling up. A piece for a train already handed on is a straggler:
// counted late, not kept. Per-source statistics explain what went wrong when trains come out incomplete;
// `counts` and `MATCH_STATS_SCHEMA` publish them on the device that runs the matcher.
//
// With `sourcesInOrder` (each source one output on one connection, so its trains come in train order,
// as a detector's corrected modules reach the assembler), a train that a source has passed (it
// delivered a newer one) will never get that source's piece: once every source it lacks has passed
// it, the train is handed on at once, `skipped`, instead of waiting out the timeout, which under load
// (sources backing off on the train grid, outputs dropping) would hold every newer whole train behind
// it. And the timeout then counts from a missing source's last piece, not from the train's first, and
// is at least twice the source's usual gap between pieces: a source backed off to every 8th train sends
// its piece of a train long after the fastest one did, and is still coming; only a source silent for
// that long (down) has its trains handed on without it.

import { closestName, el, SaseError } from "../core/index.ts";

/** A matched train: the data each source delivered; `missing` lists sources without data. */
export interface MatchedTrain<D = unknown> {
  readonly trainId: number;
  readonly data: ReadonlyMap<string, D>;
  readonly missing: readonly string[];
  /** True when it lacks a source that was given up on after the timeout (not one that skipped it). */
  readonly timedOut: boolean;
  /**
   * With `sourcesInOrder`: some source it lacks had already delivered a newer train (it skipped this one,
   * or its output dropped it), so it could never complete; handed on without waiting for the timeout.
   */
  readonly skipped: boolean;
  /** True when a newer train was handed on together with it: a live view may skip it. */
  readonly stale: boolean;
}

/** Receives matched trains in train order; the next train waits until a returned promise settles. */
export type TrainHandler<D> = (train: MatchedTrain<D>) => void | Promise<void>;

/** What a matcher has handed on: trains, complete ones, and pieces that came after their train. */
export interface MatchCounts {
  readonly trains: number;
  readonly complete: number;
  readonly incomplete: number;
  readonly late: number;
  /** complete / trains (1 before the first train). */
  readonly matchRatio: number;
}

const ro = { access: "readOnly", archive: "noArchiving" } as const;

/** Read-only properties under which a device publishes its matcher's counts (see `matchStatsValues`). */
export const MATCH_STATS_SCHEMA = el.node(
  {
    trains: el.uint64({ displayedName: "Trains matched", ...ro, default: 0n }),
    incomplete: el.uint64({ displayedName: "Trains handed on incomplete", ...ro, default: 0n }),
    late: el.uint64({ displayedName: "Pieces too late for their train", ...ro, default: 0n }),
    matchRatio: el.double({ displayedName: "Complete trains / trains", ...ro, default: 1 }),
  },
  { displayedName: "Train matching" },
);

/** The values of `MATCH_STATS_SCHEMA` under `key`, keyed as a device's setMany takes them. */
export type MatchStatsValues<K extends string> = Record<`${K}.${"trains" | "incomplete" | "late"}`, bigint> &
  Record<`${K}.matchRatio`, number>;

/** The values of `MATCH_STATS_SCHEMA` under `key`, for a device's setMany. */
export function matchStatsValues<K extends string>(key: K, counts: MatchCounts): MatchStatsValues<K> {
  return {
    [`${key}.trains`]: BigInt(counts.trains),
    [`${key}.incomplete`]: BigInt(counts.incomplete),
    [`${key}.late`]: BigInt(counts.late),
    [`${key}.matchRatio`]: counts.matchRatio,
  } as MatchStatsValues<K>;
}

/** Live figures of one source. */
export interface SourceStats {
  readonly source: string;
  /** Pieces that arrived in time. */
  readonly received: number;
  /** Trains handed on without this source. */
  readonly missing: number;
  /** Pieces that arrived after their train was already handed on (lost: timeout too short). */
  readonly late: number;
  /** Delay after the train's first piece, ms: last, mean and max of pieces that arrived. */
  readonly latencyMs: { readonly last: number; readonly mean: number; readonly max: number };
}

/** A source that does not deliver, with the reason and what to change. */
export interface SourceProblem {
  readonly source: string;
  readonly problem: "silent" | "unknown-name" | "too-slow" | "dropping" | "unexpected";
  readonly message: string;
  readonly fix: string;
}

export interface MatcherOptions<D = unknown> {
  /** How long a train waits for missing sources after its first piece; default 500 ms. */
  timeoutMs?: number;
  /** Clock (tests); default performance.now. */
  now?: () => number;
  /** Names that exist in the facility, to tell a typo from a silent source. */
  knownSources?: () => readonly string[];
  /** Where a failure of an `onTrain` handler goes (default: thrown out of the timer, i.e. unhandled). */
  onError?: (err: unknown) => void;
  /**
   * Each source delivers its trains in train order: hand on at once what a source has passed, and time
   * out only sources silent for the timeout (default false).
   */
  sourcesInOrder?: boolean;
  /**
   * Gets each piece the matcher does not keep: late (its train already handed on), a second one for its
   * train, from a source not configured, pushed after the end, or still pending at `close`. A consumer
   * hands the piece's memory back here (its input's release); without it such pieces are left to the
   * garbage collector.
   */
  onDropped?: (piece: D) => void;
}

interface Pending<D> {
  firstAt: number;
  data: Map<string, D>;
}

interface Tally {
  /** Newest train this source delivered (-1: none yet). */
  newest: number;
  /** When its latest piece arrived (-Infinity: none yet). */
  lastAt: number;
  /** Smoothed time between its pieces (ms; 0 before the second). */
  gap: number;
  received: number;
  missing: number;
  late: number;
  latLast: number;
  latSum: number;
  latMax: number;
}

/** Matches pieces of trains from the configured sources; iterate it to get matched trains. */
export class TrainMatcher<D = unknown> implements AsyncIterable<MatchedTrain<D>> {
  readonly sources: readonly string[];
  readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly pending = new Map<number, Pending<D>>();
  private readonly tally = new Map<string, Tally>();
  private readonly unexpected = new Map<string, number>();
  private readonly ready: MatchedTrain<D>[] = [];
  private waiter: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastHanded = -1;
  private ended = false;
  private handed = 0;
  private complete = 0;
  private lateTotal = 0;
  private handler: TrainHandler<D> | null = null;
  private delivering: Promise<void> | null = null;
  private takenWaiters: (() => void)[] = [];

  constructor(
    sources: readonly string[],
    private readonly opts: MatcherOptions<D> = {},
  ) {
    if (sources.length === 0)
      throw new SaseError("MISSING_KEY", "train matcher: configure at least one source", { key: "sources" });
    const dup = sources.find((s, i) => sources.indexOf(s) !== i);
    if (dup)
      throw new SaseError("BAD_SCHEMA", `train matcher: source "${dup}" is configured twice`, {
        key: "sources",
        value: dup,
      });
    this.sources = [...sources];
    this.timeoutMs = opts.timeoutMs ?? 500;
    if (!(this.timeoutMs > 0))
      throw new SaseError("OUT_OF_RANGE", `train matcher: timeoutMs must be > 0, not ${opts.timeoutMs}`, {
        key: "timeoutMs",
        value: String(opts.timeoutMs),
      });
    this.now = opts.now ?? (() => performance.now());
    for (const s of sources)
      this.tally.set(s, {
        newest: -1,
        lastAt: Number.NEGATIVE_INFINITY,
        gap: 0,
        received: 0,
        missing: 0,
        late: 0,
        latLast: 0,
        latSum: 0,
        latMax: 0,
      });
    // Timeouts must fire even when no more data arrives at all.
    this.timer = setInterval(() => this.tick(), Math.max(5, Math.min(100, this.timeoutMs / 4)));
    this.timer.unref();
  }

  /**
   * Delivers matched trains to `handler` instead of the async iterator, one at a time in train order.
   * `push` then returns the delivery of the trains it completed, so an input can wait for it.
   */
  onTrain(handler: TrainHandler<D>): this {
    this.handler = handler;
    return this;
  }

  /** One source's piece of one train. Late pieces (train already handed on) are counted, not kept. */
  push(source: string, trainId: number, data: D): Promise<void> | undefined {
    if (this.ended) return this.drop(data);
    const t = this.tally.get(source);
    if (!t) {
      this.unexpected.set(source, (this.unexpected.get(source) ?? 0) + 1);
      return this.drop(data);
    }
    if (trainId <= this.lastHanded) {
      t.late++;
      this.lateTotal++;
      return this.drop(data);
    }
    const at = this.now();
    let p = this.pending.get(trainId);
    if (!p) {
      p = { firstAt: at, data: new Map() };
      this.pending.set(trainId, p);
    }
    if (p.data.has(source)) return this.drop(data); // a second piece for the same train: keep the first
    p.data.set(source, data);
    const lat = at - p.firstAt;
    t.received++;
    t.latLast = lat;
    t.latSum += lat;
    t.latMax = Math.max(t.latMax, lat);
    const passed = t.newest;
    t.newest = Math.max(t.newest, trainId);
    if (Number.isFinite(t.lastAt)) t.gap = t.gap ? t.gap + 0.3 * (at - t.lastAt - t.gap) : at - t.lastAt;
    t.lastAt = at;
    // Only a complete train, or one this source has now passed (older trains it skipped), can be
    // handed on before the timer's next look.
    if (p.data.size === this.sources.length) return this.flush(false);
    if (this.opts.sourcesInOrder)
      for (const id of this.pending.keys()) if (id > passed && id < trainId) return this.flush(false);
    return undefined;
  }

  /** Hands on every train that is complete or timed out, oldest first; `all` hands on everything. */
  flush(all: boolean): Promise<void> | undefined {
    if (this.pending.size === 0) return undefined;
    const ids =
      this.pending.size === 1 ? [...this.pending.keys()] : [...this.pending.keys()].sort((a, b) => a - b);
    const at = this.now();
    const first = this.ready.length;
    for (const id of ids) {
      const p = this.pending.get(id)!;
      const complete = p.data.size === this.sources.length;
      const missing = complete ? [] : this.sources.filter((s) => !p.data.has(s));
      // With sources in order: the missing sources that already sent a newer train skipped this one; a
      // source still sending its older trains will come to this one or pass it, so only one silent for
      // the whole timeout (since its last piece, or this train's first; and for twice its usual gap
      // between pieces) is given up on.
      const inOrder = this.opts.sourcesInOrder === true;
      const passed = (s: string) => inOrder && this.tally.get(s)!.newest > id;
      const silent = (s: string) => {
        if (!inOrder) return at - p.firstAt >= this.timeoutMs;
        // A source backed off to every 8th train is quiet for 800 ms between its pieces and still live.
        const t = this.tally.get(s)!;
        return at - Math.max(t.lastAt, p.firstAt) >= Math.max(this.timeoutMs, 2 * t.gap);
      };
      const skipped = missing.some(passed);
      const expired = missing.every((s) => passed(s) || silent(s));
      // Keep train order: a newer complete train waits behind an older one still filling up.
      if (!complete && !expired && !all) break;
      this.pending.delete(id);
      for (const s of missing) this.tally.get(s)!.missing++;
      this.handed++;
      if (complete) this.complete++;
      this.lastHanded = id;
      this.ready.push({
        trainId: id,
        data: p.data,
        missing,
        timedOut: missing.some((s) => !passed(s)),
        skipped,
        stale: false,
      });
    }
    // Trains handed on together: all but the newest are stale for a viewer.
    for (let i = first; i < this.ready.length - 1; i++) (this.ready[i] as { stale: boolean }).stale = true;
    if (this.ready.length === 0) return undefined;
    if (this.handler) return this.deliver();
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
    // Iterated: resolves once the reader has taken every ready train (a pump may wait for it).
    return new Promise<void>((r) => this.takenWaiters.push(r));
  }

  /** A piece not kept goes to `onDropped`. */
  private drop(piece: D): undefined {
    this.opts.onDropped?.(piece);
    return undefined;
  }

  /** Hands the ready trains to the handler one after the other (one delivery loop at a time). */
  private deliver(): Promise<void> {
    this.delivering ??= (async () => {
      try {
        while (this.ready.length) await this.handler!(this.ready.shift()!);
      } finally {
        this.delivering = null;
      }
    })();
    return this.delivering;
  }

  /** Flush from the timer: a handler's failure goes to `onError`. */
  private tick(): void {
    const delivery = this.flush(false);
    if (delivery && this.opts.onError) delivery.catch(this.opts.onError);
  }

  /** No more data: hands on what is pending and ends iteration (and returns the last delivery). */
  end(): Promise<void> | undefined {
    if (this.ended) return undefined;
    const delivery = this.flush(true);
    this.ended = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.waiter?.();
    this.waiter = null;
    return delivery;
  }

  /** Stops matching and drops what is pending (shutdown: nothing more is handed on). */
  close(): void {
    for (const p of this.pending.values()) for (const piece of p.data.values()) this.drop(piece);
    for (const train of this.ready) for (const piece of train.data.values()) this.drop(piece);
    this.pending.clear();
    this.ready.length = 0;
    this.end();
    this.releaseTaken();
  }

  /** Trains handed on so far, how many were complete, and the stragglers that came too late. */
  get counts(): MatchCounts {
    return {
      trains: this.handed,
      complete: this.complete,
      incomplete: this.handed - this.complete,
      late: this.lateTotal,
      matchRatio: this.handed ? this.complete / this.handed : 1,
    };
  }

  /** Per-source statistics. */
  stats(): SourceStats[] {
    return this.sources.map((source) => {
      const t = this.tally.get(source)!;
      return {
        source,
        received: t.received,
        missing: t.missing,
        late: t.late,
        latencyMs: { last: t.latLast, mean: t.received ? t.latSum / t.received : 0, max: t.latMax },
      };
    });
  }

  /** What is wrong with which source, and how to fix it (empty when every source delivers). */
  problems(): SourceProblem[] {
    const out: SourceProblem[] = [];
    const known = this.opts.knownSources?.();
    for (const s of this.stats()) {
      if (s.late > 0) {
        const need = Math.ceil(Math.max(s.latencyMs.max, this.timeoutMs) * 2);
        out.push({
          source: s.source,
          problem: "too-slow",
          message: `${s.late} piece(s) of ${s.source} arrived after their train was written (train timeout ${this.timeoutMs} ms)`,
          fix: `raise the train timeout to at least ${need} ms`,
        });
      } else if (s.received === 0 && this.handed > 0) {
        if (known && !known.includes(s.source)) {
          const near = closest(s.source, known);
          out.push({
            source: s.source,
            problem: "unknown-name",
            message: `no source named ${s.source} exists`,
            fix: near
              ? `did you mean ${near}? fix the name in the DAQ's data sources`
              : "fix the name in the data sources",
          });
        } else {
          out.push({
            source: s.source,
            problem: "silent",
            message: `${s.source} sent nothing for ${s.missing} train(s)`,
            fix: "check that the device is running and that its output sends data (or remove it from the sources)",
          });
        }
      } else if (s.missing > 0) {
        out.push({
          source: s.source,
          problem: "dropping",
          message: `${s.source} missed ${s.missing} of ${this.handed} train(s)`,
          fix: "the source skips trains: check its rate and load",
        });
      }
    }
    for (const [source, n] of this.unexpected) {
      out.push({
        source,
        problem: "unexpected",
        message: `${n} piece(s) from ${source}, which is not a configured source, were ignored`,
        fix: `add ${source} to the data sources to record it`,
      });
    }
    return out;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<MatchedTrain<D>> {
    try {
      for (;;) {
        while (this.ready.length) yield this.ready.shift()!;
        this.releaseTaken();
        if (this.ended) return;
        await new Promise<void>((r) => {
          this.waiter = r;
        });
      }
    } finally {
      this.releaseTaken();
    }
  }

  private releaseTaken(): void {
    const waiters = this.takenWaiters;
    this.takenWaiters = [];
    for (const w of waiters) w();
  }
}

/** The candidate nearest to `name` by edit distance (if reasonably near). */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  return closestName(name, candidates, Math.floor(Math.max(3, name.length / 3)));
}
