// A facility description: which device servers run where and what each hosts, as one JSON or YAML file
// (.yaml/.yml: the same structure, comments allowed). `sase start --config FILE` launches the servers
// meant for this host, one `sase server` process each.
//
//   { "topic": "sase_demo",                          (optional; else --topic / $KARABO_BROKER_TOPIC)
//     "broker": "amqp://xfel:karabo@127.0.0.1:5672", (optional; else --broker / $KARABO_BROKER)
//     "timeServer": "SASE_RR_SYS/TSYS/TIMESERVER",    (optional; stamps every server's updates)
//     "servers": {
//       "SPB_DET_AGIPD1M-1/SRV/DET0": { "host": "localhost",
//         "devices": { "SPB_DET_AGIPD1M-1/DET/0CH0": { "classId": "DetectorModule", "module": 0 } } } },
//     "gui": { "port": 8080 } }                         (optional; a `sase gui` process on the broker)

import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { createRequire } from "node:module";
import { SaseError } from "../core/index.ts";

/** A device of a server: its class and configuration. */
export interface DeviceEntry {
  readonly classId: string;
  readonly configuration: Record<string, unknown>;
}

/** One device server of the facility. */
export interface ServerEntry {
  readonly serverId: string;
  /** The host it runs on: `localhost` (the default) or a host name. */
  readonly host: string;
  readonly devices: ReadonlyMap<string, DeviceEntry>;
}

/** A parsed facility description. */
export interface FacilityFile {
  readonly topic?: string;
  readonly broker?: string;
  readonly timeServer?: string;
  readonly servers: readonly ServerEntry[];
  readonly gui?: { readonly port: number };
}

const SERVER_ID = /^[A-Za-z0-9_/.-]+$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Checks a facility description that came from a file, naming the first thing wrong in it. */
export function parseFacilityFile(data: unknown, file = "facility file"): FacilityFile {
  const bad = (what: string) => new SaseError("WRONG_TYPE", `${file}: ${what}`);
  if (!isObject(data)) throw bad('expected an object with "servers"');
  for (const key of Object.keys(data)) {
    if (!["topic", "broker", "timeServer", "servers", "gui", "description"].includes(key))
      throw bad(`unknown key "${key}" (known: topic, broker, timeServer, servers, gui, description)`);
  }
  for (const key of ["topic", "broker", "timeServer"] as const) {
    if (data[key] !== undefined && typeof data[key] !== "string") throw bad(`"${key}" must be a string`);
  }
  if (!isObject(data.servers) || Object.keys(data.servers).length === 0)
    throw bad('"servers" must be an object of server id → { host, devices }');
  const seen = new Map<string, string>();
  const servers: ServerEntry[] = [];
  for (const [serverId, entry] of Object.entries(data.servers)) {
    if (!SERVER_ID.test(serverId))
      throw bad(`server id "${serverId}" has characters a server id cannot have`);
    if (!isObject(entry)) throw bad(`server ${serverId}: expected { "host": ..., "devices": { ... } }`);
    for (const key of Object.keys(entry)) {
      if (key !== "host" && key !== "devices")
        throw bad(`server ${serverId}: unknown key "${key}" (known: host, devices)`);
    }
    const host = entry.host ?? "localhost";
    if (typeof host !== "string" || !host) throw bad(`server ${serverId}: "host" must be a host name`);
    if (!isObject(entry.devices))
      throw bad(`server ${serverId}: "devices" must be an object of device id → config`);
    const devices = new Map<string, DeviceEntry>();
    for (const [deviceId, dev] of Object.entries(entry.devices)) {
      if (!isObject(dev) || typeof dev.classId !== "string")
        throw bad(`server ${serverId}: device ${deviceId} needs a "classId"`);
      const other = seen.get(deviceId);
      if (other) throw bad(`device ${deviceId} is on two servers: ${other} and ${serverId}`);
      seen.set(deviceId, serverId);
      const { classId, ...configuration } = dev;
      devices.set(deviceId, { classId, configuration });
    }
    servers.push({ serverId, host, devices });
  }
  let gui: FacilityFile["gui"];
  if (data.gui !== undefined) {
    if (!isObject(data.gui)) throw bad('"gui" must be an object like { "port": 8080 }');
    const port = data.gui.port ?? 8080;
    if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535)
      throw bad('"gui.port" must be a port number (0 = any free port)');
    gui = { port: port as number };
  }
  return {
    topic: data.topic as string | undefined,
    broker: data.broker as string | undefined,
    timeServer: data.timeServer as string | undefined,
    servers,
    gui,
  };
}

/** Reads and checks a facility description file. */
export function readFacilityFile(file: string): FacilityFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SaseError("REFUSED", `--config ${file}: ${(err as Error).message}`);
  }
  const data = /\.ya?ml$/i.test(file) ? parseYaml(text, file) : parseJson(text, file);
  return parseFacilityFile(data, file);
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SaseError("WRONG_TYPE", `--config ${file}: not JSON (${(err as Error).message})`);
  }
}

/** YAML as plain data; a syntax error names its line and column. */
function parseYaml(text: string, file: string): unknown {
  // YAML 1.2's core schema (the default): "no" stays a string and numbers stay numbers, as in JSON.
  // Merge keys (<<: *anchor) let servers share a device template.
  // Loaded on first use: JSON descriptions (and every other command) do not pay for the parser.
  const { parseDocument } = createRequire(import.meta.url)("yaml") as typeof import("yaml");
  const doc = parseDocument(text, { uniqueKeys: true, merge: true });
  const err = doc.errors[0];
  if (err) {
    // The message's first line says what and where ("... at line 3, column 5:"); a code frame follows.
    const what = err.message.split("\n")[0]!.replace(/:$/, "");
    throw new SaseError("WRONG_TYPE", `--config ${file}: not YAML (${what})`);
  }
  return doc.toJS();
}

/** Whether a server's `host` names this machine. */
export function isThisHost(host: string, self = hostname()): boolean {
  return host === "localhost" || host === "127.0.0.1" || host === self || host === self.split(".")[0];
}

/** The Karabo init file of one server (what `sase server --config` reads). */
export function initFileOf(server: ServerEntry): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [deviceId, d] of server.devices) out[deviceId] = { classId: d.classId, ...d.configuration };
  return out;
}
