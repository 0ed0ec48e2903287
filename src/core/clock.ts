// The facility clock as a device server sees it: the latest train ID from the timing server, so every
// property update can be stamped with the train it belongs to.

import { type Timestamp, timestampNow } from "./timestamp.ts";

/** Latest train ID and the time it arrived. */
export class TrainClock {
  #trainId = 0;
  #receivedAt = 0;
  #last: Timestamp = timestampNow(0, 0);
  #lastMs = 0;

  /** The latest train ID (0 until a timing server has ticked). */
  get trainId(): number {
    return this.#trainId;
  }

  /** Milliseconds since the latest tick (Infinity before the first). */
  get age(): number {
    return this.#receivedAt === 0 ? Number.POSITIVE_INFINITY : Date.now() - this.#receivedAt;
  }

  /** Records a tick of the timing server. */
  tick(trainId: number): void {
    this.#trainId = trainId;
    this.#receivedAt = Date.now();
  }

  /** A timestamp of now carrying the latest train ID. */
  now(): Timestamp {
    // Timestamps are immutable: within one millisecond and one train, every update shares one.
    const ms = Date.now();
    if (ms !== this.#lastMs || this.#last.trainId !== this.#trainId) {
      this.#last = timestampNow(this.#trainId, ms);
      this.#lastMs = ms;
    }
    return this.#last;
  }
}
