import { SaseError, showValue } from "../core/index.ts";
// A bounded FIFO between whoever produces trains and the socket that sends them. When it is full
// the drop policy decides: "block" makes the producer wait (file replay: never lose a train),
// "drop-oldest" keeps the freshest trains (live data: a slow client must not stall the facility),
// "drop-newest" keeps what is already queued.

/** What a full queue does with one more item. */
export type DropPolicy = "block" | "drop-oldest" | "drop-newest";

/** Every drop policy, for validating user input. */
export const DROP_POLICIES: readonly DropPolicy[] = ["block", "drop-oldest", "drop-newest"];

/** Raised to waiters when the queue is closed. */
export class QueueClosedError extends SaseError {
  override name = "QueueClosedError";
  constructor() {
    super("CLOSED", "queue closed");
  }
}

/** A bounded async queue with a drop policy; counts what it dropped. */
export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private takers: { resolve: (v: T) => void; reject: (e: Error) => void }[] = [];
  private putters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private roomWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private closed = false;
  /** Items thrown away by the drop policy. */
  dropped = 0;
  /** Items taken and not yet marked `done()` (so "empty" can mean "everything delivered"). */
  taken = 0;

  constructor(
    readonly capacity: number,
    readonly policy: DropPolicy,
    private readonly onDrop?: (item: T) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new SaseError("BAD_OPTION", `queue size must be ≥ 1, got ${capacity}`, {
        value: showValue(capacity),
      });
  }

  /** Items waiting now. */
  get length(): number {
    return this.items.length;
  }

  /** Adds an item; resolves true when queued, false when the policy dropped it. */
  async put(item: T): Promise<boolean> {
    if (this.closed) throw new QueueClosedError();
    // Producers already waiting go first, so that items keep the order they were put in.
    let mustWait = this.putters.length > 0;
    for (;;) {
      if (!mustWait) {
        const taker = this.takers.shift();
        if (taker) {
          this.taken++;
          taker.resolve(item);
          return true;
        }
        if (this.items.length < this.capacity) {
          this.items.push(item);
          return true;
        }
        if (this.policy === "drop-newest") {
          this.drop(item);
          return false;
        }
        if (this.policy === "drop-oldest") {
          this.drop(this.items.shift() as T);
          this.items.push(item);
          return true;
        }
      }
      await new Promise<void>((resolve, reject) => this.putters.push({ resolve, reject }));
      if (this.closed) throw new QueueClosedError();
      mustWait = false;
    }
  }

  /** Puts an item back at the head (it was taken but could not be delivered); ignores the capacity. */
  putBack(item: T): void {
    const taker = this.takers.shift();
    if (taker) taker.resolve(item);
    else {
      this.taken--;
      this.items.unshift(item);
    }
  }

  /** Marks one taken item as dealt with. */
  done(): void {
    this.taken = Math.max(0, this.taken - 1);
  }

  /**
   * Resolves once a put would not wait: so that a producer makes its next item (reads a train) only
   * when it can be queued, and memory holds the queue's items and no more.
   */
  room(): Promise<void> {
    if (this.closed) return Promise.reject(new QueueClosedError());
    if (this.policy !== "block" || (this.items.length < this.capacity && this.putters.length === 0))
      return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.roomWaiters.push({ resolve, reject }));
  }

  /** Waits for and removes the oldest item. */
  take(): Promise<T> {
    const item = this.takeNow();
    if (item !== undefined) return Promise.resolve(item);
    if (this.closed) return Promise.reject(new QueueClosedError());
    return new Promise<T>((resolve, reject) => this.takers.push({ resolve, reject }));
  }

  /** The oldest item, left in the queue; undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Removes the oldest item if there is one (as take() does), else undefined. */
  takeNow(): T | undefined {
    const item = this.items.shift();
    if (item !== undefined) {
      this.taken++;
      if (this.putters.length === 0) for (const w of this.roomWaiters.splice(0)) setImmediate(w.resolve);
      // Wake a blocked producer only after the taker has run (e.g. handed the train to the
      // socket), so that encoding the next train never delays sending this one.
      const putter = this.putters.shift();
      if (putter) setImmediate(putter.resolve);
    }
    return item;
  }

  /** Rejects every waiter; later puts and takes fail. */
  close(): void {
    this.closed = true;
    for (const t of this.takers) t.reject(new QueueClosedError());
    for (const p of this.putters) p.reject(new QueueClosedError());
    for (const w of this.roomWaiters) w.reject(new QueueClosedError());
    this.takers = [];
    this.putters = [];
    this.roomWaiters = [];
  }

  private drop(item: T): void {
    this.dropped++;
    this.onDrop?.(item);
  }
}
