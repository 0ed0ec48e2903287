// The TCP transport: an output listens, inputs connect and say hello, then the output sends tokens as
// credits arrive. Any bytes that do not follow the protocol close that one connection (logged, counted in
// lastError); the device on either side carries on.
//
// Protocol "sase-pipeline/1" (framing in wire.ts; every header is a binary Hash with a `reason`):
//   input  → output  hello       {protocol, inputId, outputId?, dataDistribution, onSlowness, maxQueueLength, credits}
//   output → input   welcome     {session, outputId}        or  close {message} (refused)
//   input  → output  update      {credits}                  "I can take n more tokens"
//   output → input   data        {seq, dropped, queued, source, sec, frac, trainId, align} + body = token Hash
//   output → input   endOfStream {seq, dropped, queued}     (never dropped; sent after the queued tokens)
//   output → input   dropped     {seq, dropped, queued}     drop count changed with no token to carry it
//   output → input   close       {message}                  before the output closes the connection
// `seq` numbers the output's tokens within its `session`, `dropped` counts the tokens dropped for this
// input by its slowness policy: together they let the input count tokens lost with a broken connection.

import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { Hash, type Logger } from "../core/index.ts";
import type { ConnectionSink, InputHello, InputLink } from "./link.ts";
import type { DeliveryInfo, OutputChannel, PeerHandle, PeerLink } from "./output.ts";
import { DATA_DISTRIBUTIONS, type ListenOptions, PipelineError, SLOWNESS_POLICIES } from "./types.ts";
import {
  decodeBody,
  encodeCached,
  FrameReader,
  headerCount,
  headerString,
  optionalString,
  PROTOCOL,
  writeFrame,
} from "./wire.ts";

const DEFAULT_MAX_TOKEN_BYTES = 1024 * 1024 * 1024;
const MAX_CREDITS = 1_000_000;

function infoHeader(reason: string, info: DeliveryInfo): Hash {
  const h = new Hash();
  h.set("reason", reason);
  h.set("seq", info.seq);
  h.set("dropped", info.dropped);
  h.set("queued", info.queued);
  return h;
}

function readInfo(h: Hash): DeliveryInfo {
  return { seq: headerCount(h, "seq"), dropped: headerCount(h, "dropped"), queued: headerCount(h, "queued") };
}

function parseHello(h: Hash): InputHello & { outputId: string } {
  if (optionalString(h, "reason") !== "hello")
    throw new PipelineError("PROTOCOL", "first message is not a hello");
  if (optionalString(h, "protocol") !== PROTOCOL) {
    throw new PipelineError("PROTOCOL", `protocol "${optionalString(h, "protocol")}" is not ${PROTOCOL}`);
  }
  const dataDistribution = headerString(h, "dataDistribution");
  const onSlowness = headerString(h, "onSlowness");
  if (!(DATA_DISTRIBUTIONS as readonly string[]).includes(dataDistribution)) {
    throw new PipelineError("PROTOCOL", `hello: dataDistribution "${dataDistribution}" is unknown`);
  }
  if (!(SLOWNESS_POLICIES as readonly string[]).includes(onSlowness)) {
    throw new PipelineError("PROTOCOL", `hello: onSlowness "${onSlowness}" is unknown`);
  }
  const maxQueueLength = headerCount(h, "maxQueueLength");
  const credits = headerCount(h, "credits");
  if (maxQueueLength < 1 || credits > MAX_CREDITS)
    throw new PipelineError("PROTOCOL", "hello: bad queue length or credits");
  return {
    inputId: headerString(h, "inputId"),
    outputId: h.has("outputId") ? headerString(h, "outputId") : "",
    dataDistribution: dataDistribution as InputHello["dataDistribution"],
    onSlowness: onSlowness as InputHello["onSlowness"],
    maxQueueLength,
    credits,
  };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Starts the TCP side of an output; resolves to its address `tcp://host:port`. */
export function listenTcp(output: OutputChannel, options: ListenOptions = {}): Promise<string> {
  const host = options.host ?? "127.0.0.1";
  const maxBody = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => serveInput(output, socket, maxBody, sockets));
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

function serveInput(output: OutputChannel, socket: Socket, maxBody: number, sockets: Set<Socket>): void {
  const remote = `${socket.remoteAddress}:${socket.remotePort}`;
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
  const link: PeerLink = {
    memoryLocation: "remote",
    remoteAddress: remote,
    deliver(token, info) {
      const h = infoHeader("data", info);
      const ts = token.meta.timestamp;
      h.set("source", token.meta.source);
      h.set("sec", ts.sec);
      h.set("frac", ts.frac);
      h.set("trainId", ts.trainId);
      writeFrame(socket, h, encodeCached(token.data));
    },
    deliverEndOfStream: (info) => writeFrame(socket, infoHeader("endOfStream", info)),
    reportDropped: (info) => writeFrame(socket, infoHeader("dropped", info)),
    close(reason) {
      if (closing) return;
      closing = true;
      reader.stop();
      writeFrame(socket, new Hash({ reason: "close", message: reason }));
      socket.end();
    },
  };
  const reader = new FrameReader(maxBody, (header) => {
    if (!handle) {
      const hello = parseHello(header);
      if (hello.outputId && hello.outputId !== output.id) {
        throw new PipelineError("PROTOCOL", `input asked for output ${hello.outputId}, this is ${output.id}`);
      }
      handle = output.attach(hello, link);
      writeFrame(socket, new Hash({ reason: "welcome", session: handle.session, outputId: output.id }));
      return;
    }
    const reason = optionalString(header, "reason");
    if (reason !== "update") throw new PipelineError("PROTOCOL", `unexpected message "${String(reason)}"`);
    const n = headerCount(header, "credits");
    if (n > MAX_CREDITS) throw new PipelineError("PROTOCOL", `credit grant ${n} is absurd`);
    handle.grant(n);
  });
  socket.on("data", (chunk) => {
    try {
      reader.push(chunk);
    } catch (e) {
      fail(e);
    }
  });
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
  /** The output the input means to reach; the output refuses if it is another. */
  outputId?: string;
  maxTokenBytes?: number;
  connectTimeoutMs?: number;
  log: Logger;
}

/** Connects an input to an output over TCP. */
export function connectTcp(opts: ConnectTcpOptions, hello: InputHello, sink: ConnectionSink): InputLink {
  const remote = `${opts.host}:${opts.port}`;
  let welcomed = false;
  let closed = false;
  let error: string | undefined;
  const fail = (e: unknown) => {
    if (closed) return;
    error = errorText(e);
    reader.stop();
    socket.destroy();
  };
  const reader = new FrameReader(opts.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES, (header, body) => {
    const reason = optionalString(header, "reason");
    if (!welcomed) {
      if (reason === "close")
        throw new PipelineError("PROTOCOL", `output refused: ${optionalString(header, "message")}`);
      if (reason !== "welcome")
        throw new PipelineError("PROTOCOL", `expected a welcome, got "${String(reason)}"`);
      welcomed = true;
      socket.setTimeout(0);
      sink.onOpen(headerString(header, "session"), "remote", remote);
      return;
    }
    switch (reason) {
      case "data": {
        const info = readInfo(header);
        const data = decodeBody(body);
        const frac = header.get("frac");
        const timestamp = {
          sec: headerCount(header, "sec"),
          frac: typeof frac === "bigint" ? frac : BigInt(Number(frac)),
          trainId: headerCount(header, "trainId"),
        };
        sink.onData({ data, meta: { source: headerString(header, "source"), timestamp } }, info);
        return;
      }
      case "endOfStream":
        sink.onEndOfStream(readInfo(header));
        return;
      case "dropped":
        sink.onDropped(readInfo(header));
        return;
      case "close":
        error = `output closed the connection: ${optionalString(header, "message")}`;
        return;
      default:
        throw new PipelineError("PROTOCOL", `unexpected message "${String(reason)}"`);
    }
  });
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
          fail(new Error(msg));
        }
        return true;
      },
    },
  });
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
  socket.setTimeout(opts.connectTimeoutMs ?? 3000, () => fail(new Error(`no answer from ${remote}`)));
  socket.on("connect", () => {
    const h = new Hash({
      reason: "hello",
      protocol: PROTOCOL,
      inputId: hello.inputId,
      dataDistribution: hello.dataDistribution,
      onSlowness: hello.onSlowness,
      maxQueueLength: hello.maxQueueLength,
      credits: hello.credits,
    });
    if (opts.outputId) h.set("outputId", opts.outputId);
    writeFrame(socket, h);
  });
  socket.on("error", (e) => {
    error ??= `connection to ${remote}: ${e.message}`;
  });
  socket.on("close", () => {
    if (closed) return;
    closed = true;
    sink.onClose(error ?? `connection to ${remote} closed`);
  });
  return {
    grant(n) {
      if (!closed && welcomed) writeFrame(socket, new Hash({ reason: "update", credits: n }));
    },
    close() {
      if (closed) return;
      closed = true;
      reader.stop();
      socket.destroy();
    },
  };
}
