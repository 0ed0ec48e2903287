// The Karabo bridge client: `for await (const { data, metadata } of client)`. Works with any
// karabo-bridge server (REQ against REP, SUB against PUB, PULL against PUSH), either protocol
// version. Arrays are typed-array views into the received frames, not copies.
import * as zmq from "zeromq";
import { decodeTrain } from "./protocol.ts";
import { type BridgeTrain, BridgeProtocolError, BridgeTimeoutError, type ClientSocketType } from "./types.ts";

/** Options of a bridge client; every field has a default. */
export interface BridgeClientOptions {
  /** Socket type matching the server's REP, PUB or PUSH (default "REQ"). */
  sock?: ClientSocketType;
  /** Milliseconds to wait for a train before `next()` fails with BridgeTimeoutError (default: forever). */
  timeoutMs?: number;
  /** Messages buffered by ZeroMQ before the sender is held back (default 2; trains can be GBs). */
  highWaterMark?: number;
}

/** Frames of one message as received, before decoding (for tools that measure sizes). */
export interface RawMessage {
  frames: Buffer[];
  bytes: number;
}

type ClientSocket = zmq.Request | zmq.Subscriber | zmq.Pull;

/** A Karabo bridge client connected to one server endpoint. */
export class BridgeClient implements AsyncIterable<BridgeTrain> {
  readonly sock: ClientSocketType;
  readonly timeoutMs: number | undefined;
  private readonly hwm: number;
  private socket: ClientSocket;
  private awaitingReply = false;
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
      throw new RangeError(`unknown client socket type "${this.sock}" (REQ, SUB or PULL)`);
    }
    this.timeoutMs = options.timeoutMs;
    if (this.timeoutMs !== undefined && !(this.timeoutMs > 0)) {
      throw new RangeError(`timeout must be > 0 ms, got ${this.timeoutMs}`);
    }
    this.hwm = options.highWaterMark ?? 2;
    this.socket = this.open();
  }

  private open(): ClientSocket {
    const opts = { linger: 0, receiveHighWaterMark: this.hwm, receiveTimeout: this.timeoutMs ?? -1 };
    let socket: ClientSocket;
    if (this.sock === "REQ") socket = new zmq.Request({ ...opts, sendHighWaterMark: this.hwm });
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
      throw new Error(`bridge client cannot connect to ${this.endpoint}: ${(err as Error).message}`);
    }
    return socket;
  }

  /** Closes the socket and opens a fresh one (a REQ socket that timed out cannot send again). */
  reconnect(): void {
    this.socket.close();
    this.awaitingReply = false;
    this.socket = this.open();
    this.stats.reconnects++;
  }

  /** Receives the next message's frames without decoding them. */
  async nextRaw(): Promise<RawMessage> {
    if (this.closed) throw new Error("bridge client is closed");
    if (this.busy) throw new Error("bridge client: next() called again before the previous call finished");
    this.busy = true;
    try {
      const socket = this.socket;
      if (socket instanceof zmq.Request && !this.awaitingReply) {
        await socket.send("next");
        this.awaitingReply = true;
      }
      let frames: Buffer[];
      try {
        frames = await socket.receive();
      } catch (err) {
        if ((err as { code?: string }).code === "EAGAIN") {
          this.stats.timeouts++;
          // A REQ socket stays stuck waiting for this reply: start over on a new socket.
          if (this.sock === "REQ") this.reconnect();
          throw new BridgeTimeoutError(`no train from ${this.endpoint} within ${this.timeoutMs} ms`);
        }
        if (this.closed) throw new Error("bridge client is closed");
        throw err;
      }
      this.awaitingReply = false;
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
    return decodeTrain(frames);
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
