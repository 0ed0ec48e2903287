// The Karabo bridge server: trains go into a bounded queue (from `feed`, or `serve` over any async
// iterator such as a pipeline input or a run's trains) and out of one ZeroMQ socket. REP answers each
// "next" request with one train; PUB sends every train to every subscriber; PUSH hands each train
// to one puller. Arrays leave as views of their memory (sent without a copy). REP over tcp:// speaks
// ZMTP itself (zmtp-router.ts): a train goes out as one writev instead of one libzmq message per frame.
import * as zmq from "zeromq";
import { createLogger, type Logger, SaseError, timestampNow, showValue } from "../core/index.ts";
import { type Frames, type OutFrame, encodeTrain, encodeTrainStreaming } from "./protocol.ts";
import { BoundedQueue, type DropPolicy, QueueClosedError } from "./queue.ts";
import { type ZmtpPeer, ZmtpRouter, tcpBindEndpoint } from "./zmtp-router.ts";
import {
  type OutgoingTrain,
  type ProtocolVersion,
  type ServerSocketType,
  parseProtocolVersion,
} from "./types.ts";

/** Options of a bridge server; every field has a default. */
export interface BridgeServerOptions {
  /** ZeroMQ endpoint to bind (default "tcp://127.0.0.1:4545"; port 0 or "*" picks a free port). */
  endpoint?: string;
  /** Socket type (default "REP"). */
  sock?: ServerSocketType;
  /** Protocol version (default "2.2"). */
  protocol?: ProtocolVersion;
  /** Trains held while no client takes them (default 10). */
  queueSize?: number;
  /** What a full queue does with one more train (default "drop-oldest"). */
  dropPolicy?: DropPolicy;
  /** Most trains per second sent (default unlimited). */
  rate?: number;
  /** Fill in timestamps from the clock where a train's metadata has none (OnDA needs them). */
  dummyTimestamps?: boolean;
  /** ZeroMQ messages buffered per peer before the socket pushes back or drops (default 2). */
  highWaterMark?: number;
  /**
   * REP on tcp:// only: "zmtp" (default) speaks ZeroMQ's wire protocol from node:net, each train one
   * gathered write; "zeromq" serves from a zeromq.js ROUTER socket (as PUB, PUSH and ipc:// do).
   */
  transport?: "zmtp" | "zeromq";
  logger?: Logger;
}

/** What a server has done so far. */
export interface BridgeServerStats {
  /** Trains sent to clients. */
  trainsSent: number;
  /** Trains thrown away because the queue was full. */
  trainsDropped: number;
  /** Bytes sent (all frames). */
  bytesSent: number;
  /** Client connections open now. */
  clients: number;
  /** Requests that were not "next" (REP only). */
  badRequests: number;
  /** Trains waiting in the queue. */
  queued: number;
}

interface QueuedTrain {
  /** Arrays still in a file only where the ZMTP router streams them (REP on tcp://, protocol 2.2). */
  frames: OutFrame[];
  bytes: number;
}

/** A Karabo bridge server on one ZeroMQ socket. */
export class BridgeServer {
  readonly sock: ServerSocketType;
  readonly protocol: ProtocolVersion;
  readonly transport: "zmtp" | "zeromq";
  private readonly socket: zmq.Router | zmq.Publisher | zmq.Push | ZmtpRouter;
  // REP is served from a ROUTER socket: every request is read at once (a bad one answered at once,
  // even while others wait for data), waiting clients are served in request order, and a train
  // meant for a client that has gone away goes to the next one instead of being lost.
  private readonly waiting = new BoundedQueue<Buffer | ZmtpPeer>(1_000_000, "drop-newest");
  private readonly queue: BoundedQueue<QueuedTrain>;
  private readonly log: Logger;
  private readonly minIntervalMs: number;
  private readonly dummyTimestamps: boolean;
  private readonly requested: string;
  private boundEndpoint: string | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private lastSend = 0;
  /** Why sending stopped, when it failed (a file that could not be read while streaming it). */
  private failure: Error | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly counters = { trainsSent: 0, bytesSent: 0, clients: 0, badRequests: 0 };

  constructor(options: BridgeServerOptions = {}) {
    this.sock = options.sock ?? "REP";
    this.protocol = parseProtocolVersion(options.protocol ?? "2.2");
    this.requested = options.endpoint ?? "tcp://127.0.0.1:4545";
    this.log = options.logger ?? createLogger("bridge-server");
    this.dummyTimestamps = options.dummyTimestamps ?? false;
    const rate = options.rate ?? 0;
    if (!(rate >= 0))
      throw new SaseError("BAD_OPTION", `rate must be ≥ 0 trains/s, got ${rate}`, { value: showValue(rate) });
    this.minIntervalMs = rate > 0 ? 1000 / rate : 0;
    const hwm = options.highWaterMark ?? 2;
    const common = { linger: 0, sendHighWaterMark: hwm };
    this.transport =
      this.sock === "REP" && options.transport !== "zeromq" && tcpBindEndpoint(this.requested)
        ? "zmtp"
        : "zeromq";
    if (this.transport === "zmtp") {
      this.socket = new ZmtpRouter({
        highWaterMark: hwm,
        onMessage: (peer, frames) => this.onRequest(peer, frames),
        onRefused: (why) => this.log.warn("bridge client refused", { why }),
      });
    } else if (this.sock === "REP") this.socket = new zmq.Router({ ...common, mandatory: true });
    else if (this.sock === "PUB") this.socket = new zmq.Publisher(common);
    else if (this.sock === "PUSH") this.socket = new zmq.Push(common);
    else
      throw new SaseError(
        "BAD_OPTION",
        `unknown server socket type "${String(this.sock)}" (REP, PUB or PUSH)`,
        { value: showValue(this.sock) },
      );
    this.queue = new BoundedQueue<QueuedTrain>(options.queueSize ?? 10, options.dropPolicy ?? "drop-oldest");
  }

  /** Binds the socket and starts sending; resolves with the bound endpoint. */
  async start(): Promise<string> {
    const endpoint = this.requested.replace(/:0$/, ":*");
    let bound = endpoint;
    // A socket closed a moment ago (a restarted server) may still hold the port: retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.socket instanceof ZmtpRouter) bound = await this.socket.bind(endpoint);
        else {
          await this.socket.bind(endpoint);
          bound = this.socket.lastEndpoint ?? endpoint;
          void this.watchConnections(this.socket);
        }
        break;
      } catch (err) {
        const inUse = (err as { code?: string }).code === "EADDRINUSE";
        if (!inUse || attempt >= 10) {
          throw new SaseError(
            "CANNOT_BIND",
            `bridge server cannot bind ${this.requested}: ${(err as Error).message}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.boundEndpoint = bound;
    this.running = this.sendLoop().catch((err: unknown) => {
      if (this.closed) return;
      this.log.error("bridge server stopped", { error: (err as Error).message });
      // serve() and feed() fail with it from now on.
      this.failure = err as Error;
      this.queue.close();
      for (const w of this.idleWaiters) w();
      this.idleWaiters = [];
    });
    this.log.info("bridge server listening", {
      endpoint: bound,
      sock: this.sock,
      protocol: this.protocol,
    });
    return bound;
  }

  /** The endpoint clients connect to (after start). */
  get endpoint(): string {
    if (this.boundEndpoint === undefined) throw new SaseError("WRONG_STATE", "bridge server not started");
    return this.boundEndpoint;
  }

  /** Counters of trains sent, dropped, bytes and connected clients. */
  get stats(): BridgeServerStats {
    const clients = this.socket instanceof ZmtpRouter ? this.socket.connections : this.counters.clients;
    return { ...this.counters, clients, trainsDropped: this.queue.dropped, queued: this.queue.length };
  }

  /**
   * Queues one train; resolves true when queued, false when the drop policy discarded it. Arrays
   * still in a file (a replayed run) are streamed from it when the train is sent, where the ZMTP
   * router sends it (REP on tcp://, protocol 2.2); elsewhere they are read now.
   */
  feed(train: OutgoingTrain): Promise<boolean> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.dummyTimestamps) addDummyTimestamps(train);
    const frames =
      this.transport === "zmtp" && this.protocol === "2.2"
        ? encodeTrainStreaming(train)
        : encodeTrain(train, this.protocol);
    let bytes = 0;
    for (const f of frames) bytes += f.byteLength;
    return this.queue.put({ frames, bytes });
  }

  /**
   * Feeds every train of `trains` (a pipeline input, a run's trains...); resolves when it ends, or
   * when the server is closed. With the "block" policy the next train is pulled only when the queue
   * has room for it, so a replayed run holds the queued trains and the one on the wire, no more.
   */
  async serve(trains: AsyncIterable<OutgoingTrain> | Iterable<OutgoingTrain>): Promise<void> {
    const it =
      Symbol.asyncIterator in trains
        ? (trains as AsyncIterable<OutgoingTrain>)[Symbol.asyncIterator]()
        : (trains as Iterable<OutgoingTrain>)[Symbol.iterator]();
    try {
      for (;;) {
        await this.queue.room();
        if (this.closed) return;
        const next = await it.next();
        if (next.done || this.closed) return;
        await this.feed(next.value);
      }
    } catch (err) {
      if (err instanceof QueueClosedError && this.failure) throw this.failure;
      if (err instanceof QueueClosedError && this.closed) return;
      throw err;
    } finally {
      await it.return?.();
    }
  }

  /** Resolves once every queued train has been sent; rejects when sending failed (see serve). */
  async drain(): Promise<void> {
    if (!this.idle() && !this.failure) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (this.failure) throw this.failure;
  }

  // Nothing queued and nothing taken from the queue that is still on its way.
  private idle(): boolean {
    return this.queue.length === 0 && this.queue.taken === 0;
  }

  /**
   * Stops sending and closes the socket; queued trains are discarded. A train whose send() has
   * completed may still sit in ZeroMQ's buffers: `flushMs` lets them go out for up to that long
   * (use it after `drain()` when the last trains matter, e.g. at the end of a replayed run).
   */
  async close(options: { flushMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.close();
    this.waiting.close();
    if (this.socket instanceof ZmtpRouter) this.socket.close(options.flushMs ?? 0);
    else {
      this.socket.linger = options.flushMs ?? 0;
      this.socket.close();
    }
    await this.running;
    for (const w of this.idleWaiters) w();
    this.idleWaiters = [];
  }

  private async sendLoop(): Promise<void> {
    const router = this.socket instanceof zmq.Router ? this.socket : undefined;
    if (router) {
      this.requestLoop(router).catch((err: unknown) => {
        if (!this.closed)
          this.log.error("bridge server stopped reading requests", { error: (err as Error).message });
      });
    }
    const zmtp = this.socket instanceof ZmtpRouter ? this.socket : undefined;
    while (!this.closed) {
      let client: Buffer | ZmtpPeer | undefined;
      let item: QueuedTrain;
      try {
        if (router || zmtp) client = await this.waiting.take();
        item = await this.queue.take();
      } catch (err) {
        if (err instanceof QueueClosedError) return;
        throw err;
      }
      if (this.minIntervalMs > 0) await this.pace();
      try {
        if (zmtp) {
          if (!(await zmtp.send(client as ZmtpPeer, [EMPTY, ...item.frames]))) {
            this.queue.putBack(item); // that client has gone: the train goes to whoever asks next
            continue;
          }
        } else if (this.socket instanceof zmq.Router)
          await this.socket.send([client as Buffer, EMPTY, ...(item.frames as Frames)]); // all in memory (feed)
        else await (this.socket as zmq.Publisher | zmq.Push).send(item.frames as Frames);
      } catch (err) {
        if (this.closed) return;
        if ((err as { code?: string }).code !== "EHOSTUNREACH") throw err;
        // That client has gone: the train goes to whoever asks next.
        this.queue.putBack(item);
        continue;
      }
      this.sent(item);
    }
  }

  private sent(item: QueuedTrain): void {
    this.queue.done();
    this.counters.trainsSent++;
    this.counters.bytesSent += item.bytes;
    if (this.idle()) {
      for (const w of this.idleWaiters) w();
      this.idleWaiters = [];
    }
  }

  // A "next" over ZMTP answered from the read callback when a train is queued, no client waits
  // before this one and the train can go without waiting: the send loop's awaits, three a train
  // and each run once a train, were a measurable part of the server's CPU (docs/measurements.md).
  private answerNow(zmtp: ZmtpRouter, client: ZmtpPeer): boolean {
    if (this.minIntervalMs > 0 || this.closed || this.waiting.length > 0) return false;
    // Checked before taking: a train taken and put back would wake the producer for nothing.
    const head = this.queue.peek();
    if (head === undefined || !zmtp.canSendNow(client, head.frames)) return false;
    const item = this.queue.takeNow() as QueuedTrain;
    zmtp.sendNowIfRoom(client, [EMPTY, ...item.frames]);
    this.sent(item);
    return true;
  }

  // Requests as a REP socket would see them ([client id, "", "next"]); anything else is answered
  // with an error text at once (karabo-bridge-py's servers answer the same way).
  private async requestLoop(socket: zmq.Router): Promise<void> {
    while (!this.closed) {
      let request: Buffer[];
      try {
        request = await socket.receive();
      } catch (err) {
        if (this.closed) return;
        throw err;
      }
      const [client, ...frames] = request as [Buffer, ...Buffer[]];
      this.onRequest(client, frames);
    }
  }

  // One request ([delimiter, "next"] as a REQ peer sends it) from a client: it waits for a train,
  // or anything else is answered at once with an error text.
  private onRequest(client: Buffer | ZmtpPeer, request: Buffer[]): void {
    if (this.closed) return;
    const [delimiter, ...payload] = request;
    const enveloped = delimiter !== undefined && delimiter.length === 0;
    if (enveloped && payload.length === 1 && (payload[0] as Buffer).equals(NEXT)) {
      const zmtp = this.socket instanceof ZmtpRouter ? this.socket : undefined;
      if (!zmtp || !this.answerNow(zmtp, client as ZmtpPeer)) void this.waiting.put(client);
      return;
    }
    this.counters.badRequests++;
    const shown = enveloped ? payload : request;
    const text = shown.length ? shown.map((f) => printable(f)).join(" | ") : "(empty)";
    this.log.warn("bad bridge request", { request: text });
    const reply = Buffer.from(`Error: bad request ${text} (send "next" to get a train)`);
    const sent =
      this.socket instanceof ZmtpRouter
        ? this.socket.send(client as ZmtpPeer, [EMPTY, reply])
        : (this.socket as zmq.Router).send([client as Buffer, EMPTY, reply]);
    sent.catch(() => {
      // The client may have gone already; nothing to do.
    });
  }

  private async pace(): Promise<void> {
    if (this.minIntervalMs === 0) return;
    const wait = this.lastSend + this.minIntervalMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.lastSend = performance.now();
  }

  private async watchConnections(socket: zmq.Router | zmq.Publisher | zmq.Push): Promise<void> {
    try {
      for await (const event of socket.events) {
        if (event.type === "accept") this.counters.clients++;
        else if (event.type === "disconnect") this.counters.clients = Math.max(0, this.counters.clients - 1);
        else if (event.type === "end") return;
      }
    } catch {
      // The observer ends with the socket.
    }
  }
}

const NEXT = Buffer.from("next");
const EMPTY = Buffer.alloc(0);

function printable(frame: Buffer): string {
  const text = frame.subarray(0, 64).toString("latin1");
  const clean = /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `<${frame.length} bytes>`;
  return frame.length > 64 ? `${clean}…` : clean;
}

function addDummyTimestamps(train: OutgoingTrain): void {
  const ts = timestampNow();
  for (const [source, meta] of Object.entries(train.metadata)) {
    if (meta.timestamp !== undefined) continue;
    const frac = ts.frac.toString().padStart(18, "0");
    train.metadata[source] = {
      ...meta,
      timestamp: Number(`${ts.sec}.${frac}`),
      "timestamp.sec": String(ts.sec),
      "timestamp.frac": frac,
    };
  }
}
