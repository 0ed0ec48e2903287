// The TCP transport, speaking Karabo's pipeline protocol as the middlelayer does (pipeline.py): an
// output listens; an input connects and says hello; from then on every request of the input (the hello,
// then each `update`) lets the output send one message: a data chunk or the end of stream. Any bytes
// that do not follow the protocol close that one connection (logged, counted in lastError); the device
// on either side carries on.
//
//   input  → output  {reason: "hello", instanceId, memoryLocation, dataDistribution, onSlowness, maxQueueLength}
//   input  → output  {reason: "update", instanceId}                      "send me the next one"
//   output → input   header {nData, byteSizes, sourceInfo: [{source, timestamp @sec @frac @tid}]}
//                    + body = the data Hashes back to back (byteSizes says where each ends)
//   output → input   header {endOfStream: true, byteSizes: []} + empty body
//
// Karabo's peers ignore keys they do not know; sase's outputs add `seq` (the token's number in the
// output's `session`), `dropped` (tokens dropped for this input by its slowness policy), `queued` and
// `align` (where the body's largest array sits). With them a sase input counts exactly the tokens lost
// with a broken connection and receives arrays aligned; from a Karabo output it still gets every token.
// A sase input also puts `welcome: true` in its hello; a sase output then answers at once with an empty
// chunk carrying `welcome` and its session (Karabo's inputs never ask, so never see one). That tells the
// input it is attached before any data flows; from a Karabo output, which never answers, the input counts
// itself attached after a short wait or with the first chunk.

import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import {
  type BufferPool,
  Hash,
  type HashValue,
  type Logger,
  SaseError,
  SocketWriter,
  type Timestamp,
  timestampNow,
  withReadsInto,
} from "../core/index.ts";
import type {
  ConnectionSink,
  DeliveryInfo,
  InputHello,
  InputLink,
  OutputEndpoint,
  PeerHandle,
  PeerLink,
} from "./link.ts";
import {
  DATA_DISTRIBUTIONS,
  type DataToken,
  type ListenOptions,
  PipelineError,
  SLOWNESS_POLICIES,
} from "./types.ts";
import {
  bodyBytes,
  decodeBody,
  encodeCached,
  encodeMessage,
  FrameReader,
  field,
  headerCount,
  headerString,
  optionalString,
  withBookkeeping,
  writeDataFrame,
  writeFrame,
  writeMessage,
} from "./wire.ts";

const DEFAULT_MAX_TOKEN_BYTES = 1024 * 1024 * 1024;
/** Karabo's default queue length when a hello does not give one. */
const DEFAULT_MAX_QUEUE_LENGTH = 2;
/** How long an input waits for a sase output's welcome before taking the output for a Karabo one. */
const WELCOME_WAIT_MS = 200;

/** sase's bookkeeping keys beside Karabo's in a header. */
function withInfo(h: Hash, info: DeliveryInfo, session: string): Hash {
  return withBookkeeping(h, { seq: info.seq, dropped: info.dropped, queued: info.queued, session });
}

/** sase's bookkeeping from a header; seq 0 when the output is not sase's (no loss counting then). */
function readInfo(h: Hash): DeliveryInfo {
  if (field(h, "seq") === undefined || field(h, "session") === undefined)
    return { seq: 0, dropped: 0, queued: 0 };
  return {
    seq: headerCount(h, "seq"),
    dropped: headerCount(h, "dropped"),
    queued: headerCount(h, "queued"),
    session: headerString(h, "session"),
  };
}

function asCount(v: HashValue | undefined): number | undefined {
  const n = typeof v === "bigint" ? Number(v) : v;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Source and timestamp of one `sourceInfo` row; a row without a timestamp is stamped on arrival. */
function readSourceInfo(
  row: HashValue | undefined,
  fallbackSource: string,
): { source: string; timestamp: Timestamp } {
  if (!(row instanceof Hash)) return { source: fallbackSource, timestamp: timestampNow() };
  const source = optionalString(row, "source") || fallbackSource;
  if (!row.hasAttribute("timestamp", "sec")) return { source, timestamp: timestampNow() };
  // One attribute at a time: getAttributes would copy them all into a new object for every token.
  const attr = (name: string) =>
    row.hasAttribute("timestamp", name) ? row.getAttribute("timestamp", name) : undefined;
  const sec = asCount(attr("sec"));
  const f = attr("frac");
  const frac = typeof f === "bigint" ? f : asCount(f) !== undefined ? BigInt(f as number) : undefined;
  const tid = asCount(attr("tid")) ?? 0;
  if (sec === undefined || frac === undefined) {
    throw new PipelineError("PROTOCOL", "sourceInfo timestamp has no valid sec/frac attributes");
  }
  return { source, timestamp: { sec, frac, trainId: tid } };
}

/** Byte sizes of a data header's items, checked against the body length. */
function byteSizes(h: Hash, bodyLength: number): number[] {
  const v = field(h, "byteSizes");
  const list = ArrayBuffer.isView(v) || Array.isArray(v) ? (v as ArrayLike<HashValue>) : undefined;
  if (!list) throw new PipelineError("PROTOCOL", 'data header has no "byteSizes" list of sizes');
  const sizes: number[] = [];
  let total = 0;
  for (let i = 0; i < list.length; i++) {
    const n = asCount(list[i]);
    if (n === undefined) throw new PipelineError("PROTOCOL", 'data header has no "byteSizes" list of sizes');
    sizes.push(n);
    total += n;
  }
  if (total !== bodyLength) {
    throw new PipelineError("PROTOCOL", `byteSizes add up to ${total} bytes, the body has ${bodyLength}`);
  }
  return sizes;
}

function parseHello(h: Hash): InputHello & { outputId: string; welcome: boolean } {
  if (optionalString(h, "reason") !== "hello")
    throw new PipelineError("PROTOCOL", "first message is not a hello");
  const dataDistribution = headerString(h, "dataDistribution");
  const onSlowness = headerString(h, "onSlowness");
  if (!(DATA_DISTRIBUTIONS as readonly string[]).includes(dataDistribution)) {
    throw new PipelineError("PROTOCOL", `hello: dataDistribution "${dataDistribution}" is unknown`);
  }
  if (!(SLOWNESS_POLICIES as readonly string[]).includes(onSlowness)) {
    throw new PipelineError("PROTOCOL", `hello: onSlowness "${onSlowness}" is unknown`);
  }
  const maxQueueLength = h.has("maxQueueLength")
    ? headerCount(h, "maxQueueLength")
    : DEFAULT_MAX_QUEUE_LENGTH;
  if (maxQueueLength < 1) throw new PipelineError("PROTOCOL", "hello: maxQueueLength must be at least 1");
  return {
    inputId: headerString(h, "instanceId"),
    outputId: optionalString(h, "outputId"),
    welcome: h.has("welcome") && h.get("welcome") === true,
    dataDistribution: dataDistribution as InputHello["dataDistribution"],
    onSlowness: onSlowness as InputHello["onSlowness"],
    maxQueueLength,
    // The hello is the input's first request.
    credits: 1,
  };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Starts the TCP side of an output; resolves to its address `tcp://host:port`. */
export function listenTcp(output: OutputEndpoint, options: ListenOptions = {}): Promise<string> {
  const host = options.host ?? "127.0.0.1";
  const maxBody = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const sockets = new Set<Socket>();
  // Inputs' requests are small: each connection's reads land in this one buffer (withReadsInto), read
  // one at a time and parsed before the next.
  const readBuffer = new Uint8Array(64 * 1024);
  const server: Server = createServer({ pauseOnConnect: true }, (socket) =>
    serveInput(output, socket, maxBody, sockets, readBuffer),
  );
  output.onClose(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      server.on("error", (e) => output.log.error("pipeline server error", { error: e.message }));
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
      resolve(`tcp://${shown.includes(":") ? `[${shown}]` : shown}:${port}`);
    });
  });
}

function serveInput(
  output: OutputEndpoint,
  accepted: Socket,
  maxBody: number,
  sockets: Set<Socket>,
  readBuffer: Uint8Array,
): void {
  const remote = `${accepted.remoteAddress}:${accepted.remotePort}`;
  // Requests are read into readBuffer and data written to the handle, past Node's streams: per token
  // their machinery cost the output more CPU than the protocol (docs/measurements.md).
  const socket = withReadsInto(accepted, readBuffer, (bytes) => {
    try {
      reader.push(bytes);
    } catch (e) {
      fail(e);
    }
  });
  const writer = new SocketWriter(socket);
  sockets.add(socket);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
  let handle: PeerHandle | undefined;
  let closing = false;
  const fail = (e: unknown) => {
    if (closing) return;
    closing = true;
    reader.stop();
    const msg = `input connection from ${remote} refused: ${errorText(e)}`;
    output.noteError(msg);
    output.log.warn(msg);
    handle?.detach();
    socket.destroy();
  };
  const session = () => handle?.session ?? output.session;
  const link: PeerLink = {
    memoryLocation: "remote",
    remoteAddress: remote,
    endOfStreamTakesCredit: true,
    deliver(token, info) {
      const chunks = encodeCached(token.data);
      const size = bodyBytes(chunks);
      const { source, timestamp } = token.meta;
      const { seq, dropped, queued } = info;
      writeDataFrame(
        writer,
        [{ source, timestamp, size }],
        { seq, dropped, queued, session: session() },
        chunks,
      );
    },
    deliverEndOfStream(info) {
      const h = new Hash();
      h.set("endOfStream", true);
      h.set("byteSizes", new Uint32Array(0));
      writeFrame(writer, withInfo(h, info, session()));
    },
    // Karabo's protocol has no message for it: the count travels with the next token or end of stream.
    reportDropped: () => {},
    close() {
      if (closing) return;
      closing = true;
      reader.stop();
      socket.end();
    },
  };
  const reader = new FrameReader(
    maxBody,
    (message) => {
      if (!handle) {
        const hello = parseHello(message);
        if (hello.outputId && hello.outputId !== output.id) {
          throw new PipelineError(
            "PROTOCOL",
            `input asked for output ${hello.outputId}, this is ${output.id}`,
          );
        }
        handle = output.attach(hello, link);
        if (hello.welcome) {
          const w = new Hash({ welcome: true, session: handle.session, nData: 0, sourceInfo: [] });
          w.set("byteSizes", new Uint32Array(0));
          writeFrame(writer, w);
        }
        return;
      }
      const reason = optionalString(message, "reason");
      if (reason !== "update") throw new PipelineError("PROTOCOL", `unexpected message "${String(reason)}"`);
      handle.grant(1);
    },
    false,
  );
  socket.on("error", () => {});
  socket.on("close", () => {
    sockets.delete(socket);
    closing = true;
    handle?.detach();
  });
}

/** Options of an input's TCP connection. */
export interface ConnectTcpOptions {
  host: string;
  port: number;
  /** The output the input means to reach; a sase output refuses if it is another. */
  outputId?: string;
  maxTokenBytes?: number;
  connectTimeoutMs?: number;
  log: Logger;
  /** Token memory to read into, and where a token's memory is recorded so it can be handed back. */
  memory?: TokenMemory;
}

/**
 * An input's token memory: message bodies are taken from `pool`, and a token that is its body's only
 * item is recorded in `owner` (InputChannel.release gives that memory back to the pool).
 */
export interface TokenMemory {
  pool: BufferPool;
  owner: WeakMap<DataToken, ArrayBuffer>;
}

/**
 * Connects an input to an output over TCP. Karabo's outputs take one request at a time, so the link
 * keeps at most one outstanding: the input's credits are spent one request after the other, the next
 * going out as soon as the previous one is answered (Karabo's input does the same before it processes).
 * A sase output (it answered the hello with a welcome) counts requests as credits, so up to two go out
 * at once: the next token is on its way while this one arrives, instead of the socket running empty
 * for a round trip per token.
 */
export function connectTcp(opts: ConnectTcpOptions, hello: InputHello, sink: ConnectionSink): InputLink {
  const remote = `${opts.host}:${opts.port}`;
  let connected = false;
  let closed = false;
  let error: string | undefined;
  let credits = hello.credits;
  let outstanding = 0;
  let opened = false;
  let welcomed = false;
  let welcomeTimer: NodeJS.Timeout | undefined;
  const open = (session: string | undefined) => {
    clearTimeout(welcomeTimer);
    if (opened || closed) return;
    opened = true;
    sink.onOpen(session, "remote", remote);
  };
  const fallbackSource = opts.outputId ?? remote;
  // Every request is the same bytes: encoded once, each one a single small write (one per token).
  const requestChunks = [encodeMessage(new Hash({ reason: "update", instanceId: hello.inputId }))];
  const request = () => {
    while (!closed && connected && outstanding < (welcomed ? 2 : 1) && credits > 0) {
      credits--;
      outstanding++;
      writer.write(requestChunks);
    }
  };
  const fail = (e: unknown) => {
    if (closed) return;
    error = errorText(e);
    reader.stop();
    socket.destroy();
  };
  const memory = opts.memory;
  const onMessage = (header: Hash, body: Uint8Array): void => {
    if (field(header, "welcome") !== undefined) {
      if (welcomed) throw new PipelineError("PROTOCOL", "a second welcome");
      welcomed = true;
      // Late (after the wait, on a loaded machine) it changes nothing: the session comes with each token.
      open(headerString(header, "session"));
      request();
      return;
    }
    open(undefined);
    if (outstanding === 0) throw new PipelineError("PROTOCOL", "the output sent a message nobody asked for");
    outstanding--;
    const info = readInfo(header);
    if (field(header, "endOfStream") !== undefined) {
      // End of stream answers a request without being a token: the credit stays with the input.
      credits++;
      request();
      sink.onEndOfStream(info);
      return;
    }
    const sizes = byteSizes(header, body.byteLength);
    const rows = field(header, "sourceInfo") ?? [];
    if (!Array.isArray(rows) || rows.length !== sizes.length) {
      throw new PipelineError(
        "PROTOCOL",
        `data header has ${sizes.length} byteSizes but not as many sourceInfo rows`,
      );
    }
    // Every item takes a credit (the consumer gives one back per item); the request took the first.
    credits -= sizes.length - 1;
    // Asking for the next chunk before handing this one over keeps the output busy while we work.
    request();
    let pos = 0;
    for (let i = 0; i < sizes.length; i++) {
      const data = decodeBody(body.subarray(pos, pos + sizes[i]));
      pos += sizes[i];
      const meta = readSourceInfo(rows[i], fallbackSource);
      const token = { data, meta };
      // Only a body holding one token can be reused when that token is released.
      if (memory && sizes.length === 1) memory.owner.set(token, body.buffer as ArrayBuffer);
      sink.onData(token, sizes.length === 1 ? info : { seq: 0, dropped: info.dropped, queued: info.queued });
    }
  };
  const reader = new FrameReader(
    opts.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES,
    onMessage,
    true,
    memory?.pool,
  );
  // Reads land where the frame reader wants them: token bodies directly in their final buffer.
  const socket = tcpConnect({
    host: opts.host,
    port: opts.port,
    onread: {
      buffer: () => reader.readTarget(),
      callback: (n: number, target: Uint8Array) => {
        try {
          reader.consumed(target, n);
        } catch (e) {
          const msg = `protocol error from output at ${remote}: ${errorText(e)}`;
          opts.log.warn(msg);
          fail(new PipelineError("PROTOCOL", msg));
        }
        return true;
      },
    },
  });
  // Requests (hello, update) go to the socket's handle, past the Writable (see SocketWriter).
  const writer = new SocketWriter(socket);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
  socket.setTimeout(opts.connectTimeoutMs ?? 3000, () =>
    fail(new SaseError("CANNOT_CONNECT", `no answer from ${remote}`)),
  );
  socket.on("connect", () => {
    socket.setTimeout(0);
    const h = new Hash({
      reason: "hello",
      instanceId: hello.inputId,
      memoryLocation: "remote",
      dataDistribution: hello.dataDistribution,
      onSlowness: hello.onSlowness,
    });
    h.set("maxQueueLength", hello.maxQueueLength, "UINT32");
    if (opts.outputId) h.set("outputId", opts.outputId);
    h.set("welcome", true);
    connected = true;
    credits--;
    outstanding = 1;
    writeMessage(writer, h);
    welcomeTimer = setTimeout(() => open(undefined), WELCOME_WAIT_MS);
    welcomeTimer.unref();
  });
  socket.on("error", (e) => {
    error ??= `connection to ${remote}: ${e.message}`;
  });
  socket.on("close", () => {
    clearTimeout(welcomeTimer);
    if (closed) return;
    closed = true;
    sink.onClose(error ?? `connection to ${remote} closed`);
  });
  return {
    grant(n) {
      credits += n;
      request();
    },
    close() {
      clearTimeout(welcomeTimer);
      if (closed) return;
      closed = true;
      reader.stop();
      socket.destroy();
    },
  };
}
