// A ZeroMQ DEALER client speaking ZMTP 3.x (NULL mechanism) over node:net, for the bridge client's
// REQ side. Why not zeromq.js: its receive path allocates every frame in native memory that is freed
// only at the next GC, which held a 16.8 MB AGIPD train to ~30% of pyzmq's speed. Here a large frame
// is read by the kernel straight into its own buffer (no copy, no intermediate chunk), small frames
// are copied out of one reused read buffer into 8-byte-aligned slabs (typed-array views need it).
//
// Wire format (rfc.zeromq.org/spec/23 and /37): a 64-byte greeting each way, then a READY command
// naming the socket type, then frames: a flags byte (MORE 1, LONG 2, COMMAND 4), a 1- or 8-byte
// big-endian size, the body. Like libzmq it reconnects on its own (every `reconnectMs`) after the
// peer goes away; messages lost with the connection are reported through `onDisconnect`.
import { type Socket, connect } from "node:net";
import { BufferPool, SaseError, SocketWriter } from "../core/index.ts";

/** Options of a ZMTP client socket; every field has a default. */
export interface ZmtpOptions {
  /** Milliseconds between reconnection attempts (default 100, libzmq's). */
  reconnectMs?: number;
  /** Messages received but not yet taken before the socket stops reading (default 4). */
  highWaterMark?: number;
  /** Called when an established connection is lost (requests in flight are gone with it). */
  onDisconnect?: () => void;
}

/** Why a receive failed: "TIMEOUT", "CLOSED" after close, else a protocol failure. */
export class ZmtpError extends SaseError {}

const SCRATCH = 256 * 1024; // one read buffer, reused for every read of small frames
const DIRECT_MIN = 32 * 1024; // frames from this size get their own (recyclable) buffer, read straight into it
const SLAB = 256 * 1024; // smaller frames are carved out of slabs of this size
const PEERS_OF_DEALER = ["ROUTER", "REP"];

/** A ZMTP command frame (READY, ERROR, ...) with its properties. */
export function command(name: string, props: [string, Uint8Array][] = []): Buffer {
  let size = 1 + name.length;
  for (const [k, v] of props) size += 1 + k.length + 4 + v.length;
  const long = size > 255;
  const out = Buffer.alloc((long ? 9 : 2) + size);
  let p = 0;
  out[p++] = long ? 0x06 : 0x04;
  if (long) {
    out.writeBigUInt64BE(BigInt(size), p);
    p += 8;
  } else out[p++] = size;
  out[p++] = name.length;
  p += out.write(name, p, "latin1");
  for (const [k, v] of props) {
    out[p++] = k.length;
    p += out.write(k, p, "latin1");
    out.writeUInt32BE(v.length, p);
    p += 4;
    out.set(v, p);
    p += v.length;
  }
  return out;
}

/** Our 64-byte ZMTP 3.1 greeting (NULL mechanism). */
export function greeting(): Buffer {
  const g = Buffer.alloc(64);
  g[0] = 0xff;
  g[8] = 1; // libzmq writes (identity length + 1) here for ZMTP 1.0 peers
  g[9] = 0x7f;
  g[10] = 3; // version 3.1
  g[11] = 1;
  g.write("NULL", 12, "latin1");
  return g; // as-server 0 and the filler are zero
}

const LARGE = 16 * 1024; // frames from this size go to the socket as they are, never copied

/**
 * Encodes one message's frames for the wire: frame headers and small frames gathered into one
 * buffer (one write for a message of many small frames), large frames passed through as they are.
 * A frame that is not in memory (only its byteLength known, e.g. an array streamed from a file) is
 * passed through whatever its size.
 */
export function encodeFrames<F extends { readonly byteLength: number }>(
  frames: readonly (Uint8Array | F)[],
): (Uint8Array | F)[] {
  let gathered = 0;
  for (const f of frames)
    gathered += (f.byteLength <= 255 ? 2 : 9) + (f instanceof Uint8Array && f.length < LARGE ? f.length : 0);
  const buf = Buffer.allocUnsafe(gathered);
  const out: (Uint8Array | F)[] = [];
  let p = 0;
  let from = 0;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as Uint8Array | F;
    const size = f.byteLength;
    const more = i + 1 < frames.length ? 1 : 0;
    if (size <= 255) {
      buf[p++] = more;
      buf[p++] = size;
    } else {
      buf[p] = more | 2;
      buf.writeBigUInt64BE(BigInt(size), p + 1);
      p += 9;
    }
    if (f instanceof Uint8Array && size < LARGE) {
      if (size < 32) for (let j = 0; j < size; j++) buf[p + j] = f[j] as number;
      else buf.set(f, p);
      p += size;
    } else {
      out.push(buf.subarray(from, p), f);
      from = p;
    }
  }
  if (p > from) out.push(buf.subarray(from, p));
  return out;
}

/** Parses "tcp://host:port" for connecting; undefined for anything else (ipc, inproc, wildcards). */
export function tcpEndpoint(endpoint: string): { host: string; port: number } | undefined {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/[\]]+):(\d+)$/.exec(endpoint);
  if (!m) return undefined;
  const host = (m[1] as string).replace(/^\[|\]$/g, "");
  const port = Number(m[2]);
  if (host === "*" || !(port > 0 && port < 65536)) return undefined;
  return { host, port };
}

type Phase = "greeting" | "ready" | "traffic";

interface Waiter {
  resolve: (frames: Buffer[]) => void;
  reject: (err: Error) => void;
  /** performance.now() after which it fails with TIMEOUT (Infinity: never), and the timeout asked. */
  deadline: number;
  timeoutMs?: number;
}

/** A DEALER socket connected to one ZMTP peer (a REP or ROUTER), reconnecting when it goes away. */
export class ZmtpDealer {
  private readonly host: string;
  private readonly port: number;
  private readonly reconnectMs: number;
  private readonly hwm: number;
  private readonly onDisconnect: (() => void) | undefined;
  private socket: Socket | undefined;
  /** Every write to `socket` goes through it (see socket-io.ts). */
  private writer: SocketWriter | undefined;
  // One timer for every receive's deadline, armed for the earliest (a timer per receive, made and
  // cleared once per train, was a tenth of a client's user CPU under load).
  private deadlines: NodeJS.Timeout | undefined;
  private phase: Phase = "greeting";
  private closed = false;
  private failure: ZmtpError | undefined;
  private retry: NodeJS.Timeout | undefined;
  // Read state: bytes [start, end) of `scratch` are received and not yet parsed; while `direct`
  // is set, reads land in `direct` at `filled` instead.
  private readonly scratch = Buffer.allocUnsafe(SCRATCH);
  private start = 0;
  private end = 0;
  private direct: Buffer | undefined;
  private filled = 0;
  private directMore = false;
  private slab = new ArrayBuffer(SLAB);
  private slabUsed = 0;
  private parts: Buffer[] = [];
  private readonly inbox: Buffer[][] = [];
  private readonly waiters: Waiter[] = [];
  private pendingSends: Uint8Array[][] = [];
  private paused = false;
  // Large frames' memory, handed back by `recycle`; bytes of the current message's large frames.
  private readonly pool = new BufferPool();
  private largeBytes = 0;

  constructor(
    readonly endpoint: string,
    options: ZmtpOptions = {},
  ) {
    const tcp = tcpEndpoint(endpoint);
    if (!tcp) throw new ZmtpError("BAD_OPTION", `ZMTP client needs tcp://host:port, got "${endpoint}"`);
    this.host = tcp.host;
    this.port = tcp.port;
    this.reconnectMs = options.reconnectMs ?? 100;
    this.hwm = options.highWaterMark ?? 4;
    this.onDisconnect = options.onDisconnect;
    this.open();
  }

  private open(): void {
    this.phase = "greeting";
    this.start = this.end = 0;
    this.direct = undefined;
    this.parts = [];
    this.largeBytes = 0;
    const socket: Socket = connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: {
        buffer: () => this.scratch,
        callback: (n: number): boolean => {
          this.onRead(socket, n);
          return true;
        },
      },
    });
    this.socket = socket;
    const writer = new SocketWriter(socket);
    this.writer = writer;
    socket.on("connect", () => {
      // Two writes, as libzmq's peers expect: one that gets our READY with its greeting may drop an
      // incompatible peer (a PUB) before sending its own READY, and the refusal would go unexplained.
      writer.write([greeting()]);
      writer.write([
        command("READY", [
          ["Socket-Type", Buffer.from("DEALER")],
          ["Identity", Buffer.alloc(0)],
        ]),
      ]);
    });
    socket.on("error", () => {}); // 'close' follows and decides what to do
    socket.on("close", () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      const wasUp = this.phase === "traffic";
      if (this.closed || this.failure) return;
      if (wasUp) this.onDisconnect?.();
      this.retry = setTimeout(() => {
        this.retry = undefined;
        if (!this.closed) this.open();
      }, this.reconnectMs);
    });
  }

  /** Sends one message (queued while no connection is ready, as libzmq does). */
  send(frames: readonly Uint8Array[]): void {
    if (this.closed) throw new ZmtpError("CLOSED", "ZMTP socket is closed");
    if (this.failure) throw this.failure;
    const wire = encodeFrames(frames);
    if (this.phase === "traffic" && this.socket) this.writer?.write(wire as Uint8Array[]);
    else this.pendingSends.push(wire);
  }

  /** The next message's frames; fails with code "TIMEOUT" after `timeoutMs` (default: wait forever). */
  receive(timeoutMs?: number): Promise<Buffer[]> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new ZmtpError("CLOSED", "ZMTP socket is closed"));
    const ready = this.inbox.shift();
    if (ready) {
      this.resumeIfRoom();
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => {
      const timed = timeoutMs !== undefined && timeoutMs >= 0;
      const deadline = timed ? performance.now() + timeoutMs : Number.POSITIVE_INFINITY;
      this.waiters.push({ resolve, reject, deadline, timeoutMs });
      if (timed && this.deadlines === undefined) this.armDeadlines(deadline);
    });
  }

  // Unreferenced: a receive keeps the process alive through its socket (or its reconnection timer).
  private armDeadlines(at: number): void {
    this.deadlines = setTimeout(() => this.expire(), Math.max(0, at - performance.now())).unref();
  }

  // Fails the receives whose deadline has passed, and arms the timer for the next one.
  private expire(): void {
    this.deadlines = undefined;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i] as Waiter;
      if (w.deadline <= now) {
        this.waiters.splice(i, 1);
        w.reject(new ZmtpError("TIMEOUT", `no message from ${this.endpoint} within ${w.timeoutMs} ms`));
      } else {
        next = Math.min(next, w.deadline);
        i++;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.armDeadlines(next);
  }

  /** Closes the connection; pending receives fail with code "CLOSED". */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.deadlines) clearTimeout(this.deadlines);
    this.deadlines = undefined;
    this.socket?.destroy();
    this.socket = undefined;
    this.rejectAll(new ZmtpError("CLOSED", "ZMTP socket is closed"));
  }

  private rejectAll(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private fail(message: string): void {
    this.failure = new ZmtpError("BAD_MESSAGE", `${this.endpoint}: ${message}`);
    this.socket?.destroy();
    this.rejectAll(this.failure);
  }

  private deliver(frames: Buffer[]): void {
    const w = this.waiters.shift();
    if (w) {
      w.resolve(frames);
      return;
    }
    this.inbox.push(frames);
    if (this.inbox.length >= this.hwm && !this.paused) {
      this.paused = true;
      this.socket?.pause();
    }
  }

  private resumeIfRoom(): void {
    if (this.paused && this.inbox.length < this.hwm) {
      this.paused = false;
      this.socket?.resume();
    }
  }

  // ---- reading --------------------------------------------------------------------------------

  private onRead(socket: Socket, n: number): void {
    if (socket !== this.socket) return;
    if (this.direct) {
      this.filled += n;
      if (this.filled < this.direct.length) {
        this.pointReads(socket, this.direct.subarray(this.filled));
        return;
      }
      this.endFrame(this.direct, this.directMore);
      this.direct = undefined;
      this.pointReads(socket, this.scratch);
      return;
    }
    this.end += n;
    this.parse(socket);
    if (this.socket !== socket || this.direct) return;
    // Keep the unparsed tail at the start of the buffer so the next read has room after it.
    if (this.start > 0) {
      this.scratch.copy(this.scratch, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    this.pointReads(socket, this.scratch.subarray(this.end));
  }

  private pointReads(socket: Socket, target: Buffer): void {
    (socket as unknown as { _handle: { useUserBuffer(b: Uint8Array): void } | null })._handle?.useUserBuffer(
      target,
    );
  }

  private parse(socket: Socket): void {
    const b = this.scratch;
    while (this.socket === socket) {
      const avail = this.end - this.start;
      if (this.phase === "greeting") {
        if (avail >= 1 && b[this.start] !== 0xff) {
          this.fail(`not a ZeroMQ peer (its greeting starts with byte 0x${b[this.start]?.toString(16)})`);
          return;
        }
        if (avail >= 10 && ((b[this.start + 9] as number) & 1) !== 1) {
          this.fail("not a ZeroMQ peer (bad ZMTP signature)");
          return;
        }
        if (avail >= 11 && (b[this.start + 10] as number) < 3) {
          this.fail(`peer speaks ZMTP ${b[this.start + 10]}.x; ZMTP 3.0 or later is needed`);
          return;
        }
        if (avail < 64) return;
        const mech = b.toString("latin1", this.start + 12, this.start + 32).replace(/\0+$/, "");
        if (mech !== "NULL") {
          this.fail(`peer wants security mechanism ${mech}; only NULL is spoken`);
          return;
        }
        this.start += 64;
        this.phase = "ready";
        continue;
      }
      if (avail < 2) return;
      const flags = b[this.start] as number;
      const long = (flags & 2) !== 0;
      const head = long ? 9 : 2;
      if (avail < head) return;
      const size = long ? Number(b.readBigUInt64BE(this.start + 1)) : (b[this.start + 1] as number);
      if ((flags & 4) === 0 && this.phase === "ready") {
        this.fail("peer sent a message before READY");
        return;
      }
      if ((flags & 4) === 0 && size >= DIRECT_MIN && avail - head < size) {
        // A large frame: its bytes so far go to the front of its own buffer, the rest is read there.
        const frame = this.pool.take(size);
        this.largeBytes += size;
        const have = avail - head;
        b.copy(frame, 0, this.start + head, this.end);
        this.start = this.end = 0;
        this.direct = frame;
        this.filled = have;
        this.directMore = (flags & 1) !== 0;
        this.pointReads(socket, frame.subarray(have));
        return;
      }
      if (avail - head < size) {
        if (head + size > SCRATCH) {
          this.fail(`command of ${size} bytes is too large`);
          return;
        }
        return;
      }
      const bodyAt = this.start + head;
      this.start = bodyAt + size;
      if (flags & 4) this.onCommand(b.subarray(bodyAt, bodyAt + size));
      else this.endFrame(this.copyOut(b, bodyAt, size), (flags & 1) !== 0);
    }
  }

  /**
   * Takes back a large frame's memory (the `buffer` of an array decoded from it) for a later frame
   * of the same size: reading into memory already mapped spares page faults and garbage collection.
   * The caller promises that nothing reads that memory any more.
   */
  recycle(buffer: ArrayBufferLike): void {
    this.pool.give(buffer);
  }

  private copyOut(b: Buffer, at: number, size: number): Buffer {
    // A large frame that happened to arrive whole in one read still gets memory that can be recycled.
    if (size >= DIRECT_MIN) {
      const own = this.pool.take(size);
      this.largeBytes += size;
      b.copy(own, 0, at, at + size);
      return own;
    }
    if (this.slabUsed + size > SLAB) {
      this.slab = new ArrayBuffer(SLAB);
      this.slabUsed = 0;
    }
    const out = Buffer.from(this.slab, this.slabUsed, size);
    b.copy(out, 0, at, at + size);
    this.slabUsed = (this.slabUsed + size + 7) & ~7;
    return out;
  }

  private endFrame(frame: Buffer, more: boolean): void {
    this.parts.push(frame);
    if (more) return;
    const frames = this.parts;
    this.parts = [];
    this.pool.noteMessage(this.largeBytes);
    this.largeBytes = 0;
    this.deliver(frames);
  }

  private onCommand(body: Buffer): void {
    const nameLen = body[0] ?? 0;
    const name = body.toString("latin1", 1, 1 + nameLen);
    if (name === "READY") {
      const type = readProperty(body, 1 + nameLen, "socket-type");
      if (type === undefined || !PEERS_OF_DEALER.includes(type)) {
        this.fail(`peer is a ${type ?? "nameless"} socket; a REQ client needs REP or ROUTER`);
        return;
      }
      this.phase = "traffic";
      for (const wire of this.pendingSends) this.writer?.write(wire as Uint8Array[]);
      this.pendingSends = [];
    } else if (name === "ERROR") {
      const reason = body.toString("latin1", 2 + nameLen, 2 + nameLen + (body[1 + nameLen] ?? 0));
      this.fail(`peer refused the connection: ${reason}`);
    } else if (name === "PING") {
      // Answer with PONG carrying the ping's context (after its 2-byte TTL).
      this.writer?.write([pong(body.subarray(1 + nameLen + 2))]);
    }
    // Other commands (SUBSCRIBE, PONG, ...) mean nothing to a DEALER.
  }
}

/** A PONG command answering a PING with its context. */
export function pong(context: Uint8Array): Buffer {
  const size = 5 + context.length;
  const out = Buffer.alloc(2 + size);
  out[0] = 0x04;
  out[1] = size;
  out[2] = 4;
  out.write("PONG", 3, "latin1");
  out.set(context, 7);
  return out;
}

/** One property of a READY command's body (names compared in lower case), or undefined. */
export function readProperty(body: Buffer, at: number, wanted: string): string | undefined {
  let p = at;
  while (p < body.length) {
    const kLen = body[p] as number;
    const key = body.toString("latin1", p + 1, p + 1 + kLen);
    p += 1 + kLen;
    if (p + 4 > body.length) return undefined;
    const vLen = body.readUInt32BE(p);
    p += 4;
    if (key.toLowerCase() === wanted) return body.toString("latin1", p, p + vLen);
    p += vLen;
  }
  return undefined;
}
