// Asynchronous calls taken one at a time, in the order they were made: each starts once the one before
// it has ended, failed or not. For work whose steps must not interleave (a run writer's trains, a
// recorder's trains), while the caller need not await each call before making the next.

export class SerialCalls {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  /** Calls made and not ended yet (queued or running). */
  get pending(): number {
    return this.#pending;
  }

  /** Runs `call` after every call made before it; resolves or rejects as it does. */
  run<T>(call: () => T | Promise<T>): Promise<T> {
    this.#pending++;
    const result = this.#tail.then(call).finally(() => {
      this.#pending--;
    });
    this.#tail = result.catch(() => {});
    return result;
  }

  /** Resolves once every call made so far has ended. */
  async idle(): Promise<void> {
    await this.#tail;
  }
}
