// The local control endpoint of a running facility: JSON over HTTP on 127.0.0.1, one POST route, guarded
// by a random token kept in a port file only the owner can read. `sase devices/get/set/call` use it
// through ControlClient. Every request names its caller (user + access level) for checks and audit.

import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { type AccessLevel, type Caller, hasAccess, isAccessLevel } from "./access.ts";
import type { DeviceClient } from "./client.ts";
import { errorFromWire, errorToWire, SaseError, type WireError } from "./errors.ts";
import { isNDArray } from "./ndarray.ts";
import { parseValue } from "./validate.ts";

/** What the port file of a running facility holds. */
export interface ControlEndpoint {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
  readonly startedAt: string;
}

/** Operations of the control endpoint. */
export type ControlRequest =
  | { op: "topology" }
  | { op: "configuration"; deviceId: string; keys?: string[] }
  | { op: "schema"; deviceId: string }
  | {
      op: "reconfigure";
      deviceId: string;
      configuration?: Record<string, unknown>;
      text?: Record<string, string>;
    }
  | {
      op: "call";
      deviceId: string;
      slot: string;
      args?: Record<string, unknown>;
      text?: Record<string, string>;
      timeoutMs?: number;
    }
  | {
      op: "instantiate";
      serverId: string;
      classId: string;
      deviceId: string;
      configuration?: Record<string, unknown>;
    }
  | { op: "kill"; deviceId: string };

/** Default location of the port file: $SASE_HOME/control.json (SASE_HOME defaults to ~/.sase). */
export function defaultPortFile(): string {
  return join(process.env.SASE_HOME ?? join(homedir(), ".sase"), "control.json");
}

/** JSON-safe form of device values: bigint → {$bigint}, typed arrays → arrays, NDArrays → a summary. */
export function toJsonSafe(value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (isNDArray(value)) return { $ndarray: { dtype: value.dtype, shape: [...value.shape] } };
  if (ArrayBuffer.isView(value))
    return Array.from(value as unknown as ArrayLike<number | bigint>, toJsonSafe);
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSafe(v)]));
  }
  return value;
}

/** Inverse of `toJsonSafe` for what can be inverted (bigints). */
export function fromJsonSafe(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJsonSafe);
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (typeof o.$bigint === "string" && Object.keys(o).length === 1) return BigInt(o.$bigint);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fromJsonSafe(v)]));
  }
  return value;
}

const STATUS: Partial<Record<string, number>> = {
  UNKNOWN_DEVICE: 404,
  UNKNOWN_SLOT: 404,
  UNKNOWN_CLASS: 404,
  ACCESS_DENIED: 403,
  TIMEOUT: 504,
  SLOT_FAILED: 500,
  INTERNAL: 500,
};

/** The HTTP control endpoint of a facility. */
export class ControlServer {
  private constructor(
    readonly endpoint: ControlEndpoint,
    readonly portFile: string,
    readonly server: Server,
  ) {}

  /** Listens on 127.0.0.1:`port` (0 = any free port) and writes the port file. */
  static async start(
    client: DeviceClient,
    options: { port?: number; portFile?: string; accessLevel?: AccessLevel } = {},
  ): Promise<ControlServer> {
    const token = randomBytes(24).toString("hex");
    const granted = options.accessLevel ?? "operator";
    const server = createServer((req, res) => {
      void handle(client, token, granted, req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const endpoint: ControlEndpoint = {
      url: `http://127.0.0.1:${port}`,
      token,
      pid: process.pid,
      startedAt: new Date().toISOString(),
    };
    const portFile = options.portFile ?? defaultPortFile();
    mkdirSync(dirname(portFile), { recursive: true });
    writeFileSync(portFile, `${JSON.stringify(endpoint, null, 2)}\n`, { mode: 0o600 });
    chmodSync(portFile, 0o600);
    return new ControlServer(endpoint, portFile, server);
  }

  /** Stops listening and removes the port file (if it is still ours). */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    try {
      const current = JSON.parse(readFileSync(this.portFile, "utf8")) as ControlEndpoint;
      if (current.token === this.endpoint.token) rmSync(this.portFile);
    } catch {
      // Already gone: nothing to clean.
    }
  }
}

async function handle(
  client: DeviceClient,
  token: string,
  granted: AccessLevel,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  try {
    if (req.method !== "POST" || req.url !== "/api") {
      reply(404, errorToWire(new SaseError("UNKNOWN_SLOT", "use POST /api")));
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      reply(
        401,
        errorToWire(new SaseError("ACCESS_DENIED", "missing or wrong control token (see the port file)")),
      );
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = fromJsonSafe(JSON.parse(Buffer.concat(chunks).toString("utf8"))) as {
      caller?: Partial<Caller>;
      request?: ControlRequest;
    };
    // Holding the token grants `granted`; a request may act with less (an observer view), never more.
    const claimed = checkCaller(body.caller);
    const caller = hasAccess(granted, claimed.accessLevel) ? claimed : { ...claimed, accessLevel: granted };
    const result = await runControlRequest(client.as(caller), body.request);
    reply(200, { result: toJsonSafe(result) });
  } catch (err) {
    const wire =
      err instanceof SyntaxError
        ? errorToWire(new SaseError("WRONG_TYPE", `bad JSON: ${err.message}`))
        : errorToWire(err);
    reply(STATUS[wire.code] ?? 400, wire);
  }
}

function checkCaller(c: Partial<Caller> | undefined): Caller {
  if (!c || typeof c.user !== "string" || c.user === "")
    throw new SaseError("ACCESS_DENIED", "request names no user");
  if (!isAccessLevel(c.accessLevel))
    throw new SaseError("ACCESS_DENIED", `unknown access level ${JSON.stringify(c.accessLevel)}`);
  return { user: c.user, accessLevel: c.accessLevel };
}

/** Carries out one control operation with `client` (the endpoint's, or one on a networked broker). */
export async function runControlRequest(
  client: DeviceClient,
  r: ControlRequest | undefined,
): Promise<unknown> {
  switch (r?.op) {
    case "topology": {
      const t = await client.topology();
      return { servers: Object.fromEntries(t.servers), devices: Object.fromEntries(t.devices) };
    }
    case "configuration":
      return client.getConfiguration(r.deviceId, r.keys);
    case "schema":
      return { schema: (await client.getSchema(r.deviceId)).toData() };
    case "reconfigure": {
      const config = { ...(r.configuration ?? {}) };
      if (r.text) {
        const schema = await client.getSchema(r.deviceId);
        for (const [key, text] of Object.entries(r.text)) {
          const entry = schema.entry(key);
          if (!entry) {
            config[key] = text; // the device names the unknown key (with a suggestion)
            continue;
          }
          config[key] = parseValue(key, text, entry.element);
        }
      }
      return client.reconfigure(r.deviceId, config);
    }
    case "call": {
      const args = { ...(r.args ?? {}) };
      if (r.text && Object.keys(r.text).length > 0) {
        const schema = await client.getSchema(r.deviceId);
        const slot = schema.entry(r.slot)?.element;
        const spec = slot?.kind === "slot" ? (slot as { args?: Record<string, never> }).args : undefined;
        for (const [key, text] of Object.entries(r.text)) {
          const e = spec?.[key];
          args[key] = e ? parseValue(key, text, e) : text;
        }
      }
      return client.execute(r.deviceId, r.slot, args, r.timeoutMs);
    }
    case "instantiate":
      return client.instantiate(r.serverId, r.classId, r.deviceId, r.configuration ?? {});
    case "kill":
      await client.kill(r.deviceId);
      return { deviceId: r.deviceId };
    default:
      throw new SaseError(
        "UNKNOWN_SLOT",
        `unknown control operation ${JSON.stringify((r as { op?: unknown } | undefined)?.op)}`,
      );
  }
}

/** Talks to a running facility's control endpoint (what the CLI uses). */
export class ControlClient {
  constructor(
    readonly endpoint: ControlEndpoint,
    readonly caller: Caller,
  ) {}

  /** Reads the port file of a running facility; a clear error when none is running. */
  static fromPortFile(caller: Caller, portFile = defaultPortFile()): ControlClient {
    let endpoint: ControlEndpoint;
    try {
      endpoint = JSON.parse(readFileSync(portFile, "utf8")) as ControlEndpoint;
    } catch {
      throw new SaseError(
        "UNKNOWN_DEVICE",
        `no running facility found (no port file ${portFile}); start one with 'sase start', or give --topic (and --broker) for one on a broker`,
      );
    }
    return new ControlClient(endpoint, caller);
  }

  /** Sends one request; a refused request throws the device's typed error. */
  async send<T = unknown>(request: ControlRequest): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.endpoint.url}/api`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this.endpoint.token}` },
        body: JSON.stringify(toJsonSafe({ caller: this.caller, request })),
      });
    } catch (err) {
      throw new SaseError(
        "UNKNOWN_DEVICE",
        `cannot reach the facility at ${this.endpoint.url} (pid ${this.endpoint.pid}): ${(err as Error).message}; is 'sase start' running?`,
      );
    }
    const body = (await res.json()) as { result?: unknown } & Partial<WireError>;
    if (!res.ok || body.error) throw errorFromWire(body as WireError);
    return fromJsonSafe(body.result) as T;
  }
}
