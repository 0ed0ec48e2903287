// The graph on the live stream: trains from the assembled detector feed become AnalysisTrains, run
// through the graph at most at the train rate (10 Hz), latest first: a train arriving while the graph
// is still due to wait replaces one not yet processed (counted as dropped) rather than queueing.
import { trimPulses } from "./detector-image.ts";
import type { GraphRunner, NodeStats } from "./runner.ts";
import type { AnalysisTrain, ImageGeometry, TrainResults } from "./types.ts";

/** One assembled live image, as the GUI's detector feed delivers it (row 0 at the top). */
export interface LiveImage {
  readonly trainId: number;
  readonly width: number;
  readonly height: number;
  readonly pixels: Float32Array;
  readonly pulseEnergy?: readonly number[];
}

/** Device properties as last seen live, by device and key. */
export type PropertyLookup = (device: string, key: string) => number | undefined;

/**
 * The AnalysisTrain of a live image: the same image, geometry and pulses the offline reader gives.
 * `geometry` is `imageGeometry(detectorGeometry)` (one object per detector: nodes cache on it).
 */
export function liveTrain(
  frame: LiveImage,
  geometry: ImageGeometry,
  property: PropertyLookup,
): AnalysisTrain {
  return {
    trainId: frame.trainId,
    image: { width: frame.width, height: frame.height, data: frame.pixels },
    geometry,
    pulseEnergy: trimPulses(frame.pulseEnergy ?? []),
    property,
  };
}

/** What the live graph reports after each processed train. */
export interface LiveUpdate {
  readonly trainId: number;
  readonly results: TrainResults;
  readonly stats: NodeStats[];
  /** Trains replaced before they were processed, since the start. */
  readonly dropped: number;
}

/** Runs a graph on live trains, at most `maxRateHz` trains a second. */
export class LiveGraph {
  #runner: GraphRunner;
  readonly #periodMs: number;
  readonly #listeners = new Set<(u: LiveUpdate) => void>();
  #pending: AnalysisTrain | null = null;
  #timer: NodeJS.Timeout | null = null;
  #last = Number.NEGATIVE_INFINITY;
  #dropped = 0;
  #closed = false;

  constructor(runner: GraphRunner, opts: { maxRateHz?: number } = {}) {
    this.#runner = runner;
    this.#periodMs = 1000 / (opts.maxRateHz ?? 10);
  }

  /** The graph running now. */
  get runner(): GraphRunner {
    return this.#runner;
  }

  /** Calls `listener` after every processed train; returns the unsubscribe. */
  onUpdate(listener: (u: LiveUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A new train from the stream. */
  push(train: AnalysisTrain): void {
    if (this.#closed) return;
    if (this.#pending) this.#dropped++;
    this.#pending = train;
    // A little slack: trains arrive at 10 Hz with jitter, and a 10 Hz cap must not drop every other.
    const wait = this.#last + this.#periodMs * 0.8 - performance.now();
    if (wait <= 0) this.#process();
    else this.#timer ??= setTimeout(() => this.#process(), wait);
  }

  /** Swaps in another graph (the editor saved a new revision); accumulations start afresh. */
  replace(runner: GraphRunner): void {
    const old = this.#runner;
    this.#runner = runner;
    old.close();
  }

  /** Clears accumulations of one node or all. */
  reset(nodeId?: string): void {
    this.#runner.reset(nodeId);
  }

  /** Stops processing and closes the graph. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = null;
    this.#runner.close();
    this.#listeners.clear();
  }

  #process(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const train = this.#pending;
    this.#pending = null;
    if (!train || this.#closed) return;
    this.#last = performance.now();
    const results = this.#runner.process(train);
    const update: LiveUpdate = {
      trainId: train.trainId,
      results,
      stats: this.#runner.stats(),
      dropped: this.#dropped,
    };
    for (const l of this.#listeners) l(update);
  }
}
