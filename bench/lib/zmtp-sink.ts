// A minimal ZMTP 3.1 REQ client for benches: it asks for "next" and receives every reply into one
// reused 4 MiB buffer (node:net's `onread`), counting bytes and keeping nothing. So a figure measured
// with it is what the server costs, without the page faults a client pays receiving each train into
// fresh memory (a sase BridgeClient or karabo-bridge-py's Client does that, as it must keep the train).
import { connect, type Socket } from "node:net";
import { command, greeting, tcpEndpoint } from "../../src/bridge/zmtp.ts";

const NEXT = Buffer.from([0x01, 0x00, 0x00, 0x04, 0x6e, 0x65, 0x78, 0x74]); // "" then "next"

/** Receives whole messages from a REP server, discarding their bytes. */
export class ZmtpSink {
  private socket: Socket;
  private lastError: Error | undefined;
  private greeted = 0; // greeting bytes seen (64 in all)
  private head = Buffer.alloc(9);
  private headLen = 0; // bytes of the current frame header seen
  private left = 0; // body bytes of the current frame still to come
  private command = false;
  private more = false;
  private bytes = 0;
  private waiter: { resolve: (bytes: number) => void; reject: (err: Error) => void } | undefined;
  private failed: Error | undefined;

  constructor(endpoint: string) {
    const where = tcpEndpoint(endpoint);
    if (!where) throw new Error(`not a tcp:// endpoint: ${endpoint}`);
    this.socket = this.connect(where, Date.now() + 30_000);
  }

  // Some servers print their endpoint before they listen.
  private connect(where: { host: string; port: number }, deadline: number): Socket {
    const socket = connect({
      host: where.host,
      port: where.port,
      noDelay: true,
      onread: {
        buffer: Buffer.alloc(4 << 20),
        callback: (n: number, buf: Uint8Array) => {
          this.onBytes(buf, n);
          return true;
        },
      },
    });
    // A connection closed before the server's greeting (refused, or accepted by a server still
    // starting) is tried again until the deadline; any other close ends the sink.
    socket.on("error", (err) => {
      this.lastError = err;
    });
    socket.on("close", () => {
      if (this.greeted === 0 && Date.now() < deadline) {
        setTimeout(() => {
          this.socket = this.connect(where, deadline);
          if (this.waiter) this.socket.write(NEXT);
        }, 50);
      } else this.fail(this.lastError ?? new Error("connection closed"));
    });
    socket.write(greeting());
    socket.write(command("READY", [["Socket-Type", Buffer.from("REQ")]]));
    return socket;
  }

  /** Asks for one message and resolves with its size in bytes (all frames' bodies). */
  next(): Promise<number> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.socket.write(NEXT);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.failed ??= err;
    this.waiter?.reject(err);
    this.waiter = undefined;
  }

  private onBytes(buf: Uint8Array, n: number): void {
    let p = 0;
    while (p < n) {
      if (this.greeted < 64) {
        const take = Math.min(64 - this.greeted, n - p);
        this.greeted += take;
        p += take;
      } else if (this.left > 0) {
        const take = Math.min(this.left, n - p);
        this.left -= take;
        if (!this.command) this.bytes += take;
        p += take;
        if (this.left === 0) this.frameDone();
      } else {
        this.head[this.headLen++] = buf[p++] as number;
        const flags = this.head[0] as number;
        const need = flags & 2 ? 9 : 2;
        if (this.headLen < need) continue;
        this.left = flags & 2 ? Number(this.head.readBigUInt64BE(1)) : (this.head[1] as number);
        this.command = (flags & 4) !== 0;
        this.more = (flags & 1) !== 0;
        this.headLen = 0;
        if (this.left === 0) this.frameDone();
      }
    }
  }

  private frameDone(): void {
    if (this.command || this.more) return;
    const bytes = this.bytes;
    this.bytes = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve(bytes);
  }
}
