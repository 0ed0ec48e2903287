// A pool of worker threads that answer requests, for the layers that move work off the event loop
// (detector simulation, online correction). Requests go to a lane (a module number): a lane always
// reaches the same thread, so the thread keeps that lane's state (a sensor model, a corrector) built
// once. Answers are matched to requests by id; idle threads do not keep the process alive.
import type { Worker } from "node:worker_threads";
import { SaseError } from "./errors.ts";
import { startTsWorker } from "./worker.ts";

/** Requests and replies carry an id, so that a reply finds its request. */
export interface ThreadMessage {
  readonly id: number;
}

/** `Omit` applied to each member of a union of message types. */
export type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

export interface ThreadPoolOptions<Reply> {
  /** What the threads are, as errors name them ("simulation threads"). */
  readonly name: string;
  /** The worker module (see startTsWorker). */
  readonly entry: URL;
  readonly threads: number;
  /** The error a reply stands for, or null when it is an answer. */
  readonly failure: (reply: Reply) => Error | null;
}

/** Worker threads that answer requests, one thread per lane. */
export class ThreadPool<Request extends ThreadMessage, Reply extends ThreadMessage> {
  readonly #options: ThreadPoolOptions<Reply>;
  readonly #workers: Worker[];
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  #next = 0;
  #closed = false;

  constructor(options: ThreadPoolOptions<Reply>) {
    this.#options = options;
    this.#workers = Array.from({ length: Math.max(1, options.threads) }, () => {
      const w = startTsWorker(options.entry);
      // Idle threads do not keep the process alive; whoever waits for an answer has its own timer.
      w.unref();
      w.on("message", (m: Reply) => this.#answer(m));
      w.on("error", (e) => this.#failAll(e));
      return w;
    });
  }

  get threads(): number {
    return this.#workers.length;
  }

  /**
   * Sends `request` to `lane`'s thread; resolves with its answer, rejects with its failure. Buffers in
   * `transfer` move to the thread (detached here) instead of being copied.
   */
  request(lane: number, request: WithoutId<Request>, transfer: readonly ArrayBuffer[] = []): Promise<Reply> {
    if (this.#closed) return Promise.reject(new SaseError("CLOSED", `${this.#options.name} are closed`));
    const id = this.#next++;
    const worker = this.#workers[lane % this.#workers.length]!;
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref(); // a request in flight keeps the process (and its answer) alive
      worker.postMessage({ ...request, id }, transfer);
    });
  }

  #answer(m: Reply): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
    const failure = this.#options.failure(m);
    if (failure) p.reject(failure);
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
    this.#failAll(new SaseError("CLOSED", `${this.#options.name} closed`));
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/** One instance per process shared by its users (e.g. a thread pool shared by a server's devices). */
export class SharedInstance<T extends { close(): Promise<void> }> {
  #instance: T | null = null;
  #users = 0;

  constructor(private readonly make: () => T) {}

  /** The shared instance, made on first use; `release()` once per acquire. */
  acquire(): T {
    this.#users++;
    this.#instance ??= this.make();
    return this.#instance;
  }

  /** Gives back what `acquire` gave; the last user's release closes it. */
  async release(): Promise<void> {
    if (this.#users === 0) return;
    if (--this.#users > 0) return;
    const instance = this.#instance;
    this.#instance = null;
    await instance?.close();
  }
}
