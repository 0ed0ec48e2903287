// The receiving end of a pipeline. An input connects to one or more outputs (in-process or over TCP),
// keeps each connection alive (reconnecting when an output goes away and comes back), grants credits as
// its consumer takes tokens, and tells the consumer about the end of a stream once every connected output
// has ended it. Consume with `for await (const token of input)` or with `onData(handler)`.

import {
  BufferPool,
  createLogger,
  type Hash,
  isNDArray,
  type Logger,
  recycle,
  timestampToMs,
} from "../core/index.ts";
import { payloadBytes } from "./data-schema.ts";
import type { ConnectionSink, InputHello, InputLink } from "./link.ts";
import { attachLocal } from "./local.ts";
import type { DeliveryInfo } from "./output.ts";
import { type ChannelRegistry, channelRegistry, shortcutEnabled } from "./registry.ts";
import { type AlarmLevel, RateMeter } from "./stats.ts";
import { connectTcp, type TokenMemory } from "./tcp.ts";
import {
  type DataToken,
  type InputChannelOptions,
  type OutputSpec,
  PipelineError,
  parseChannelId,
  parseOutputSpec,
  parseTcpAddress,
  resolveInputOptions,
} from "./types.ts";

/** Connection state of one configured output, as Karabo names them. */
export type ConnectionState = "DISCONNECTED" | "CONNECTING" | "CONNECTED";

/** One configured output as the input sees it. */
export interface InputConnectionStats {
  output: string;
  state: ConnectionState;
  memoryLocation: "local" | "remote" | "";
  remoteAddress: string;
  tokens: number;
  dropped: number;
  lost: number;
  reconnects: number;
  /** Tokens the output holds for this input. */
  senderQueue: number;
}

/** Health and counters of an input channel, published as device properties. */
export interface InputStats {
  channelId: string;
  /** `idle` (no stream open), `receiving`, `stalled` (stream open, nothing for stallTimeoutMs), `disconnected`, `closed`. */
  health: "idle" | "receiving" | "stalled" | "disconnected" | "closed";
  alarm: AlarmLevel;
  tokens: number;
  bytes: number;
  /** Tokens per second over the last second. */
  rate: number;
  /** Payload bytes per second over the last second. */
  throughput: number;
  /** Train timestamp → arrival, smoothed, in ms. */
  latencyMs: number;
  /** Tokens received and not yet taken by the consumer. */
  queueDepth: number;
  /** Tokens the outputs hold for this input. */
  senderQueue: number;
  /** Tokens the outputs dropped for this input by its slowness policy. */
  dropped: number;
  /** Tokens missed without a policy drop (lost with a broken connection). */
  lost: number;
  reconnects: number;
  endOfStreams: number;
  /** Tokens received over TCP into memory that released tokens handed back (see `release`). */
  reusedMemory: number;
  handlerErrors: number;
  lastError: string;
  /** Configured outputs not connected now. */
  missingConnections: string[];
  connections: InputConnectionStats[];
}

type BufferItem =
  | { kind: "data"; token: DataToken; conn: Connection; generation: number }
  | { kind: "eos"; conn: Connection }
  | { kind: "check" };

class Connection implements ConnectionSink {
  state: ConnectionState = "DISCONNECTED";
  memoryLocation: "local" | "remote" | "" = "";
  remoteAddress = "";
  link: InputLink | undefined;
  generation = 0;
  session = "";
  lastSeq = 0;
  droppedBefore = 0;
  droppedLink = 0;
  droppedAccounted = 0;
  lost = 0;
  tokens = 0;
  senderQueue = 0;
  reconnects = 0;
  opened = 0;
  eos = false;
  disconnectedSince = performance.now();
  retry: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: OutputSpec,
    private readonly input: InputChannel,
  ) {}

  get dropped(): number {
    return this.droppedBefore + this.droppedLink;
  }

  onOpen(session: string | undefined, memoryLocation: "local" | "remote", remoteAddress: string): void {
    this.state = "CONNECTED";
    this.memoryLocation = memoryLocation;
    this.remoteAddress = remoteAddress;
    if (session !== undefined) this.enterSession(session);
    this.droppedBefore += this.droppedLink;
    this.droppedLink = 0;
    this.droppedAccounted = 0;
    if (this.opened++ > 0) this.reconnects++;
    this.input.connectionChanged(this);
  }

  onData(token: DataToken, info: DeliveryInfo): void {
    this.account(info, info.seq - 1);
    if (info.seq) this.lastSeq = info.seq;
    this.tokens++;
    this.input.received(this, token);
  }

  onEndOfStream(info: DeliveryInfo): void {
    this.account(info, info.seq);
    if (info.seq) this.lastSeq = info.seq;
    this.input.enqueue({ kind: "eos", conn: this });
  }

  onDropped(info: DeliveryInfo): void {
    this.droppedLink = info.dropped;
    this.senderQueue = info.queued;
  }

  onClose(error?: string): void {
    this.link = undefined;
    this.generation++;
    if (this.state === "CONNECTED" && error)
      this.input.log.warn("lost output", { output: this.spec.spec, error });
    if (error) this.input.noteError(error);
    // Failed attempts do not restart the clock: "disconnected" is measured from the last good connection.
    if (this.state === "CONNECTED") this.disconnectedSince = performance.now();
    this.state = "DISCONNECTED";
    this.eos = false;
    this.senderQueue = 0;
    this.input.connectionChanged(this);
    this.input.scheduleConnect(this);
    this.input.enqueue({ kind: "check" });
  }

  /** A new output lifetime starts its numbering over. */
  private enterSession(session: string): void {
    if (session !== this.session) this.lastSeq = 0;
    this.session = session;
  }

  /** Counts tokens that never arrived: the sequence gap up to `upTo` less what the output says it dropped. */
  private account(info: DeliveryInfo, upTo: number): void {
    if (info.session !== undefined) this.enterSession(info.session);
    this.droppedLink = info.dropped;
    this.senderQueue = info.queued;
    if (info.seq === 0) return; // an output that does not number its tokens (Karabo's)
    if (this.input.options.dataDistribution === "copy" && this.lastSeq > 0) {
      const missing = upTo - this.lastSeq;
      const dropped = info.dropped - this.droppedAccounted;
      if (missing > dropped) this.lost += missing - dropped;
    }
    this.droppedAccounted = info.dropped;
  }
}

/**
 * Says that one reader is done with every array of `data` (core's recycle), once per buffer: arrays
 * that view the same buffer are one offer, and counting it twice would hand it back to its maker while
 * another reader still reads it.
 */
function recycleArrays(data: Hash): void {
  const seen = new Set<ArrayBufferLike>();
  for (const path of data.paths()) {
    const v = data.get(path);
    const view = isNDArray(v) ? v.data : ArrayBuffer.isView(v) ? v : undefined;
    if (!view || seen.has(view.buffer)) continue;
    seen.add(view.buffer);
    recycle(view);
  }
}

/** Options of an InputChannel beyond Karabo's keys. */
export interface InputChannelExtras {
  /** Where to find outputs; default the process-wide registry. */
  registry?: ChannelRegistry;
  log?: Logger;
}

/** An input channel `deviceId:channelName`. Call `connect()` to start receiving. */
export class InputChannel implements AsyncIterable<DataToken> {
  readonly id: string;
  readonly options: Required<InputChannelOptions>;
  readonly log: Logger;
  private readonly registry: ChannelRegistry;
  private readonly conns: Connection[];
  private readonly buffer: BufferItem[] = [];
  private dataHandler: ((token: DataToken) => void | Promise<void>) | undefined;
  private eosHandler: (() => void | Promise<void>) | undefined;
  private wake: (() => void) | undefined;
  private pumping = false;
  private started = false;
  private closed = false;
  private streamOpen = false;
  private lastArrival = 0;
  private latency = Number.NaN;
  private endOfStreams = 0;
  private handlerErrors = 0;
  private lastError = "";
  private readonly meter = new RateMeter();
  private rates = { rate: 0, throughput: 0 };
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly healthListeners = new Set<(s: InputStats) => void>();
  // Memory of tokens received over TCP, shared by this input's connections, for release().
  private readonly memory: TokenMemory = { pool: new BufferPool(), owner: new WeakMap() };
  // Tokens already released: this input is one reader, counted once however often it says it is done.
  private readonly released = new WeakSet<DataToken>();

  constructor(id: string, options: InputChannelOptions = {}, extras: InputChannelExtras = {}) {
    parseChannelId(id);
    this.id = id;
    this.options = resolveInputOptions(options);
    this.registry = extras.registry ?? channelRegistry;
    this.log = extras.log ?? createLogger(`pipeline/${id}`);
    this.conns = this.options.connectedOutputChannels.map((s) => new Connection(parseOutputSpec(s), this));
  }

  /** Handles each token (the next is handed over once the returned promise settles). */
  onData(handler: (token: DataToken) => void | Promise<void>): this {
    this.dataHandler = handler;
    this.pump();
    return this;
  }

  /** Runs once every connected output has ended its stream. */
  onEndOfStream(handler: () => void | Promise<void>): this {
    this.eosHandler = handler;
    return this;
  }

  /** Starts connecting to every configured output (and keeps reconnecting until closed). */
  connect(): this {
    if (this.started || this.closed) return this;
    this.started = true;
    this.unsubscribe = this.registry.onAppear((channelId) => {
      for (const c of this.conns)
        if (c.spec.channelId === channelId && c.state === "DISCONNECTED") this.attempt(c);
    });
    this.timer = setInterval(() => this.tick(), 100);
    this.timer.unref();
    for (const c of this.conns) this.attempt(c);
    return this;
  }

  /** Tokens of the current stream, ending at the stream's end (or on close); the next loop reads the next stream. */
  [Symbol.asyncIterator](): AsyncIterator<DataToken> {
    if (this.dataHandler)
      throw new PipelineError("BAD_OPTION", `input ${this.id} already has an onData handler`);
    return { next: () => this.next() };
  }

  /** Resolves when every configured output is connected (or rejects after `timeoutMs`). */
  async waitConnected(timeoutMs = 5000): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (this.conns.some((c) => c.state !== "CONNECTED")) {
      if (performance.now() > until) {
        throw new PipelineError(
          "NOT_FOUND",
          `input ${this.id}: not connected to ${this.missing().join(", ")} after ${timeoutMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Hands a token back once this consumer reads none of its arrays any more, whatever transport
   * delivered it: each array a maker in this process offered for reuse (core's offerForRecycling) has
   * one reader fewer (core's recycle), and memory the token was received into over TCP (as its
   * message's only item) receives later tokens. Later tokens are written into that memory, so never
   * release a token while anything, here or downstream, still refers to its arrays: a consumer that
   * passes an array on by reference keeps its token. A second release of the same token does nothing.
   */
  release(token: DataToken): void {
    if (this.released.has(token)) return;
    this.released.add(token);
    recycleArrays(token.data);
    const memory = this.memory.owner.get(token);
    if (memory === undefined) return;
    this.memory.owner.delete(token);
    this.memory.pool.give(memory);
  }

  /** Current health and counters. */
  stats(): InputStats {
    const now = performance.now();
    const missing = this.missing();
    const lostLong = this.conns.some(
      (c) => c.state !== "CONNECTED" && now - c.disconnectedSince > this.options.stallTimeoutMs,
    );
    const stalled = this.streamOpen && now - this.lastArrival > this.options.stallTimeoutMs;
    const health = this.closed
      ? "closed"
      : lostLong
        ? "disconnected"
        : stalled
          ? "stalled"
          : this.streamOpen
            ? "receiving"
            : "idle";
    const connections = this.conns.map((c) => ({
      output: c.spec.spec,
      state: c.state,
      memoryLocation: c.memoryLocation,
      remoteAddress: c.remoteAddress,
      tokens: c.tokens,
      dropped: c.dropped,
      lost: c.lost,
      reconnects: c.reconnects,
      senderQueue: c.senderQueue,
    }));
    const sum = (f: (c: InputConnectionStats) => number) => connections.reduce((n, c) => n + f(c), 0);
    return {
      channelId: this.id,
      health,
      alarm: health === "stalled" || health === "disconnected" ? "alarm" : "none",
      tokens: this.meter.count,
      bytes: this.meter.bytes,
      rate: this.rates.rate,
      throughput: this.rates.throughput,
      latencyMs: this.latency,
      queueDepth: this.buffer.filter((i) => i.kind === "data").length,
      senderQueue: sum((c) => c.senderQueue),
      dropped: sum((c) => c.dropped),
      lost: sum((c) => c.lost),
      reconnects: sum((c) => c.reconnects),
      endOfStreams: this.endOfStreams,
      reusedMemory: this.memory.pool.reused,
      handlerErrors: this.handlerErrors,
      lastError: this.lastError,
      missingConnections: missing,
      connections,
    };
  }

  /** Calls `fn` with fresh stats about ten times a second; returns an unsubscribe function. */
  onHealth(fn: (s: InputStats) => void): () => void {
    this.healthListeners.add(fn);
    return () => this.healthListeners.delete(fn);
  }

  /** Disconnects from every output and ends iteration. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    for (const c of this.conns) {
      clearTimeout(c.retry);
      const link = c.link;
      c.link = undefined;
      c.state = "DISCONNECTED";
      link?.close();
    }
    this.wake?.();
  }

  // ---- called by connections

  /** @internal */ received(conn: Connection, token: DataToken): void {
    const now = performance.now();
    this.lastArrival = now;
    this.streamOpen = true;
    const lat = Date.now() - timestampToMs(token.meta.timestamp);
    this.latency = Number.isNaN(this.latency) ? lat : this.latency * 0.8 + lat * 0.2;
    this.meter.add(payloadBytes(token.data));
    this.enqueue({ kind: "data", token, conn, generation: conn.generation });
  }

  /** @internal */ enqueue(item: BufferItem): void {
    if (this.closed) return;
    this.buffer.push(item);
    if (this.wake) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
    // Not on the sender's stack: a handler must never run inside the output's write().
    if (this.dataHandler && !this.pumping) queueMicrotask(() => this.pump());
  }

  /** @internal */ noteError(message: string): void {
    this.lastError = message;
  }

  /** @internal */ connectionChanged(_conn: Connection): void {
    this.emitHealth();
  }

  /** @internal */ scheduleConnect(conn: Connection): void {
    if (this.closed || conn.retry) return;
    conn.retry = setTimeout(() => {
      conn.retry = undefined;
      this.attempt(conn);
    }, this.options.reconnectIntervalMs);
    conn.retry.unref();
  }

  // ---- internals

  private missing(): string[] {
    return this.conns.filter((c) => c.state !== "CONNECTED").map((c) => c.spec.spec);
  }

  private hello(): InputHello {
    return {
      inputId: this.id,
      dataDistribution: this.options.dataDistribution,
      onSlowness: this.options.onSlowness,
      maxQueueLength: this.options.maxQueueLength,
      credits: this.options.prefetch,
    };
  }

  /** One connection attempt: in-process when the output lives here, else TCP to its known address. */
  private attempt(conn: Connection): void {
    if (this.closed || conn.state !== "DISCONNECTED") return;
    clearTimeout(conn.retry);
    conn.retry = undefined;
    const id = conn.spec.channelId;
    const local = id && shortcutEnabled() ? this.registry.local(id) : undefined;
    if (local) {
      conn.state = "CONNECTING";
      try {
        conn.link = attachLocal(local, this.hello(), conn);
      } catch (e) {
        conn.onClose((e as Error).message);
      }
      return;
    }
    conn.state = "CONNECTING";
    const known = conn.spec.address;
    const resolving = known
      ? Promise.resolve(known)
      : this.registry.resolve(id!).then((a) => (a ? parseTcpAddress(a) : undefined));
    resolving.then(
      (address) => {
        if (this.closed || conn.state !== "CONNECTING") return;
        if (!address) {
          conn.onClose(`output ${id} not found (not in this process and no address known)`);
          return;
        }
        conn.link = connectTcp(
          { host: address.host, port: address.port, outputId: id, log: this.log, memory: this.memory },
          this.hello(),
          conn,
        );
      },
      (e: Error) => conn.onClose(e.message),
    );
  }

  private grantFor(item: BufferItem): void {
    if (item.kind !== "data") return;
    const grant = () => {
      if (item.conn.generation === item.generation) item.conn.link?.grant(1);
    };
    if (this.options.delayOnInput > 0) setTimeout(grant, this.options.delayOnInput).unref();
    else grant();
  }

  /** Marks an output's end of stream; true when that completes the stream of the whole input. */
  private endOfStreamFrom(conn: Connection | undefined): boolean {
    if (conn) conn.eos = true;
    const connected = this.conns.filter((c) => c.state === "CONNECTED");
    if (!connected.some((c) => c.eos) || !connected.every((c) => c.eos)) return false;
    for (const c of this.conns) c.eos = false;
    this.streamOpen = false;
    this.endOfStreams++;
    return true;
  }

  private async runEosHandler(): Promise<void> {
    if (!this.eosHandler || !this.options.respondToEndOfStream) return;
    try {
      await this.eosHandler();
    } catch (e) {
      this.handlerErrors++;
      this.lastError = `end-of-stream handler: ${(e as Error).message}`;
      this.log.error("end-of-stream handler failed", { error: (e as Error).message });
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping || !this.dataHandler) return;
    this.pumping = true;
    try {
      while (this.buffer.length && !this.closed) {
        const item = this.buffer.shift()!;
        if (item.kind === "data") {
          item.conn.eos = false;
          this.grantFor(item);
          try {
            await this.dataHandler(item.token);
          } catch (e) {
            this.handlerErrors++;
            this.lastError = `data handler: ${(e as Error).message}`;
            this.log.error("data handler failed", { error: (e as Error).message });
          }
        } else if (this.endOfStreamFrom(item.kind === "eos" ? item.conn : undefined)) {
          await this.runEosHandler();
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private async next(): Promise<IteratorResult<DataToken>> {
    for (;;) {
      if (this.closed) return { done: true, value: undefined };
      const item = this.buffer.shift();
      if (!item) {
        await new Promise<void>((r) => {
          this.wake = r;
        });
        continue;
      }
      if (item.kind === "data") {
        item.conn.eos = false;
        this.grantFor(item);
        return { done: false, value: item.token };
      }
      if (this.endOfStreamFrom(item.kind === "eos" ? item.conn : undefined)) {
        await this.runEosHandler();
        return { done: true, value: undefined };
      }
    }
  }

  private tick(): void {
    this.rates = this.meter.sample();
    this.emitHealth();
  }

  private emitHealth(): void {
    if (!this.healthListeners.size) return;
    const s = this.stats();
    for (const fn of this.healthListeners) fn(s);
  }
}
