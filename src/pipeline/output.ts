// The sending end of a pipeline. Inputs attach to it (in-process or over TCP, through a PeerLink) and
// grant credits; the output sends a token to an input only while that input has credit, and otherwise
// applies the input's slowness policy (drop / queueDrop / wait). Shared inputs form one pool per output.

import { randomBytes } from "node:crypto";
import {
  createLogger,
  Hash,
  type Logger,
  offerForRecycling,
  type Timestamp,
  timestampNow,
} from "../core/index.ts";
import { checkDataSchema, type DataSchema, payloadBytes } from "./data-schema.ts";
import type { OutputEndpoint, PeerHandle, PeerHello, PeerLink } from "./link.ts";
import { type ChannelRegistry, channelRegistry } from "./registry.ts";
import { type AlarmLevel, RateMeter } from "./stats.ts";
import { listenTcp } from "./tcp.ts";
export type { DeliveryInfo, PeerHandle, PeerHello, PeerLink } from "./link.ts";
import {
  type DataDistribution,
  type DataToken,
  type ListenOptions,
  type OutputChannelOptions,
  PipelineError,
  parseChannelId,
  type SlownessPolicy,
} from "./types.ts";

/** One row of the output's connection table. */
export interface PeerStats {
  inputId: string;
  dataDistribution: DataDistribution;
  onSlowness: SlownessPolicy;
  memoryLocation: "local" | "remote";
  remoteAddress: string;
  credits: number;
  queued: number;
  sent: number;
  dropped: number;
  bytesWritten: number;
}

/** Health and counters of an output channel, published as device properties. */
export interface OutputStats {
  channelId: string;
  address: string;
  tokensWritten: number;
  bytesWritten: number;
  /** Tokens written per second over the last second. */
  rate: number;
  /** Payload bytes written per second over the last second. */
  throughput: number;
  connections: number;
  /** Tokens queued on this output for all its inputs. */
  queueDepth: number;
  /** Tokens dropped for any input, including inputs since gone. */
  dropped: number;
  /** A write has waited on back-pressure for longer than the stall timeout. */
  blocked: boolean;
  alarm: AlarmLevel;
  lastError: string;
  peers: PeerStats[];
}

interface Item {
  readonly token: DataToken;
  readonly seq: number;
  readonly bytes: number;
}

class Peer {
  credits: number;
  readonly queue: Item[] = [];
  sent = 0;
  dropped = 0;
  reportedDropped = 0;
  bytes = 0;
  eosPending = false;
  /** When this input last got a shared token (for load balancing ties). */
  lastServed = 0;
  constructor(
    readonly hello: PeerHello,
    readonly link: PeerLink,
  ) {
    this.credits = hello.credits;
  }
}

const POLICY_RANK: Record<SlownessPolicy, number> = { drop: 0, queueDrop: 1, wait: 2 };

/** Metadata a writer may give; the rest is filled in (source = channel id, timestamp = now). */
export interface WriteMeta {
  source?: string;
  timestamp?: Timestamp;
  /** Shortcut for a timestamp of now with this train ID. */
  trainId?: number;
}

/** An output channel `deviceId:channelName` that sends data tokens to every attached input. */
export class OutputChannel implements OutputEndpoint {
  readonly id: string;
  readonly session = randomBytes(8).toString("hex");
  /** TCP address inputs in other processes connect to, once listening (`tcp://host:port`). */
  address = "";
  private readonly peers = new Map<string, Peer>();
  private readonly pool: Item[] = [];
  private rr = 0;
  private seq = 0;
  private validatedThisStream = false;
  private closed = false;
  private waiters: { ready: () => boolean; resolve: () => void; reject: (e: Error) => void }[] = [];
  private blockedSince = 0;
  private departedDropped = 0;
  private lastError = "";
  private readonly meter = new RateMeter();
  private rates = { rate: 0, throughput: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly healthListeners = new Set<(s: OutputStats) => void>();
  private readonly closeListeners = new Set<() => void | Promise<void>>();
  private readonly opts: Required<Omit<OutputChannelOptions, "noInputShared">> & {
    noInputShared?: SlownessPolicy;
  };
  readonly log: Logger;

  private readonly registry: ChannelRegistry | null;
  private readonly now: () => Timestamp;

  /**
   * An output `deviceId:channelName` sending data of `schema` (unchecked without one). It registers in
   * `registry` (default: the process-wide one; null: nowhere) so inputs of this process find it.
   */
  constructor(
    id: string,
    readonly schema?: DataSchema,
    options: OutputChannelOptions & {
      log?: Logger;
      registry?: ChannelRegistry | null;
      /** Timestamp for writes that give none (devices pass their current train). */
      now?: () => Timestamp;
    } = {},
  ) {
    parseChannelId(id);
    this.id = id;
    this.log = options.log ?? createLogger(`pipeline/${id}`);
    this.registry = options.registry === undefined ? channelRegistry : options.registry;
    this.now = options.now ?? (() => timestampNow());
    this.registry?.register(this);
    this.opts = {
      noInputShared: options.noInputShared,
      sharedSelection: options.sharedSelection ?? "loadBalanced",
      validateSchema: options.validateSchema ?? "always",
      stallTimeoutMs: options.stallTimeoutMs ?? 1000,
    };
    this.timer = setInterval(() => this.tick(), 100);
    this.timer.unref();
  }

  /**
   * Sends one token. Resolves at once unless an input with the `wait` policy (or a waiting shared pool)
   * cannot take it yet; then it resolves once handed over. Do not modify the arrays of a written token:
   * in-process inputs receive the same buffers. Rejects with SCHEMA_MISMATCH for data that does not match
   * the declared data schema.
   */
  write(data: Hash | Record<string, unknown>, meta: WriteMeta = {}): Promise<void> {
    if (this.closed) return Promise.reject(new PipelineError("CLOSED", `output ${this.id} is closed`));
    const hash = data instanceof Hash ? data : new Hash(data);
    if (this.schema && (this.opts.validateSchema === "always" || !this.validatedThisStream)) {
      if (this.opts.validateSchema !== "never") {
        try {
          checkDataSchema(this.id, this.schema, hash);
        } catch (e) {
          this.lastError = (e as Error).message;
          return Promise.reject(e);
        }
        this.validatedThisStream = true;
      }
    }
    const token: DataToken = {
      data: hash,
      meta: {
        source: meta.source ?? this.id,
        timestamp: meta.timestamp ?? (meta.trainId !== undefined ? timestampNow(meta.trainId) : this.now()),
      },
    };
    const bytes = payloadBytes(hash);
    const item: Item = { token, seq: ++this.seq, bytes };
    this.meter.add(bytes);
    const shared: Peer[] = [];
    for (const peer of this.peers.values()) {
      if (peer.hello.dataDistribution === "shared") shared.push(peer);
      else this.offer(peer, item, peer.hello.onSlowness);
    }
    if (shared.length) this.offerShared(shared, item);
    if (!this.isBlocked()) return Promise.resolve();
    if (!this.blockedSince) this.blockedSince = performance.now();
    return new Promise((resolve, reject) =>
      this.waiters.push({ ready: () => !this.isBlocked(), resolve, reject }),
    );
  }

  /** Ends the stream: every input gets end-of-stream after the tokens queued for it. Resolves once sent. */
  endOfStream(): Promise<void> {
    this.validatedThisStream = false;
    for (const peer of this.peers.values()) {
      peer.eosPending = true;
      this.flush(peer);
    }
    if (!this.eosOutstanding()) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.waiters.push({ ready: () => !this.eosOutstanding(), resolve, reject }),
    );
  }

  /** Accepts inputs of other processes over TCP; resolves to the address they connect to (`tcp://host:port`). */
  async listen(options: ListenOptions = {}): Promise<string> {
    if (this.address) return this.address;
    this.address = await listenTcp(this, options);
    this.registry?.publishAddress(this.id, this.address);
    this.log.debug("listening", { address: this.address });
    return this.address;
  }

  /** Attaches an input through a transport link (used by the in-process and TCP transports). */
  attach(hello: PeerHello, link: PeerLink): PeerHandle {
    if (this.closed) throw new PipelineError("CLOSED", `output ${this.id} is closed`);
    const old = this.peers.get(hello.inputId);
    if (old) {
      this.log.info("input re-attached; closing its stale connection", { input: hello.inputId });
      this.remove(old);
      old.link.close("replaced by a new connection of the same input");
    }
    const peer = new Peer(hello, link);
    this.peers.set(hello.inputId, peer);
    this.log.debug("input attached", { input: hello.inputId, via: link.memoryLocation, ...hello });
    this.flush(peer);
    return {
      session: this.session,
      grant: (n) => {
        if (this.peers.get(hello.inputId) !== peer) return;
        peer.credits += n;
        this.flush(peer);
        if (peer.hello.dataDistribution === "shared") this.flushShared();
        this.settle();
      },
      detach: () => {
        if (this.peers.get(hello.inputId) === peer) this.remove(peer);
      },
    };
  }

  /**
   * Offers `view` for reuse (core's offerForRecycling) when every input of this output is in this
   * process: they are then its only readers, and once each has said it is done, `giveBack` hands it to
   * its maker. With no input, or one over TCP (which gets a copy and says nothing), nothing is offered.
   */
  offerToLocalReaders(view: ArrayBufferView, giveBack: () => void): void {
    let readers = 0;
    for (const peer of this.peers.values()) {
      if (peer.link.memoryLocation !== "local") return;
      readers++;
    }
    offerForRecycling(view, readers, giveBack);
  }

  /** Current health and counters. */
  stats(): OutputStats {
    const peers: PeerStats[] = [...this.peers.values()].map((p) => ({
      inputId: p.hello.inputId,
      dataDistribution: p.hello.dataDistribution,
      onSlowness: p.hello.onSlowness,
      memoryLocation: p.link.memoryLocation,
      remoteAddress: p.link.remoteAddress,
      credits: p.credits,
      queued: p.queue.length,
      sent: p.sent,
      dropped: p.dropped,
      bytesWritten: p.bytes,
    }));
    const blocked = this.blockedSince > 0 && performance.now() - this.blockedSince > this.opts.stallTimeoutMs;
    return {
      channelId: this.id,
      address: this.address,
      tokensWritten: this.meter.count,
      bytesWritten: this.meter.bytes,
      rate: this.rates.rate,
      throughput: this.rates.throughput,
      connections: peers.length,
      queueDepth: this.pool.length + peers.reduce((n, p) => n + p.queued, 0),
      dropped: this.departedDropped + peers.reduce((n, p) => n + p.dropped, 0),
      blocked,
      alarm: blocked ? "alarm" : "none",
      lastError: this.lastError,
      peers,
    };
  }

  /** Calls `fn` with fresh stats about ten times a second; returns an unsubscribe function. */
  onHealth(fn: (s: OutputStats) => void): () => void {
    this.healthListeners.add(fn);
    return () => this.healthListeners.delete(fn);
  }

  /** Registers cleanup that runs on close (transports use it to stop listening). */
  onClose(fn: () => void | Promise<void>): void {
    this.closeListeners.add(fn);
  }

  /** Records an error for the `lastError` figure (transports report protocol errors here). */
  noteError(message: string): void {
    this.lastError = message;
  }

  /** Detaches every input, rejects pending writes and stops the transports. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const peer of [...this.peers.values()]) {
      this.remove(peer);
      peer.link.close(`output ${this.id} closed`);
    }
    const err = new PipelineError("CLOSED", `output ${this.id} closed`);
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.registry?.unregister(this);
    for (const fn of this.closeListeners) await fn();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private offer(peer: Peer, item: Item, policy: SlownessPolicy): void {
    if (peer.credits > 0 && peer.queue.length === 0) {
      this.send(peer, item);
      return;
    }
    if (policy === "drop") {
      peer.dropped++;
    } else {
      peer.queue.push(item);
      if (policy === "queueDrop" && peer.queue.length > peer.hello.maxQueueLength) {
        peer.queue.shift();
        peer.dropped++;
      }
    }
  }

  private poolPolicy(members: Peer[]): SlownessPolicy {
    if (this.opts.noInputShared) return this.opts.noInputShared;
    let policy: SlownessPolicy = "drop";
    for (const p of members)
      if (POLICY_RANK[p.hello.onSlowness] > POLICY_RANK[policy]) policy = p.hello.onSlowness;
    return policy;
  }

  private offerShared(members: Peer[], item: Item): void {
    const policy = this.poolPolicy(members);
    const sel = this.opts.sharedSelection;
    if (sel === "loadBalanced") {
      let best: Peer | undefined;
      for (const p of members) {
        // The least loaded ready input: most free credits, ties to the one served longest ago.
        if (p.credits <= 0 || p.queue.length) continue;
        if (
          !best ||
          p.credits > best.credits ||
          (p.credits === best.credits && p.lastServed < best.lastServed)
        ) {
          best = p;
        }
      }
      if (best && this.pool.length === 0) {
        this.send(best, item);
        return;
      }
      const blame = members[this.rr++ % members.length];
      if (policy === "drop") {
        blame.dropped++;
      } else {
        this.pool.push(item);
        const max = Math.max(...members.map((p) => p.hello.maxQueueLength));
        if (policy === "queueDrop" && this.pool.length > max) {
          this.pool.shift();
          blame.dropped++;
        }
      }
      return;
    }
    const ids = members.map((p) => p.hello.inputId);
    const chosen = typeof sel === "function" ? sel(item.token, ids) : ids[this.rr++ % ids.length];
    const target = chosen === undefined ? undefined : this.peers.get(chosen);
    if (target?.hello.dataDistribution !== "shared") {
      this.departedDropped++;
      return;
    }
    this.offer(target, item, policy);
  }

  private send(peer: Peer, item: Item): void {
    peer.credits--;
    peer.sent++;
    peer.lastServed = item.seq;
    peer.bytes += item.bytes;
    peer.reportedDropped = peer.dropped;
    try {
      peer.link.deliver(item.token, { seq: item.seq, dropped: peer.dropped, queued: peer.queue.length });
    } catch (e) {
      this.lastError = `sending to ${peer.hello.inputId} failed: ${(e as Error).message}`;
      this.log.warn("send failed; detaching input", {
        input: peer.hello.inputId,
        error: (e as Error).message,
      });
      this.remove(peer);
      peer.link.close(this.lastError);
    }
  }

  /** Sends what is queued for `peer` while it has credit, then a pending end-of-stream. */
  private flush(peer: Peer): void {
    const fromPool = peer.hello.dataDistribution === "shared" && this.opts.sharedSelection === "loadBalanced";
    while (peer.credits > 0 && this.peers.get(peer.hello.inputId) === peer) {
      const item = peer.queue.shift() ?? (fromPool ? this.pool.shift() : undefined);
      if (!item) break;
      this.send(peer, item);
    }
    if (
      peer.eosPending &&
      peer.queue.length === 0 &&
      !(fromPool && this.pool.length) &&
      (!peer.link.endOfStreamTakesCredit || peer.credits > 0) &&
      this.peers.get(peer.hello.inputId) === peer
    ) {
      peer.eosPending = false;
      if (peer.link.endOfStreamTakesCredit) peer.credits--;
      peer.reportedDropped = peer.dropped;
      peer.link.deliverEndOfStream({ seq: this.seq, dropped: peer.dropped, queued: 0 });
    }
  }

  /** After the pool drained, shared inputs may owe an end-of-stream or have credit for pooled tokens. */
  private flushShared(): void {
    for (const p of this.peers.values()) if (p.hello.dataDistribution === "shared") this.flush(p);
  }

  private remove(peer: Peer): void {
    this.peers.delete(peer.hello.inputId);
    // Tokens queued only for this input cannot be delivered any more: count them as dropped for it.
    this.departedDropped += peer.dropped + peer.queue.length;
    peer.queue.length = 0;
    this.log.debug("input detached", { input: peer.hello.inputId });
    if (peer.hello.dataDistribution === "shared") {
      const members = [...this.peers.values()].filter((p) => p.hello.dataDistribution === "shared");
      if (members.length === 0) {
        this.departedDropped += this.pool.length;
        this.pool.length = 0;
      } else this.flushShared();
    }
    this.settle();
  }

  private isBlocked(): boolean {
    const members = [...this.peers.values()].filter((p) => p.hello.dataDistribution === "shared");
    const sharedWaits = members.length > 0 && this.poolPolicy(members) === "wait";
    if (sharedWaits && this.pool.length) return true;
    for (const p of this.peers.values()) {
      if (p.queue.length === 0) continue;
      if (p.hello.dataDistribution === "shared" ? sharedWaits : p.hello.onSlowness === "wait") return true;
    }
    return false;
  }

  private eosOutstanding(): boolean {
    for (const p of this.peers.values()) if (p.eosPending) return true;
    return false;
  }

  private settle(): void {
    if (!this.isBlocked()) this.blockedSince = 0;
    if (!this.waiters.length) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.ready()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private tick(): void {
    this.rates = this.meter.sample();
    for (const p of this.peers.values()) {
      if (p.dropped !== p.reportedDropped) {
        p.reportedDropped = p.dropped;
        p.link.reportDropped({ seq: this.seq, dropped: p.dropped, queued: p.queue.length });
      }
    }
    if (this.healthListeners.size) {
      const s = this.stats();
      for (const fn of this.healthListeners) fn(s);
    }
  }
}
