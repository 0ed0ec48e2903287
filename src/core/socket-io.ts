// Socket I/O past Node's streams, for connections that move large messages (the bridge's servers and
// clients, the pipeline's TCP outputs and inputs). Why: a REP server reads one small request and
// writes one large gathered reply per train, and measured with perf under load (16.8 MB AGIPD trains,
// issue 15) over half of its user CPU per train was Node's stream machinery around those two calls:
// the Writable's write/cork/uncork buffering, clearBuffer, onwrite and afterWrite ticks, and the
// Readable's push, addChunk and 'data' event with a fresh 64 KiB buffer per read, all run with caches
// cold after each 16.8 MB copy. Here a reply goes to the libuv handle's writev (what the Writable
// calls in the end; libuv queues writes in order and calls back once each has reached the kernel), and
// reads land in one reused buffer, as net.connect's `onread` option does for clients.
//
// The handle's methods and the WriteWrap request class are Node internals (process.binding, the
// same ones net.Socket uses): where they are missing, sockets are read and written as streams.
// Every write of a socket must go through one SocketWriter, so that none overtakes another.
import { type OnReadOpts, Socket } from "node:net";

interface WriteRequest {
  handle: unknown;
  /** Held until written: libuv reads them after writev returns, and nothing else may hold them. */
  chunks: readonly Uint8Array[];
  oncomplete: (status: number) => void;
}

interface StreamWrap {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

interface StreamHandle {
  writev(req: WriteRequest, chunks: readonly Uint8Array[], allBuffers: boolean): number;
}

const streamWrap: StreamWrap | undefined = (() => {
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    const wrap = binding?.("stream_wrap") as Partial<StreamWrap> | undefined;
    if (
      typeof wrap?.WriteWrap === "function" &&
      wrap.streamBaseState instanceof Int32Array &&
      typeof wrap.kLastWriteWasAsync === "number"
    )
      return wrap as StreamWrap;
  } catch {
    // No binding: socket.write it is.
  }
  return undefined;
})();

/**
 * Whether sockets are read and written past Node's streams here (false: through 'data' events and
 * socket.write, also where SASE_SOCKET_IO=stream asks for it, to compare).
 */
export const directIO = streamWrap !== undefined && process.env.SASE_SOCKET_IO !== "stream";

/**
 * The connection of `accepted` (a server's socket, accepted with `pauseOnConnect`) as a socket that
 * hands each read to `onRead` as a view of one reused buffer, as net.connect's `onread` option does
 * for a client (Node has no such option for a server's sockets): no Readable stream and no fresh
 * buffer per read. The view is only valid during the call. Where that cannot be done, `accepted`
 * itself, reading through 'data' events.
 */
export function withReadsInto(
  accepted: Socket,
  buffer: Uint8Array,
  onRead: (bytes: Uint8Array) => void,
): Socket {
  const internals = accepted as unknown as { _handle: unknown };
  const handle = internals._handle;
  if (directIO && handle) {
    // The handle moves to a socket made with `onread`; the accepted one, never read, is left without.
    internals._handle = null;
    const onread: OnReadOpts = {
      buffer,
      callback: (n: number) => {
        onRead(buffer.subarray(0, n));
        return true;
      },
    };
    const socket = new Socket({ handle, onread } as ConstructorParameters<typeof Socket>[0]);
    // The server counts `accepted` as the connection (server.close waits for it): it closes with the
    // socket that took its handle.
    socket.once("close", () => accepted.destroy());
    return socket;
  }
  accepted.on("data", onRead);
  accepted.resume();
  return accepted;
}

/** Writes byte chunks to one socket, in order, to its handle where it can (see the top of this file). */
export class SocketWriter {
  /** Bytes handed to write() whose completion has not been reported yet. */
  pending = 0;

  constructor(private readonly socket: Socket) {}

  /**
   * Writes `chunks` after everything written before; `done(true)` once all have reached the kernel,
   * `done(false)` when the socket failed or closed first (it is then destroyed). The chunks must not
   * change until then.
   */
  write(chunks: readonly Uint8Array[], done?: (ok: boolean) => void): void {
    if (chunks.length === 0) {
      done?.(!this.socket.destroyed);
      return;
    }
    let bytes = 0;
    for (const c of chunks) bytes += c.byteLength;
    this.pending += bytes;
    const handle = this.socket.destroyed ? null : (this.socket as unknown as { _handle: unknown })._handle;
    if (!directIO || typeof (handle as StreamHandle | null)?.writev !== "function") {
      this.viaStream(chunks, bytes, done);
      return;
    }
    const wrap = streamWrap as StreamWrap;
    const req = new wrap.WriteWrap();
    req.handle = handle;
    req.chunks = chunks;
    req.oncomplete = (status: number) => {
      this.pending -= bytes;
      if (status < 0) this.socket.destroy();
      done?.(status >= 0);
    };
    const err = (handle as StreamHandle).writev(req, chunks, true);
    if (err !== 0) {
      this.pending -= bytes;
      this.socket.destroy();
      done?.(false);
    } else if (wrap.streamBaseState[wrap.kLastWriteWasAsync] === 0) {
      // Written whole at once: libuv will not call back.
      this.pending -= bytes;
      done?.(true);
    }
  }

  private viaStream(chunks: readonly Uint8Array[], bytes: number, done?: (ok: boolean) => void): void {
    const socket = this.socket;
    if (socket.destroyed) {
      this.pending -= bytes;
      done?.(false);
      return;
    }
    const last = (err?: Error | null) => {
      this.pending -= bytes;
      done?.(!err);
    };
    socket.cork();
    for (let i = 0; i < chunks.length - 1; i++) socket.write(chunks[i] as Uint8Array);
    socket.write(chunks[chunks.length - 1] as Uint8Array, last);
    socket.uncork();
  }
}
