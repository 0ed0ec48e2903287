// The GUI server: serves the page (bundled at start), logs users in, and speaks the typed WebSocket API
// of api.ts. It is the only way from the page to the facility; every change passes role checks and
// schema validation here and is written to the change log with who made it.
import type { AddressInfo } from "node:net";
import websocket from "@fastify/websocket";
import Fastify, { type FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { createLogger, type Logger } from "../../core/index.ts";
import {
  type AnalysisRequest,
  type ClientMessage,
  GUI_PROTOCOL,
  type JsonValue,
  type PropertyInfo,
  type Role,
  type RunTableInfo,
  roleLevel,
  type ServerMessage,
  type TrainPlots,
} from "../api.ts";
import { AuditLog } from "./audit.ts";
import { Auth, demoUsers, type Identity, type UserRecord } from "./auth.ts";
import {
  asRequestError,
  type FacilityBackend,
  GuiRequestError,
  type ImageFeed,
  type RunsBackend,
} from "./backend.ts";
import { webBundle } from "./bundle.ts";
import { type AnalysisOptions, AnalysisService, type AnalysisViewer } from "./analysis.ts";
import { LiveHub, type LiveStats, type LiveViewer } from "./live.ts";
import type { RunTableBackend } from "./run-table.ts";
import { ProtocolError, parseClientMessage } from "./protocol.ts";
import { validateReconfiguration, validateSlotCall } from "./validate.ts";

/** How to run the GUI server. */
export interface GuiServerOptions {
  /** The facility's devices (topology, schemas, values, changes). */
  backend: FacilityBackend;
  /** The live detector image, when there is one. */
  image?: ImageFeed;
  /** The analysis graph store and proposal (needs `image`): the graph runs on the live image. */
  analysis?: AnalysisOptions;
  /** Run control and catalogue, when the DAQ is present. */
  runs?: RunsBackend;
  /** The run table (variables per run from the catalogue), when there is a catalogue. */
  table?: RunTableBackend;
  /** Who may log in; default: the demo users observer/operator/expert (password = name). */
  users?: UserRecord[];
  /** TCP port (default 8080; 0 picks a free one). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Append the change log to this JSON-lines file too. */
  auditFile?: string;
  log?: Logger;
}

/** A running GUI server. */
export interface GuiServer {
  /** The page's URL, e.g. http://127.0.0.1:8080/ */
  readonly url: string;
  readonly port: number;
  readonly audit: AuditLog;
  /** Live-stream counters (trains seen, frames sent and dropped). */
  liveStats(): LiveStats | null;
  close(): Promise<void>;
}

const TOKEN_COOKIE = "sase_token";
const PLOTS_BACKLOG_BYTES = 4 * 1024 * 1024;

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

/** Starts the GUI server and resolves once it listens. */
export async function startGuiServer(opts: GuiServerOptions): Promise<GuiServer> {
  const log = opts.log ?? createLogger("gui");
  const auth = new Auth(opts.users ?? demoUsers());
  const audit = new AuditLog(log.child("audit"), opts.auditFile);
  const live = opts.image ? new LiveHub(opts.image) : null;
  const analysis =
    opts.image && opts.analysis
      ? await AnalysisService.start(opts.analysis, opts.image, opts.backend, log.child("analysis"))
      : null;
  const bundle = await webBundle();
  const sessions = new Set<Session>();

  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });

  for (const [path, file] of bundle.files) {
    app.get(path, (_req, reply) => {
      reply.header("cache-control", "no-cache").type(file.type).send(file.body);
    });
  }

  app.post("/api/login", async (req, reply) => {
    const body = req.body as { user?: unknown; password?: unknown } | null;
    if (!body || typeof body.user !== "string" || typeof body.password !== "string") {
      return reply.code(400).send({ error: "expected JSON {user, password}" });
    }
    const r = auth.login(body.user, body.password);
    if (!r) {
      audit.record(
        { user: body.user, role: "observer" },
        "login",
        "gui",
        "wrong user name or password",
        false,
      );
      return reply.code(401).send({ error: "wrong user name or password" });
    }
    audit.record(r.identity, "login", "gui", `as ${r.identity.role}`, true);
    reply.header("set-cookie", `${TOKEN_COOKIE}=${r.token}; Path=/; HttpOnly; SameSite=Strict`);
    return { token: r.token, user: r.identity.user, role: r.identity.role };
  });

  app.post("/api/logout", async (req, reply) => {
    const token = cookie(req.headers.cookie, TOKEN_COOKIE);
    if (token) auth.logout(token);
    reply.header("set-cookie", `${TOKEN_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    return { ok: true };
  });

  app.get("/ws", { websocket: true }, (socket, req) => {
    // Scripts pass ?token=…; the page sends its HttpOnly cookie.
    const q = req.query as { token?: string };
    const bearer = req.headers.authorization?.replace(/^Bearer\s+/i, "");
    // A page of another site may open a socket here with the user's cookie: its socket only observes.
    const origin = req.headers.origin;
    const foreign = origin !== undefined && origin.replace(/^https?:\/\//, "") !== req.headers.host;
    const fromCookie = foreign ? undefined : cookie(req.headers.cookie, TOKEN_COOKIE);
    const identity = auth.identify(q.token ?? bearer ?? fromCookie);
    const s = new Session(socket, identity, ctx);
    sessions.add(s);
    socket.on("close", () => {
      sessions.delete(s);
      s.close();
    });
  });

  const broadcast = (m: ServerMessage) => {
    for (const s of sessions) s.send(m);
  };
  let topoTimer: NodeJS.Timeout | null = null;
  const offTopology = opts.backend.onTopology(() => {
    // Coalesce bursts (a server starting ten devices) into one message.
    topoTimer ??= setTimeout(() => {
      topoTimer = null;
      const topology = opts.backend.topology();
      broadcast({ t: "topology", topology });
      const present = new Set(
        topology.hosts.flatMap((h) => h.servers.flatMap((x) => x.devices.map((d) => d.id))),
      );
      for (const s of sessions) s.dropGone(present);
    }, 50);
  });
  const offAudit = audit.onEntry((e) => broadcast({ t: "audit", entries: [e] }));
  const offRuns = opts.runs?.onChange(() => {
    for (const s of sessions) void s.sendRuns();
  });

  const offTable = opts.table?.onChange(() => {
    const tables = opts.table?.tables() ?? [];
    for (const s of sessions) s.sendTable(tables);
  });
  // The run table as CSV (observers may read it, like everything else).
  app.get("/api/table.csv", async (req, reply) => {
    const proposal = Number((req.query as { proposal?: string }).proposal);
    if (!opts.table) return reply.code(404).send({ error: "no run table in this facility" });
    if (!Number.isInteger(proposal) || proposal <= 0)
      return reply.code(400).send({ error: "expected ?proposal=N (a positive integer)" });
    reply
      .type("text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="run-table-p${proposal}.csv"`);
    return opts.table.csv(proposal);
  });

  const ctx: SessionContext = {
    backend: opts.backend,
    runs: opts.runs,
    table: opts.table,
    live,
    analysis,
    audit,
    log,
  };

  try {
    await app.listen({ port: opts.port ?? 8080, host: opts.host ?? "127.0.0.1" });
  } catch (e) {
    offTopology();
    offAudit();
    offRuns?.();
    offTable?.();
    analysis?.close();
    await app.close();
    throw e;
  }
  const port = (app.server.address() as AddressInfo).port;
  const host = opts.host && opts.host !== "0.0.0.0" ? opts.host : "127.0.0.1";
  const url = `http://${host}:${port}/`;
  log.info("GUI listening", { url });

  return {
    url,
    port,
    audit,
    liveStats: () => live?.stats ?? null,
    async close() {
      offTopology();
      offAudit();
      offRuns?.();
      offTable?.();
      if (topoTimer) clearTimeout(topoTimer);
      for (const s of sessions) s.close();
      analysis?.close();
      await app.close();
    },
  };
}

interface SessionContext {
  backend: FacilityBackend;
  runs: RunsBackend | undefined;
  table: RunTableBackend | undefined;
  live: LiveHub | null;
  analysis: AnalysisService | null;
  audit: AuditLog;
  log: Logger;
}

/** One page's connection: what it watches, and its requests. */
class Session implements LiveViewer, AnalysisViewer {
  readonly #ws: WebSocket;
  readonly #who: Identity;
  readonly #ctx: SessionContext;
  readonly #watches = new Map<string, Promise<() => void>>();
  readonly #trends = new Map<string, Promise<() => void>>();
  readonly #schemas = new Map<string, Promise<{ classId: string; properties: PropertyInfo[] }>>();
  #closed = false;
  #wantsTable = false;

  constructor(ws: WebSocket, who: Identity, ctx: SessionContext) {
    this.#ws = ws;
    this.#who = who;
    this.#ctx = ctx;
    ws.on("message", (data, isBinary) => {
      if (isBinary) return this.#notice("error", "binary messages are not accepted");
      void this.#handle(data.toString());
    });
    this.send({
      t: "welcome",
      protocol: GUI_PROTOCOL,
      user: who.user,
      role: who.role,
      imageSource: ctx.live?.source ?? null,
      imageViews: [...(ctx.live?.views ?? [])],
      imageView: ctx.live?.view ?? "",
      runsAvailable: ctx.runs !== undefined,
      tableAvailable: ctx.table !== undefined,
    });
    this.send({ t: "topology", topology: ctx.backend.topology() });
    this.send({ t: "audit", entries: ctx.audit.recent() });
    if (ctx.runs) void this.sendRuns();
  }

  /** Sends one JSON message, unless the page has gone. */
  send(m: ServerMessage): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(JSON.stringify(m));
  }

  sendImage(frame: Uint8Array): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(frame, { binary: true });
  }

  sendPlots(plots: TrainPlots): void {
    // Plots are superseded by the next train: skip them for a page whose socket is backed up rather
    // than queue stale ones (images have their own flow control; values are never skipped).
    if (this.#ws.bufferedAmount > PLOTS_BACKLOG_BYTES) return;
    this.send({ t: "plots", plots });
  }

  /** Tells the page about watched devices that have gone, and stops watching them. */
  dropGone(present: Set<string>): void {
    for (const [id, off] of this.#watches) {
      if (present.has(id)) continue;
      this.#watches.delete(id);
      this.#schemas.delete(id);
      void off.then((f) => f()).catch(() => {});
      this.send({ t: "deviceGone", deviceId: id });
    }
  }

  async sendRuns(): Promise<void> {
    const runs = this.#ctx.runs;
    if (!runs) return;
    try {
      const [list, st] = await Promise.all([runs.list(), runs.status()]);
      this.send({ t: "runs", runs: list, state: st.state, current: st.current, qualities: runs.qualities() });
    } catch (e) {
      this.#notice("error", `run catalogue: ${(e as Error).message}`);
    }
  }

  /** Sends the run table, if the page asked for it. */
  sendTable(tables: RunTableInfo[]): void {
    if (this.#wantsTable) this.send({ t: "runTable", tables });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ctx.live?.remove(this);
    this.#ctx.analysis?.watch(this, false);
    for (const off of [...this.#watches.values(), ...this.#trends.values()]) {
      void off.then((f) => f()).catch(() => {});
    }
    this.#watches.clear();
    this.#trends.clear();
  }

  backedUp(): boolean {
    return this.#ws.bufferedAmount > PLOTS_BACKLOG_BYTES;
  }

  /** The analysis graph: watching is for everyone, saving and resetting for operators. */
  async #analysis(
    m: AnalysisRequest,
    logged: <T>(action: string, target: string, detail: string, fn: () => Promise<T>) => Promise<T>,
  ): Promise<JsonValue | undefined> {
    const service = this.#ctx.analysis;
    if (!service)
      throw new GuiRequestError("no live image to analyse in this facility", undefined, "NOT_AVAILABLE");
    if (m.op === "watch") {
      service.watch(this, m.on);
      return undefined;
    }
    if (m.op === "save") {
      const name = String((m.graph as { name?: unknown }).name ?? "");
      return logged("analysis save", `graph ${name}`, "", async () => {
        this.#require("operator", "saving an analysis graph");
        return { revision: await service.save(m.graph) };
      });
    }
    return logged("analysis reset", m.node ?? "all nodes", "", async () => {
      this.#require("operator", "resetting accumulations");
      service.reset(m.node);
      return undefined;
    });
  }

  #notice(level: "info" | "warn" | "error", text: string): void {
    this.send({ t: "notice", level, text });
  }

  #describe(deviceId: string): Promise<{ classId: string; properties: PropertyInfo[] }> {
    let p = this.#schemas.get(deviceId);
    if (!p) {
      p = this.#ctx.backend.describe(deviceId);
      p.catch(() => this.#schemas.delete(deviceId));
      this.#schemas.set(deviceId, p);
    }
    return p;
  }

  async #schema(deviceId: string): Promise<PropertyInfo[]> {
    return (await this.#describe(deviceId)).properties;
  }

  #state(deviceId: string): string {
    for (const h of this.#ctx.backend.topology().hosts) {
      for (const s of h.servers) {
        const d = s.devices.find((x) => x.id === deviceId);
        if (d) return d.state;
      }
    }
    throw new GuiRequestError(`no device "${deviceId}"`, undefined, "UNKNOWN_DEVICE");
  }

  #require(role: Role, what: string): void {
    if (roleLevel(this.#who.role) < roleLevel(role)) {
      throw new GuiRequestError(
        `${what} needs the ${role} role; you are ${this.#who.role} — log in to change things`,
        undefined,
        "ACCESS_DENIED",
      );
    }
  }

  async #handle(text: string): Promise<void> {
    let m: ClientMessage;
    try {
      m = parseClientMessage(text);
    } catch (e) {
      if (e instanceof ProtocolError) return this.#notice("error", `bad request: ${e.message}`);
      throw e;
    }
    if ("req" in m) {
      try {
        const result = await this.#request(m);
        this.send(
          result === undefined
            ? { t: "reply", req: m.req, ok: true }
            : { t: "reply", req: m.req, ok: true, result },
        );
      } catch (e) {
        const { code, message, field } = asRequestError(e);
        this.send({
          t: "reply",
          req: m.req,
          ok: false,
          error: field === undefined ? { code, message } : { code, message, field },
        });
      }
      return;
    }
    try {
      await this.#stream(m);
    } catch (e) {
      this.#notice("error", (e as Error).message);
    }
  }

  /** Messages that change what this page receives (no reply). */
  async #stream(m: ClientMessage): Promise<void> {
    const { backend, live } = this.#ctx;
    switch (m.t) {
      case "watchDevice": {
        // Watching again (a page re-building its panel) re-sends the schema and the current values.
        // The new watch is chained behind the old one's end and registered at once, so two requests
        // in a row never leave a subscription behind.
        const id = m.deviceId;
        const old = this.#watches.get(id);
        const next = (async () => {
          if (old) await old.then((off) => off()).catch(() => {});
          this.#schemas.delete(id); // a device restarted under the same id may have a new schema
          const d = await this.#describe(id);
          this.send({ t: "schema", deviceId: id, classId: d.classId, properties: d.properties });
          return backend.watch(id, (values) => this.send({ t: "values", deviceId: id, values }));
        })();
        this.#watches.set(id, next);
        try {
          const off = await next;
          if (this.#closed) off();
        } catch (e) {
          if (this.#watches.get(id) === next) this.#watches.delete(id);
          throw e;
        }
        return;
      }
      case "unwatchDevice": {
        const off = this.#watches.get(m.deviceId);
        this.#watches.delete(m.deviceId);
        if (off) (await off)();
        return;
      }
      case "watchImage":
        if (!live) return this.#notice("warn", "no detector image source in this facility");
        if (m.on) live.add(this);
        else live.remove(this);
        return;
      case "imageDrawn":
        live?.drawn(this);
        return;
      case "imageView":
        live?.setView(this, m.binning, m.region ?? null);
        return;
      case "imageSelect":
        if (!live?.selectView(m.view))
          return this.#notice(
            "warn",
            `the live image has no view "${m.view}" (${live?.views.join(", ") || "none"})`,
          );
        return;
      case "setRoi":
        live?.setRoi(this, m);
        return;
      case "trend": {
        const id = `${m.deviceId}\u0000${m.key}`;
        const old = this.#trends.get(id);
        if (old) {
          this.#trends.delete(id);
          (await old)();
        }
        if (!m.on) return;
        const off = backend.watch(m.deviceId, (values) => {
          const points = values
            .filter((v) => v.key === m.key && typeof v.value === "number")
            .map((v) => ({ ms: v.stamp.ms, trainId: v.stamp.trainId, value: v.value as number }));
          if (points.length) this.send({ t: "trend", deviceId: m.deviceId, key: m.key, points });
        });
        this.#trends.set(id, off);
        await off;
        return;
      }
      default:
        return;
    }
  }

  /** Requests that get a reply; changes are role-checked, validated and logged. */
  async #request(m: ClientMessage & { req: number }): Promise<JsonValue | undefined> {
    const { backend, runs, table, audit } = this.#ctx;
    const who = this.#who;
    const logged = async <T>(
      action: string,
      target: string,
      detail: string,
      fn: () => Promise<T>,
    ): Promise<T> => {
      try {
        const r = await fn();
        audit.record(who, action, target, detail, true);
        return r;
      } catch (e) {
        audit.record(who, action, target, `${detail}: ${(e as Error).message}`, false);
        throw e;
      }
    };
    switch (m.t) {
      case "set": {
        const detail = Object.entries(m.values)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(", ");
        return logged("set", m.deviceId, detail, async () => {
          this.#require("operator", "changing a property");
          validateReconfiguration(
            await this.#schema(m.deviceId),
            m.values,
            who.role,
            this.#state(m.deviceId),
          );
          await backend.set(m.deviceId, m.values, who);
          return undefined;
        });
      }
      case "call":
        return logged("call", m.deviceId, m.slot, async () => {
          this.#require("operator", "calling a slot");
          validateSlotCall(await this.#schema(m.deviceId), m.slot, who.role, this.#state(m.deviceId));
          return backend.call(m.deviceId, m.slot, who);
        });
      case "instantiate":
        return logged("instantiate", m.deviceId, `${m.classId} on ${m.serverId}`, async () => {
          this.#require("operator", "starting a device");
          await backend.instantiate(m.serverId, m.classId, m.deviceId, m.config, who);
          return undefined;
        });
      case "kill":
        return logged("kill", m.deviceId, "", async () => {
          this.#require("operator", "stopping a device");
          await backend.kill(m.deviceId, who);
          this.#schemas.delete(m.deviceId);
          return undefined;
        });
      case "runs":
        if (!runs) throw new GuiRequestError("no run control in this facility", undefined, "NOT_AVAILABLE");
        await this.sendRuns();
        return undefined;
      case "runControl":
        return logged(`run ${m.action}`, "run control", `${m.runType} ${m.sample}`.trim(), async () => {
          this.#require("operator", "run control");
          if (!runs) throw new GuiRequestError("no run control in this facility", undefined, "NOT_AVAILABLE");
          if (m.action === "start") await runs.start(m.runType, m.sample, who);
          else await runs.stop(who);
          return undefined;
        });
      case "setQuality":
        return logged("quality", `run ${m.proposal}/${m.run}`, m.quality, async () => {
          this.#require("operator", "flagging a run");
          if (!runs)
            throw new GuiRequestError("no run catalogue in this facility", undefined, "NOT_AVAILABLE");
          if (!runs.qualities().includes(m.quality)) {
            throw new GuiRequestError(
              `quality must be one of ${runs.qualities().join(", ")}`,
              "quality",
              "NOT_IN_OPTIONS",
            );
          }
          await runs.setQuality(m.proposal, m.run, m.quality, who);
          return undefined;
        });
      case "analysis":
        return this.#analysis(m, logged);
      case "runTable":
        if (!table) throw new GuiRequestError("no run table in this facility", undefined, "NOT_AVAILABLE");
        this.#wantsTable = true;
        this.sendTable(table.tables());
        return undefined;
      case "tableCell":
        if (!table) throw new GuiRequestError("no run table in this facility", undefined, "NOT_AVAILABLE");
        return (await table.cell(m.proposal, m.run, m.name)) as unknown as JsonValue;
      case "tableComment":
        return logged("comment", `run ${m.proposal}/${m.run}`, m.comment, async () => {
          this.#require("operator", "commenting a run");
          if (!table) throw new GuiRequestError("no run table in this facility", undefined, "NOT_AVAILABLE");
          table.setComment(m.proposal, m.run, m.comment, who);
          return undefined;
        });
      default:
        return undefined;
    }
  }
}
