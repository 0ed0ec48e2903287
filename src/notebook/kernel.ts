// A Jupyter kernel for TypeScript, speaking the Jupyter messaging protocol (5.3) over ZeroMQ: shell
// and control (ROUTER), iopub (PUB), stdin (ROUTER, unused), heartbeat (REP echo). Messages are
// signed with HMAC-SHA256 as the connection file says. Cells run in this process (see cells.ts), so
// values live on between cells; `display(x)` shows any value richly (see display.ts).
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import * as zmq from "zeromq";
import { SASE_VERSION } from "../core/index.ts";
import { registerSaseImports } from "../table/index.ts";
import { runCell } from "./cells.ts";
import { mimeBundle } from "./display.ts";

/** What Jupyter writes into a kernel's connection file. */
interface ConnectionInfo {
  transport: string;
  ip: string;
  key: string;
  signature_scheme: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
}

interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

interface Message {
  ids: Buffer[];
  header: Header;
  parent: Partial<Header>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
}

const DELIM = "<IDS|MSG>";

// One send at a time per socket (zeromq refuses concurrent sends on one socket).
class Sender {
  #chain: Promise<void> = Promise.resolve();
  constructor(readonly socket: zmq.Router | zmq.Publisher) {}
  send(frames: (Buffer | string)[]): Promise<void> {
    this.#chain = this.#chain.then(() => this.socket.send(frames)).catch(() => {});
    return this.#chain;
  }
}

/** Runs the kernel until Jupyter asks it to shut down. */
export async function runKernel(connectionFile: string): Promise<void> {
  const info = JSON.parse(readFileSync(connectionFile, "utf8")) as ConnectionInfo;
  const url = (port: number) => `${info.transport}://${info.ip}:${port}`;
  const sign = (parts: string[]) => {
    if (!info.key) return "";
    const h = createHmac("sha256", info.key);
    for (const p of parts) h.update(p);
    return h.digest("hex");
  };
  const session = randomUUID();
  const shell = new zmq.Router();
  const control = new zmq.Router();
  const stdin = new zmq.Router();
  const iopub = new zmq.Publisher();
  const hb = new zmq.Reply();
  await Promise.all([
    shell.bind(url(info.shell_port)),
    control.bind(url(info.control_port)),
    stdin.bind(url(info.stdin_port)),
    iopub.bind(url(info.iopub_port)),
    hb.bind(url(info.hb_port)),
  ]);
  const senders = new Map<unknown, Sender>([
    [shell, new Sender(shell)],
    [control, new Sender(control)],
    [iopub, new Sender(iopub)],
  ]);

  const send = (
    socket: zmq.Router | zmq.Publisher,
    type: string,
    content: Record<string, unknown>,
    parent: Message | null,
    ids: Buffer[] = [],
  ) => {
    const header: Header = {
      msg_id: randomUUID(),
      session,
      username: "sase",
      date: new Date().toISOString(),
      msg_type: type,
      version: "5.3",
    };
    const parts = [header, parent?.header ?? {}, {}, content].map((p) => JSON.stringify(p));
    return (senders.get(socket) as Sender).send([...ids, DELIM, sign(parts), ...parts]);
  };
  const status = (state: "busy" | "idle", parent: Message) =>
    send(iopub, "status", { execution_state: state }, parent, [Buffer.from("status")]);

  let count = 0;
  let stopping = false;
  registerSaseImports();
  const saseEntry = new URL(import.meta.url.endsWith(".ts") ? "../index.ts" : "../index.js", import.meta.url)
    .href;
  const importer = (spec: string) => import(spec === "sase" ? saseEntry : spec);
  (globalThis as Record<string, unknown>).display = (...values: unknown[]) => {
    for (const v of values) void displayOut(v);
  };
  let current: Message | null = null;
  const displayOut = (v: unknown) =>
    current &&
    send(iopub, "display_data", { data: mimeBundle(v), metadata: {}, transient: {} }, current, [
      Buffer.from("display_data"),
    ]);

  const execute = async (m: Message, reply: (c: Record<string, unknown>) => Promise<void>) => {
    const code = String(m.content.code ?? "");
    const silent = m.content.silent === true;
    if (!silent) count++;
    await send(iopub, "execute_input", { code, execution_count: count }, m, [Buffer.from("execute_input")]);
    current = m;
    const log = console.log;
    const error = console.error;
    const stream =
      (name: string) =>
      (...a: unknown[]) =>
        void send(
          iopub,
          "stream",
          { name, text: `${a.map((x) => (typeof x === "string" ? x : inspectShort(x))).join(" ")}\n` },
          m,
          [Buffer.from("stream")],
        );
    console.log = stream("stdout");
    console.error = stream("stderr");
    try {
      const value = await runCell(code, importer);
      if (value !== undefined && !silent)
        await send(
          iopub,
          "execute_result",
          { execution_count: count, data: mimeBundle(value), metadata: {} },
          m,
          [Buffer.from("execute_result")],
        );
      await reply({ status: "ok", execution_count: count, user_expressions: {}, payload: [] });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      const traceback = (err.stack ?? `${err.name}: ${err.message}`).split("\n");
      const content = { ename: err.name, evalue: err.message, traceback };
      await send(iopub, "error", content, m, [Buffer.from("error")]);
      await reply({ status: "error", execution_count: count, ...content });
    } finally {
      console.log = log;
      console.error = error;
      current = null;
    }
  };

  const handle = async (socket: zmq.Router, m: Message) => {
    const reply = (content: Record<string, unknown>) =>
      send(socket, m.header.msg_type.replace(/_request$/, "_reply"), content, m, m.ids);
    await status("busy", m);
    switch (m.header.msg_type) {
      case "kernel_info_request":
        await reply({
          status: "ok",
          protocol_version: "5.3",
          implementation: "sase",
          implementation_version: SASE_VERSION,
          language_info: {
            name: "typescript",
            version: "5",
            mimetype: "text/typescript",
            file_extension: ".ts",
            codemirror_mode: "typescript",
          },
          banner: `sase ${SASE_VERSION} TypeScript kernel (node ${process.version}) on ${hostname()}`,
          help_links: [],
        });
        break;
      case "execute_request":
        await execute(m, reply);
        break;
      case "is_complete_request":
        await reply({ status: "complete" });
        break;
      case "complete_request":
        await reply({ status: "ok", matches: [], cursor_start: 0, cursor_end: 0, metadata: {} });
        break;
      case "inspect_request":
        await reply({ status: "ok", found: false, data: {}, metadata: {} });
        break;
      case "comm_info_request":
        await reply({ status: "ok", comms: {} });
        break;
      case "history_request":
        await reply({ status: "ok", history: [] });
        break;
      case "interrupt_request":
        await reply({ status: "ok" });
        break;
      case "shutdown_request":
        await reply({ status: "ok", restart: m.content.restart === true });
        stopping = true;
        break;
      default:
        break;
    }
    await status("idle", m);
    if (stopping) {
      // Let the last messages leave, then close everything.
      await new Promise((r) => setTimeout(r, 100));
      for (const s of [shell, control, stdin, iopub, hb]) s.close();
    }
  };

  const parse = (frames: Buffer[]): Message | null => {
    const i = frames.findIndex((f) => f.toString() === DELIM);
    if (i < 0) return null;
    const [sig, ...parts] = frames.slice(i + 1, i + 6).map((f) => f.toString());
    if (info.key && sig !== sign(parts)) return null; // not from our Jupyter: ignored
    const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p)) as [
      Header,
      Partial<Header>,
      Record<string, unknown>,
      Record<string, unknown>,
    ];
    return { ids: frames.slice(0, i), header, parent, metadata, content };
  };

  const serve = async (socket: zmq.Router) => {
    // Requests are handled one after the other, in order, as Jupyter expects of a kernel.
    for await (const frames of socket) {
      const m = parse(frames);
      if (m) await handle(socket, m);
      if (stopping) return;
    }
  };
  const beat = async () => {
    for await (const frames of hb) await hb.send(frames);
  };
  await Promise.race([serve(shell), serve(control), beat().catch(() => {})]).catch((e: unknown) => {
    if (!stopping) throw e;
  });
}

function inspectShort(x: unknown): string {
  try {
    return mimeBundle(x)["text/plain"] ?? String(x);
  } catch {
    return String(x);
  }
}
