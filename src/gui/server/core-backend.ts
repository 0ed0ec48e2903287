// The GUI's view of a facility built on the core device framework: topology from the broker's presence
// information, states from every device's `state` property, schemas flattened for display, and every
// change sent through a DeviceClient acting for the logged-in user (so devices check access too).
import {
  type AccessLevel,
  type Caller,
  type DeviceClient,
  type InstanceInfo,
  isDerivedFrom,
  isLeaf,
  isNDArray,
  isState,
  METRIC_PREFIXES,
  naturalOrder,
  type PropertyChange,
  SCALAR_TYPES,
  type Schema,
  type SchemaEntry,
  STATES,
  type State,
  stateColor,
  type Timestamp,
  timestampToMs,
  UNITS,
} from "../../core/index.ts";
import type { JsonValue, PropertyInfo, Topology, TopologyServer, WireValue } from "../api.ts";
import type { Identity } from "./auth.ts";
import { asRequestError, type DeviceUpdate, type FacilityBackend, GuiRequestError } from "./backend.ts";

const LEVEL_OF: Record<AccessLevel, number> = { observer: 0, user: 1, operator: 1, expert: 2, admin: 3 };
const VALUE_TYPE: Record<string, string> = {
  ...SCALAR_TYPES,
  state: "STATE",
  ndarray: "NDARRAY",
  image: "IMAGEDATA",
  table: "VECTOR_HASH",
};

/** The core caller for a GUI identity. */
export function callerOf(who: Identity): Caller {
  return { user: who.user, accessLevel: who.role };
}

/** A value as the page shows it (bigints as numbers when exact, arrays summarised). */
export function toWire(v: unknown): WireValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (isNDArray(v)) {
    const head = Array.from(v.data.subarray(0, 8) as ArrayLike<number | bigint>, Number);
    return { array: { dtype: v.dtype, shape: [...v.shape], head } };
  }
  if (ArrayBuffer.isView(v)) {
    const a = v as unknown as ArrayLike<number | bigint>;
    if (a.length <= 64) return Array.from(a, Number);
    return {
      array: {
        dtype: v.constructor.name,
        shape: [a.length],
        head: Array.from({ length: 8 }, (_, i) => Number(a[i])),
      },
    };
  }
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === "number" || typeof x === "bigint")) return v.map(Number);
    if (v.every((x) => typeof x === "string")) return v as string[];
    if (v.every((x) => typeof x === "boolean")) return v as boolean[];
    if (v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x)))
      return toTable(v as object[]);
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
  }
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

/** Rows of a table property (plain objects or Hashes) as columns and cells. */
function toTable(rows: object[]): WireValue {
  const plain = rows.map((r) =>
    typeof (r as { toObject?: unknown }).toObject === "function"
      ? (r as { toObject(): Record<string, unknown> }).toObject()
      : (r as Record<string, unknown>),
  );
  const columns = [...new Set(plain.flatMap((r) => Object.keys(r)))];
  const cell = (x: unknown): string | number | boolean | null =>
    x === undefined || x === null
      ? null
      : typeof x === "number" || typeof x === "string" || typeof x === "boolean"
        ? x
        : typeof x === "bigint"
          ? Number(x)
          : JSON.stringify(x);
  return { table: { columns, rows: plain.slice(0, 100).map((r) => columns.map((c) => cell(r[c]))) } };
}

function stampOf(t: Timestamp | undefined): { ms: number; trainId: number } {
  return t ? { ms: timestampToMs(t), trainId: Number(t.trainId) } : { ms: 0, trainId: 0 };
}

function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;
}

/** Every state an allowed-states list admits (its states and all derived from them), for the page. */
function expandStates(allowed: readonly State[] | undefined): string[] {
  if (!allowed || allowed.length === 0) return [];
  return STATES.filter((s) => allowed.some((a) => isDerivedFrom(s, a)));
}

/** Flattens a schema into display rows, in declaration order. */
export function describeSchema(schema: Schema): PropertyInfo[] {
  return schema.entries().map((e: SchemaEntry): PropertyInfo => {
    const el = e.element;
    const base = {
      key: e.key,
      displayedName: el.displayedName ?? e.key.slice(e.key.lastIndexOf(".") + 1),
      description: el.description ?? "",
      requiredAccessLevel: LEVEL_OF[e.requiredAccessLevel],
    };
    if (el.kind === "slot") {
      return {
        ...base,
        kind: "slot",
        valueType: "SLOT",
        accessMode: "reconfigurable",
        unit: "",
        allowedStates: expandStates(el.allowedStates),
      };
    }
    if (!isLeaf(el)) {
      return { ...base, kind: "node", valueType: "NODE", accessMode: "read", unit: "", allowedStates: [] };
    }
    const prefix = el.prefix ? METRIC_PREFIXES[el.prefix].symbol.replace(/^u$/, "µ") : "";
    const unit = el.unit ? UNITS[el.unit].symbol : "";
    const info: PropertyInfo = {
      ...base,
      kind: "property",
      valueType:
        el.kind === "vector"
          ? `VECTOR_${String(el.of).toUpperCase()}`
          : (VALUE_TYPE[el.kind] ?? el.kind.toUpperCase()),
      accessMode: e.access === "readOnly" ? "read" : e.access,
      unit: unit ? prefix + unit : "",
      allowedStates: expandStates(el.allowedStates),
    };
    const minInc = num(el.min);
    const maxInc = num(el.max);
    const minExc = num(el.minExc);
    const maxExc = num(el.maxExc);
    if (minInc !== undefined) info.minInc = minInc;
    if (maxInc !== undefined) info.maxInc = maxInc;
    if (minExc !== undefined) info.minExc = minExc;
    if (maxExc !== undefined) info.maxExc = maxExc;
    if (el.options && el.kind !== "state")
      info.options = el.options.map((o) => (typeof o === "number" ? o : String(o)));
    return info;
  });
}

/** Converts page values to what the schema wants (integers of 64-bit properties as bigint). */
function fromWire(schema: Schema, values: Record<string, JsonValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(values)) {
    const el = schema.entry(key)?.element;
    const big = el?.kind === "int64" || el?.kind === "uint64";
    const bigVec = el?.kind === "vector" && (el.of === "int64" || el.of === "uint64");
    if (big && typeof v === "number" && Number.isInteger(v)) out[key] = BigInt(v);
    else if (bigVec && Array.isArray(v))
      out[key] = v.map((x) => (typeof x === "number" && Number.isInteger(x) ? BigInt(x) : x));
    else out[key] = v;
  }
  return out;
}

/** FacilityBackend over a core broker. Create with `CoreBackend.connect`. */
export class CoreBackend implements FacilityBackend {
  readonly #client: DeviceClient;
  readonly #servers = new Map<string, InstanceInfo>();
  readonly #devices = new Map<string, InstanceInfo>();
  readonly #states = new Map<string, string>();
  readonly #listeners = new Set<() => void>();
  readonly #closers: (() => void)[] = [];

  private constructor(client: DeviceClient) {
    this.#client = client;
  }

  /** Reads the topology and keeps it (and every device's state) current from then on. */
  static async connect(client: DeviceClient): Promise<CoreBackend> {
    const b = new CoreBackend(client);
    const broker = client.broker;
    // Subscribe before reading, so nothing that happens in between is missed.
    const states = broker.subscribe("*", "state", (c: PropertyChange) => b.#onState(c));
    const topo = broker.watchTopology((ev) => {
      if (ev.event === "gone") {
        b.#servers.delete(ev.instanceId);
        b.#devices.delete(ev.instanceId);
        b.#states.delete(ev.instanceId);
      } else {
        b.#add(ev.instanceId, ev.info);
      }
      b.#changed();
    });
    b.#closers.push(
      () => states.close(),
      () => topo.close(),
    );
    for (const [id, info] of await broker.topology()) b.#add(id, info);
    b.#changed();
    return b;
  }

  /** Stops following the broker. */
  close(): void {
    for (const c of this.#closers.splice(0)) c();
  }

  #add(id: string, info: InstanceInfo): void {
    if (info.type === "server") this.#servers.set(id, info);
    if (info.type !== "device") return;
    const known = this.#devices.has(id);
    this.#devices.set(id, info);
    if (!known) {
      this.#client
        .get(id, "state")
        .then((s) => {
          if (typeof s === "string" && this.#devices.has(id) && !this.#states.has(id)) {
            this.#states.set(id, s);
            this.#changed();
          }
        })
        .catch(() => {});
    }
  }

  #onState(c: PropertyChange): void {
    if (c.key !== "state" || typeof c.value !== "string") return;
    if (this.#states.get(c.deviceId) === c.value) return;
    this.#states.set(c.deviceId, c.value);
    this.#changed();
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }

  topology(): Topology {
    const servers = new Map<string, TopologyServer>();
    for (const [id, info] of this.#servers) {
      servers.set(id, { id, host: info.host, classes: [...(info.deviceClasses ?? [])].sort(), devices: [] });
    }
    for (const [id, info] of [...this.#devices].sort(([a], [b]) => naturalOrder(a, b))) {
      const serverId = info.serverId ?? "(no server)";
      let srv = servers.get(serverId);
      if (!srv) {
        srv = { id: serverId, host: info.host, classes: [], devices: [] };
        servers.set(serverId, srv);
      }
      const state = this.#states.get(id) ?? "UNKNOWN";
      srv.devices.push({
        id,
        classId: info.classId ?? "?",
        serverId,
        host: info.host,
        state,
        colour: isState(state) ? stateColor(state) : stateColor("UNKNOWN" as State),
      });
    }
    const hosts = new Map<string, TopologyServer[]>();
    for (const s of [...servers.values()].sort((a, b) => naturalOrder(a.id, b.id))) {
      const list = hosts.get(s.host) ?? [];
      list.push(s);
      hosts.set(s.host, list);
    }
    return {
      hosts: [...hosts]
        .sort(([a], [b]) => naturalOrder(a, b))
        .map(([host, list]) => ({ host, servers: list })),
    };
  }

  onTopology(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async describe(deviceId: string): Promise<{ classId: string; properties: PropertyInfo[] }> {
    const info = this.#devices.get(deviceId);
    if (!info) throw new GuiRequestError(`no device "${deviceId}"`, undefined, "UNKNOWN_DEVICE");
    this.#client.forget(deviceId);
    const schema = await this.#client.getSchema(deviceId).catch((e) => {
      throw asRequestError(e);
    });
    return { classId: info.classId ?? "?", properties: describeSchema(schema) };
  }

  async watch(deviceId: string, listener: (updates: DeviceUpdate[]) => void): Promise<() => void> {
    // Changes are batched per event-loop turn: a device setting ten keys is one message to the page.
    let batch: DeviceUpdate[] = [];
    let flush: NodeJS.Immediate | null = null;
    let ready = false;
    const sub = this.#client.broker.subscribe(deviceId, undefined, (c) => {
      batch.push({ key: c.key, value: toWire(c.value), stamp: stampOf(c.timestamp) });
      if (ready) flush ??= setImmediate(send);
    });
    const send = () => {
      flush = null;
      if (batch.length === 0) return;
      const b = batch;
      batch = [];
      listener(b);
    };
    try {
      const config = await this.#client.getConfiguration(deviceId);
      const first: DeviceUpdate[] = Object.entries(config.values).map(([key, value]) => ({
        key,
        value: toWire(value),
        stamp: stampOf(config.timestamps[key]),
      }));
      listener(first);
    } catch (e) {
      sub.close();
      throw asRequestError(e);
    }
    ready = true;
    send();
    return () => {
      sub.close();
      if (flush) clearImmediate(flush);
    };
  }

  async set(deviceId: string, values: Record<string, JsonValue>, who: Identity): Promise<void> {
    const client = this.#client.as(callerOf(who));
    try {
      const schema = await client.getSchema(deviceId);
      await client.reconfigure(deviceId, fromWire(schema, values));
    } catch (e) {
      throw asRequestError(e);
    }
  }

  async call(deviceId: string, slot: string, who: Identity): Promise<JsonValue | undefined> {
    try {
      const r = await this.#client.as(callerOf(who)).execute(deviceId, slot);
      if (r === undefined || r === null) return undefined;
      return JSON.parse(
        JSON.stringify(r, (_k, x) => (typeof x === "bigint" ? x.toString() : x)),
      ) as JsonValue;
    } catch (e) {
      throw asRequestError(e);
    }
  }

  async instantiate(
    serverId: string,
    classId: string,
    deviceId: string,
    config: Record<string, JsonValue>,
    who: Identity,
  ): Promise<void> {
    try {
      await this.#client.as(callerOf(who)).instantiate(serverId, classId, deviceId, config);
    } catch (e) {
      throw asRequestError(e);
    }
  }

  async kill(deviceId: string, who: Identity): Promise<void> {
    try {
      await this.#client.as(callerOf(who)).kill(deviceId);
    } catch (e) {
      throw asRequestError(e);
    }
  }
}
