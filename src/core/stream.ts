// A bounded queue read with `for await`: producers push, one consumer iterates. When the consumer falls
// behind, the oldest items are dropped (latest data first) and counted, so drops are visible, never silent.

/** An async-iterable stream of items that can be closed by either side. */
export class Stream<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #head = 0;
  #waiter: ((r: IteratorResult<T>) => void) | undefined;
  #closed = false;
  #dropped = 0;
  readonly #onClose: (() => void) | undefined;

  /** `capacity`: items held for a slow consumer before the oldest are dropped. */
  constructor(
    readonly capacity = 1000,
    onClose?: () => void,
  ) {
    this.#onClose = onClose;
  }

  /** Items dropped because the consumer was slower than the producer. */
  get dropped(): number {
    return this.#dropped;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Adds an item (hands it straight to a waiting consumer when there is one). */
  push(item: T): void {
    if (this.#closed) return;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w({ value: item, done: false });
      return;
    }
    if (this.#items.length - this.#head >= this.capacity) {
      this.#head++;
      this.#dropped++;
    }
    this.#items.push(item);
  }

  /** The next item, or done when closed and drained. */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items.splice(0, this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  /** Ends the stream: a waiting consumer sees done; buffered items are discarded. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#items.length = 0;
    this.#head = 0;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.({ value: undefined, done: true });
    this.#onClose?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
