// The server side of ZMTP 3.x (NULL mechanism) over node:net: a ROUTER socket for the bridge's REP
// server. Why not zeromq.js: it hands every frame to libzmq as its own message (a train of control
// data is 100 of them) and each send goes through its promise machinery and a poll of libzmq's
// socket; here a reply is gathered into one buffer of frame headers and small frames plus the large
// arrays as they are, and written with one writev (arrays never copied in user space).
//
// Peers are connections, not identities: a request arrives with the peer it came from, and the
// reply goes back on that connection (a REQ or DEALER peer sees exactly what a ROUTER would send).
//
// An array still in its file (a replayed run's detector data) is not read whole first: it is read
// in chunks into a few reused buffers, each written as soon as it is read (its frame header, sent
// before, carries the whole size), so the server never holds a train in fresh memory.
import { type Server, type Socket, createServer } from "node:net";
import { SaseError, SocketWriter, withReadsInto } from "../core/index.ts";
import type { ArrayInFile } from "../files/index.ts";
import { ChunkBuffers, CHUNK_BYTES, CHUNKS_IN_FLIGHT, zeros } from "./chunks.ts";
import { command, encodeFrames, greeting, pong, readProperty } from "./zmtp.ts";

/** One connected client. */
export interface ZmtpPeer {
  readonly id: number;
  /** True once its connection is gone (a reply to it would be lost). */
  readonly gone: boolean;
}

/** Options of a ZMTP router; every field has a default. */
export interface ZmtpRouterOptions {
  /** Replies per peer handed to the kernel only partly before `send` waits (default 2). */
  highWaterMark?: number;
  /** Each request: the peer and its frames. */
  onMessage: (peer: ZmtpPeer, frames: Buffer[]) => void;
  /** A peer that the handshake refused, with why (it is disconnected). */
  onRefused?: (why: string) => void;
}

const NOTHING = Buffer.alloc(0);
const MAX_INCOMING = 1 << 20; // a request frame larger than this ends its connection
const PEERS_OF_ROUTER = ["REQ", "DEALER", "ROUTER"];

/** Parses "tcp://host:port" for binding: host "*" is every IPv4 interface, port "*" or 0 any free one. */
export function tcpBindEndpoint(endpoint: string): { host: string; port: number } | undefined {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/[\]]+):(\d+|\*)$/.exec(endpoint);
  if (!m) return undefined;
  const host = (m[1] as string).replace(/^\[|\]$/g, "");
  const port = m[2] === "*" ? 0 : Number(m[2]);
  if (!(port >= 0 && port < 65536)) return undefined;
  return { host: host === "*" ? "0.0.0.0" : host, port };
}

class Peer implements ZmtpPeer {
  gone = false;
  ready = false;
  /** Replies written whose last byte has not reached the kernel yet. */
  unflushed = 0;
  /** The end of the last reply being sent: replies go out whole, one after the other. */
  tail: Promise<unknown> = Promise.resolve();
  /** Replies in the `tail` chain not yet handed to the writer. */
  chained = 0;
  /** Called once each reply has reached the kernel (one function per peer, not one per reply). */
  readonly flushed = (): void => {
    this.unflushed--;
    this.wake();
  };
  private waiters: (() => void)[] = [];
  private pending: Buffer = NOTHING;
  private greeted = false;
  private parts: Buffer[] = [];
  /** Every write to the socket goes through it (see socket-io.ts). */
  readonly writer: SocketWriter;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    private readonly router: ZmtpRouter,
  ) {
    this.writer = new SocketWriter(socket);
  }

  // Requests are small: bytes are collected and parsed frame by frame.
  onData(chunk: Uint8Array): void {
    let b = this.pending.length
      ? Buffer.concat([this.pending, chunk])
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let p = 0;
    for (;;) {
      const avail = b.length - p;
      if (!this.greeted) {
        const why = checkGreeting(b.subarray(p));
        if (why) {
          this.refuse(why);
          return;
        }
        if (avail < 64) break;
        p += 64;
        this.greeted = true;
        continue;
      }
      if (avail < 2) break;
      const flags = b[p] as number;
      const head = flags & 2 ? 9 : 2;
      if (avail < head) break;
      const size = flags & 2 ? Number(b.readBigUInt64BE(p + 1)) : (b[p + 1] as number);
      if (size > MAX_INCOMING) {
        this.refuse(`sent a frame of ${size} bytes (requests are small)`);
        return;
      }
      if (avail - head < size) break;
      const body = b.subarray(p + head, p + head + size);
      p += head + size;
      if (flags & 4) {
        if (!this.onCommand(body)) return;
      } else if (!this.ready) {
        this.refuse("sent a message before READY");
        return;
      } else {
        // The body may be a view of a read buffer that Node reuses: keep a copy.
        this.parts.push(Buffer.from(body));
        if ((flags & 1) === 0) {
          const frames = this.parts;
          this.parts = [];
          this.router.deliver(this, frames);
        }
      }
    }
    if (p > 0) b = b.subarray(p);
    this.pending = b.length ? Buffer.from(b) : NOTHING;
  }

  private onCommand(body: Buffer): boolean {
    const nameLen = body[0] ?? 0;
    const name = body.toString("latin1", 1, 1 + nameLen);
    if (name === "READY") {
      const type = readProperty(body, 1 + nameLen, "socket-type");
      if (type === undefined || !PEERS_OF_ROUTER.includes(type)) {
        this.refuse(`is a ${type ?? "nameless"} socket; a REP server answers REQ or DEALER`, true);
        return false;
      }
      this.ready = true;
    } else if (name === "PING") this.writer.write([pong(body.subarray(1 + nameLen + 2))]);
    else if (name === "ERROR") {
      this.refuse("refused the connection");
      return false;
    }
    return true;
  }

  refuse(why: string, tell = false): void {
    if (!this.gone) this.router.refused(this, why, tell);
  }

  /** Resolves at the next write that reaches the kernel, or when the peer goes. */
  change(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

// Why a greeting (its first bytes so far) is not one we can answer, or undefined.
function checkGreeting(g: Buffer): string | undefined {
  if (g.length >= 1 && g[0] !== 0xff) return "is not a ZeroMQ peer (bad greeting)";
  if (g.length >= 10 && ((g[9] as number) & 1) !== 1) return "is not a ZeroMQ peer (bad ZMTP signature)";
  if (g.length >= 11 && (g[10] as number) < 3) return `speaks ZMTP ${g[10]}.x; ZMTP 3.0 or later is needed`;
  if (g.length >= 32) {
    const mech = g.toString("latin1", 12, 32).replace(/\0+$/, "");
    if (mech !== "NULL") return `wants security mechanism ${mech}; only NULL is spoken`;
  }
  return undefined;
}

const SENT = Promise.resolve(true);

function inMemory(frames: readonly (Uint8Array | ArrayInFile)[]): frames is readonly Uint8Array[] {
  for (const f of frames) if (!(f instanceof Uint8Array)) return false;
  return true;
}

// ZMTP's ERROR command: its reason is a short string, not a property.
function errorCommand(reason: string): Buffer {
  const text = Buffer.from(reason.slice(0, 255), "latin1");
  const out = Buffer.alloc(2 + 6 + 1 + text.length);
  out[0] = 0x04;
  out[1] = 6 + 1 + text.length;
  out[2] = 5;
  out.write("ERROR", 3, "latin1");
  out[8] = text.length;
  out.set(text, 9);
  return out;
}

/** A ROUTER socket bound to one TCP address, speaking ZMTP 3.1 to each peer that connects. */
export class ZmtpRouter {
  private server: Server | undefined;
  private readonly peers = new Set<Peer>();
  private nextId = 1;
  private closed = false;
  private readonly hwm: number;
  private readonly chunks = new ChunkBuffers();
  /** Every peer's reads land here, one at a time (see accept). */
  private readonly readBuffer = Buffer.allocUnsafe(64 * 1024);

  constructor(private readonly options: ZmtpRouterOptions) {
    this.hwm = options.highWaterMark ?? 2;
  }

  /** Peers connected now. */
  get connections(): number {
    return this.peers.size;
  }

  /** Binds and listens; resolves with the endpoint bound ("tcp://host:port"). */
  bind(endpoint: string): Promise<string> {
    const where = tcpBindEndpoint(endpoint);
    if (!where) throw new SaseError("BAD_OPTION", `ZMTP server needs tcp://host:port, got "${endpoint}"`);
    // Accepted paused: each connection is then read into `readBuffer` (withReadsInto).
    const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: where.host, port: where.port, exclusive: true }, () => {
        server.off("error", reject);
        server.on("error", () => {});
        this.server = server;
        const address = server.address();
        const port = typeof address === "object" && address ? address.port : where.port;
        const host = where.host.includes(":") ? `[${where.host}]` : where.host;
        resolve(`tcp://${host}:${port}`);
      });
    });
  }

  private accept(accepted: Socket): void {
    if (this.closed) {
      accepted.destroy();
      return;
    }
    let peer: Peer | undefined;
    // Requests are parsed (and what is kept of them copied) before the next read reuses the buffer.
    const socket = withReadsInto(accepted, this.readBuffer, (bytes) => peer?.onData(bytes));
    peer = new Peer(this.nextId++, socket, this);
    const p = peer;
    this.peers.add(p);
    socket.on("error", () => {}); // 'close' follows
    socket.on("close", () => this.forget(p));
    // Two writes, as before: a libzmq peer that gets our READY with our greeting may drop the
    // connection before sending its own READY when the types do not match, leaving no reason to log.
    p.writer.write([greeting()]);
    p.writer.write([command("READY", [["Socket-Type", Buffer.from("ROUTER")]])]);
  }

  private forget(peer: Peer): void {
    peer.gone = true;
    this.peers.delete(peer);
    peer.wake();
  }

  /** Called by a peer with one whole message. */
  deliver(peer: Peer, frames: Buffer[]): void {
    if (!this.closed) this.options.onMessage(peer, frames);
  }

  /** Called by a peer whose handshake failed: drop it (after an ERROR command when `tell`). */
  refused(peer: Peer, why: string, tell: boolean): void {
    this.options.onRefused?.(`peer ${peer.socket.remoteAddress}:${peer.socket.remotePort} ${why}`);
    if (tell) peer.socket.end(errorCommand(why));
    else peer.socket.destroy();
    this.forget(peer);
  }

  /**
   * Sends one message to `peer`; resolves false when the peer has gone (nothing or only part sent).
   * Waits first while `highWaterMark` replies to that peer are still on their way to the kernel.
   * Frames still in a file are streamed (see the top of this file): the promise then resolves once
   * the last chunk has been handed to the socket.
   */
  send(zpeer: ZmtpPeer, frames: readonly (Uint8Array | ArrayInFile)[]): Promise<boolean> {
    const peer = zpeer as Peer;
    // The common case, a reply in memory to a peer with room and nothing queued before it, is
    // handed to the writer now: no promise chain per train (its cost was measurable under load).
    if (this.sendNowIfRoom(peer, frames)) return SENT;
    peer.chained++;
    const sent = peer.tail.then(() => this.sendNow(peer, frames));
    peer.tail = sent.catch(() => {});
    return sent;
  }

  /**
   * Hands one message to `peer`'s socket now if it can go without waiting (in memory, the peer
   * connected with room below `highWaterMark`, nothing queued before it); false, nothing sent, if not.
   */
  sendNowIfRoom(zpeer: ZmtpPeer, frames: readonly (Uint8Array | ArrayInFile)[]): boolean {
    if (!this.canSendNow(zpeer, frames)) return false;
    this.write(zpeer as Peer, encodeFrames(frames) as Uint8Array[]);
    return true;
  }

  /** Whether sendNowIfRoom would send these frames to `peer` now. */
  canSendNow(zpeer: ZmtpPeer, frames: readonly (Uint8Array | ArrayInFile)[]): boolean {
    const peer = zpeer as Peer;
    return peer.chained === 0 && !peer.gone && peer.unflushed < this.hwm && inMemory(frames);
  }

  private write(peer: Peer, chunks: readonly Uint8Array[]): void {
    peer.unflushed++;
    peer.writer.write(chunks, peer.flushed);
  }

  private async sendNow(peer: Peer, frames: readonly (Uint8Array | ArrayInFile)[]): Promise<boolean> {
    try {
      while (!peer.gone && peer.unflushed >= this.hwm) await peer.change();
      if (peer.gone) return false;
      const chunks = encodeFrames(frames);
      if (inMemory(chunks)) {
        // All in memory: one gathered writev.
        this.write(peer, chunks);
        return true;
      }
      peer.unflushed++;
      for (let i = 0; i < chunks.length; i++) {
        const c = chunks[i] as Uint8Array | ArrayInFile;
        const last = i === chunks.length - 1 ? peer.flushed : undefined;
        if (c instanceof Uint8Array) peer.writer.write([c], last);
        else if (!(await this.stream(peer, c, last))) return false;
      }
      return true;
    } finally {
      peer.chained--;
    }
  }

  // Writes an array still in its file: CHUNKS_IN_FLIGHT reused buffers at most on their way to the
  // kernel; all-zero chunks (never written in the file) go out from one buffer of zeros, unread.
  private async stream(peer: Peer, array: ArrayInFile, onLast: (() => void) | undefined): Promise<boolean> {
    let inFlight = 0;
    for (let offset = 0; offset < array.byteLength; ) {
      while (!peer.gone && inFlight >= CHUNKS_IN_FLIGHT) await peer.change();
      if (peer.gone) return false;
      const n = Math.min(CHUNK_BYTES, array.byteLength - offset);
      const buffer = this.chunks.take();
      let bytes: Uint8Array;
      try {
        bytes = array.read(offset, buffer.subarray(0, n)) ? buffer.subarray(0, n) : zeros(n);
      } catch (err) {
        // Half a message is on the wire: this connection cannot go on.
        peer.socket.destroy();
        this.forget(peer);
        throw err;
      }
      offset += n;
      const end = offset === array.byteLength;
      inFlight++;
      peer.writer.write([bytes], () => {
        inFlight--;
        this.chunks.give(buffer);
        if (end) onLast?.();
        peer.wake();
      });
    }
    return true;
  }

  /**
   * Stops listening and ends every connection; what is still being written gets up to `flushMs`
   * to leave (in the background, as libzmq's linger does).
   */
  close(flushMs = 0): void {
    if (this.closed) return;
    this.closed = true;
    this.server?.close();
    for (const peer of [...this.peers]) {
      const socket = peer.socket;
      if (flushMs <= 0 || (peer.writer.pending === 0 && socket.writableLength === 0)) socket.destroy();
      else {
        socket.end();
        setTimeout(() => socket.destroy(), flushMs).unref();
      }
      this.forget(peer);
    }
  }
}
