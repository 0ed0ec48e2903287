// The Karabo bridge client: `for await (const { data, metadata } of client)`. Works with any
// karabo-bridge server (REQ against REP, SUB against PUB, PULL against PUSH), either protocol
// version. Arrays are typed-array views into the received frames, not copies.
import * as zmq from "zeromq";
import { decodeTrain } from "./protocol.ts";
import { ZmtpDealer, ZmtpError, tcpEndpoint } from "./zmtp.ts";
import { type BridgeTrain, BridgeProtocolError, BridgeTimeoutError, type ClientSocketType } from "./types.ts";
import { SaseError, showValue } from "../core/index.ts";

/** Options of a bridge client; every field has a default. */
export interface BridgeClientOptions {
  /** Socket type matching the server's REP, PUB or PUSH (default "REQ"). */
  sock?: ClientSocketType;
  /** Milliseconds to wait for a train before `next()` fails with BridgeTimeoutError (default: forever). */
  timeoutMs?: number;
  /** Messages buffered by ZeroMQ before the sender is held back (default 2; trains can be GBs). */
  highWaterMark?: number;
  /**
   * REQ only: "next" requests in flight while waiting (default 2). With more than one, the server
   * sends the next train while this one is decoded and used (requestsInFlight - 1 trains asked for
   * ahead); 1 behaves exactly like karabo-bridge-py's client.
   */
  requestsInFlight?: number;
  /**
   * REQ over tcp:// only: "zmtp" (default) speaks ZeroMQ's wire protocol from node:net and reads
   * large frames straight into their arrays; "zeromq" uses the zeromq.js binding (as SUB and PULL do).
   */
  transport?: "zmtp" | "zeromq";
}

/** Frames of one message as received, before decoding (for tools that measure sizes). */
export interface RawMessage {
  frames: Buffer[];
  bytes: number;
}

// "REQ" is spoken over a DEALER socket: the server's REP sees the same envelope and "next" as from
// a REQ socket, but the client may keep several requests in flight and never gets stuck in REQ's
// send/receive lockstep when a reply does not come.
type ClientSocket = zmq.Dealer | zmq.Subscriber | zmq.Pull | ZmtpDealer;

const EMPTY = Buffer.alloc(0);
const REQUEST = [EMPTY, Buffer.from("next")];

/** A Karabo bridge client connected to one server endpoint. */
export class BridgeClient implements AsyncIterable<BridgeTrain> {
  readonly sock: ClientSocketType;
  readonly timeoutMs: number | undefined;
  readonly transport: "zmtp" | "zeromq";
  private readonly hwm: number;
  private readonly depth: number;
  private socket: ClientSocket;
  private outstanding = 0;
  // The memory of each train's arrays as received (ZMTP only), for release().
  private readonly arrayMemory = new WeakMap<BridgeTrain, ArrayBufferLike[]>();
  private busy = false;
  private closed = false;
  /** Trains received, timeouts seen, and sockets re-created after a timeout. */
  readonly stats = { trains: 0, bytes: 0, timeouts: 0, reconnects: 0 };

  constructor(
    readonly endpoint: string,
    options: BridgeClientOptions = {},
  ) {
    this.sock = options.sock ?? "REQ";
    if (!["REQ", "SUB", "PULL"].includes(this.sock)) {
      throw new SaseError("BAD_OPTION", `unknown client socket type "${this.sock}" (REQ, SUB or PULL)`, {
        value: showValue(this.sock),
      });
    }
    this.timeoutMs = options.timeoutMs;
    if (this.timeoutMs !== undefined && !(this.timeoutMs > 0)) {
      throw new SaseError("BAD_OPTION", `timeout must be > 0 ms, got ${this.timeoutMs}`, {
        value: showValue(this.timeoutMs),
      });
    }
    this.hwm = options.highWaterMark ?? 2;
    this.depth = options.requestsInFlight ?? 2;
    if (!Number.isInteger(this.depth) || this.depth < 1) {
      throw new SaseError("BAD_OPTION", `requestsInFlight must be an integer ≥ 1, got ${this.depth}`, {
        value: showValue(this.depth),
      });
    }
    this.transport =
      this.sock === "REQ" && options.transport !== "zeromq" && tcpEndpoint(endpoint) ? "zmtp" : "zeromq";
    this.socket = this.open();
  }

  private open(): ClientSocket {
    if (this.transport === "zmtp") {
      const socket = new ZmtpDealer(this.endpoint, {
        highWaterMark: Math.max(this.hwm, this.depth),
        // Requests in flight went with the connection: ask again once it is back.
        onDisconnect: () => {
          if (this.socket !== socket) return;
          this.outstanding = 0;
          if (this.busy) this.request(socket);
        },
      });
      return socket;
    }
    const opts = { linger: 0, receiveHighWaterMark: this.hwm, receiveTimeout: this.timeoutMs ?? -1 };
    let socket: ClientSocket;
    if (this.sock === "REQ")
      socket = new zmq.Dealer({ ...opts, sendHighWaterMark: Math.max(this.hwm, this.depth) });
    else if (this.sock === "PULL") socket = new zmq.Pull(opts);
    else {
      const sub = new zmq.Subscriber(opts);
      sub.subscribe();
      socket = sub;
    }
    try {
      socket.connect(this.endpoint);
    } catch (err) {
      socket.close();
      throw new SaseError(
        "CANNOT_CONNECT",
        `bridge client cannot connect to ${this.endpoint}: ${(err as Error).message}`,
      );
    }
    return socket;
  }

  /** Closes the socket and opens a fresh one, forgetting requests that may have been lost. */
  reconnect(): void {
    this.socket.close();
    this.outstanding = 0;
    this.socket = this.open();
    this.stats.reconnects++;
  }

  // Tops up the "next" requests in flight (not awaited: they leave while the caller works).
  private request(socket: zmq.Dealer | ZmtpDealer): void {
    while (this.outstanding < this.depth) {
      this.outstanding++;
      if (socket instanceof ZmtpDealer) {
        socket.send(REQUEST);
        continue;
      }
      socket.send(REQUEST).catch(() => {
        this.outstanding = Math.max(0, this.outstanding - 1);
      });
    }
  }

  /** Receives the next message's frames without decoding them. */
  async nextRaw(): Promise<RawMessage> {
    if (this.closed) throw new SaseError("CLOSED", "bridge client is closed");
    if (this.busy)
      throw new SaseError("BUSY", "bridge client: next() called again before the previous call finished");
    this.busy = true;
    try {
      const socket = this.socket;
      const dealer = socket instanceof zmq.Dealer || socket instanceof ZmtpDealer;
      if (dealer) this.request(socket);
      let frames: Buffer[];
      try {
        frames = await (socket instanceof ZmtpDealer ? socket.receive(this.timeoutMs) : socket.receive());
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "EAGAIN" || (err instanceof ZmtpError && code === "TIMEOUT")) {
          this.stats.timeouts++;
          // Requests sent to a server that went away are lost with its connection: start over.
          if (this.sock === "REQ") this.reconnect();
          throw new BridgeTimeoutError(`no train from ${this.endpoint} within ${this.timeoutMs} ms`);
        }
        if (this.closed) throw new SaseError("CLOSED", "bridge client is closed");
        throw err;
      }
      if (dealer) {
        // A REP reply starts with the empty delimiter of the request's envelope.
        if (frames.length === 0 || (frames[0] as Buffer).length !== 0) {
          throw new BridgeProtocolError(
            "reply without the REP envelope delimiter: is the server a REP socket?",
          );
        }
        frames = frames.slice(1);
        // The next call tops the requests up again: with requestsInFlight 1 nothing is asked for
        // before the caller wants it, exactly as karabo-bridge-py's client behaves.
        this.outstanding--;
      }
      let bytes = 0;
      for (const f of frames) bytes += f.byteLength;
      this.stats.trains++;
      this.stats.bytes += bytes;
      checkServerError(frames);
      return { frames, bytes };
    } finally {
      this.busy = false;
    }
  }

  /** Receives and decodes the next train. */
  async next(): Promise<BridgeTrain> {
    const { frames } = await this.nextRaw();
    if (!(this.socket instanceof ZmtpDealer)) return decodeTrain(frames);
    const arrays: Uint8Array[] = [];
    const train = decodeTrain(frames, arrays);
    if (arrays.length > 0)
      this.arrayMemory.set(
        train,
        arrays.map((a) => a.buffer),
      );
    return train;
  }

  /**
   * Hands a train's array memory back for reuse by later trains (REQ over the ZMTP transport; a
   * no-op otherwise). Call it only when nothing reads the train's arrays any more: later trains
   * are written into them. Train-by-train consumers save page faults and garbage collection.
   */
  release(train: BridgeTrain): void {
    const socket = this.socket;
    const memory = this.arrayMemory.get(train);
    if (!(socket instanceof ZmtpDealer) || memory === undefined) return;
    this.arrayMemory.delete(train);
    for (const buffer of memory) socket.recycle(buffer);
  }

  /** Closes the connection; a pending `next()` fails and iteration ends. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  /** Trains until the client is closed; errors (timeouts, bad messages) end the loop by throwing. */
  async *[Symbol.asyncIterator](): AsyncIterator<BridgeTrain> {
    while (!this.closed) {
      let train: BridgeTrain;
      try {
        train = await this.next();
      } catch (err) {
        if (this.closed) return;
        throw err;
      }
      yield train;
    }
  }
}

// karabo-bridge servers answer a bad request with one text frame starting "Error:".
function checkServerError(frames: Buffer[]): void {
  if (frames.length !== 1) return;
  const f = frames[0] as Buffer;
  if (f.length >= 6 && f.subarray(0, 6).toString("latin1") === "Error:") {
    throw new BridgeProtocolError(
      `bridge server replied: ${f.subarray(0, 300).toString("utf8")}`,
      "SERVER_ERROR",
    );
  }
}
