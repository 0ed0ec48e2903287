// The Device base class and `defineDevice`, the one way to declare a device: a schema (properties and
// slots, types inferred), a state machine (the `state` property plus `allowedStates` on slots and
// properties) and slot methods. A device class is one short file:
//
//   export class Shutter extends defineDevice({ classId: "Shutter", schema: { ..., open: el.slot(...) } }) {
//     override onInit() { this.updateState(State.CLOSED); }
//     open() { this.updateState(State.OPENED); }
//   }

import { type Caller, hasAccess } from "./access.ts";
import type { Broker, PropertyChange, SlotRequest } from "./broker.ts";
import type { TrainClock } from "./clock.ts";
import { isFrameworkError, SaseError, showValue, ValidationError } from "./errors.ts";
import type { Logger } from "./log.ts";
import { el, isLeaf, type Props, Schema, type SchemaSpec, type SlotElement } from "./schema.ts";
import { isDerivedFrom, State } from "./state.ts";
import type { Timestamp } from "./timestamp.ts";
import { type GridShare, TrainGrids } from "./train-grid.ts";
import { checkValue, validateConfiguration } from "./validate.ts";

/** The keys every device has, ahead of its own. */
export const deviceBaseSchema = {
  deviceId: el.string({ displayedName: "Device ID", access: "readOnly" }),
  classId: el.string({ displayedName: "Class", access: "readOnly" }),
  serverId: el.string({ displayedName: "Server", access: "readOnly" }),
  state: el.state({ displayedName: "State", default: State.UNKNOWN }),
  status: el.string({
    displayedName: "Status",
    description: "What the device is doing, or why it failed",
    access: "readOnly",
    default: "",
  }),
} satisfies SchemaSpec;

/** Every property of a device with schema `S`, including the base keys. */
export type DeviceProps<S extends SchemaSpec> = Props<typeof deviceBaseSchema> & Props<S>;

/** What the device server hands a device when it creates it. */
export interface DeviceContext {
  readonly deviceId: string;
  readonly serverId: string;
  readonly broker: Broker;
  readonly clock: TrainClock;
  /** The server's train grids (absent: the device's grids are its own). */
  readonly grids?: TrainGrids;
  readonly log: Logger;
  /** The validated initial configuration (defaults filled in), by dotted key. */
  readonly configuration: ReadonlyMap<string, unknown>;
}

/** A device class: constructor plus its identity and schema (what `defineDevice` returns). */
export interface DeviceClass<S extends SchemaSpec = SchemaSpec> {
  new (context: DeviceContext): Device<S>;
  readonly classId: string;
  readonly description: string;
  /** The full compiled schema (base keys + the class's own). */
  readonly schema: Schema;
}

/** A value with its time and train, as `snapshot()` reports it. */
export interface TimedValue {
  readonly value: unknown;
  readonly timestamp: Timestamp;
}

/** Declares a device class: `class Motor extends defineDevice({ classId, schema }) { ... }`. */
export function defineDevice<const S extends SchemaSpec>(definition: {
  readonly classId: string;
  readonly schema: S;
  readonly description?: string;
}): DeviceClass<S> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(definition.classId)) {
    throw new SaseError(
      "BAD_SCHEMA",
      `class id ${JSON.stringify(definition.classId)}: letters, digits and _ only`,
    );
  }
  for (const key of Object.keys(definition.schema)) {
    if (key in deviceBaseSchema)
      throw new SaseError("BAD_SCHEMA", `schema key '${key}' is reserved for every device`);
    if (definition.schema[key]?.kind === "slot" && RESERVED_SLOT_NAMES.has(key)) {
      throw new SaseError("BAD_SCHEMA", `slot '${key}' would hide Device.${key}(); choose another name`);
    }
  }
  const schema = new Schema({ ...deviceBaseSchema, ...definition.schema });
  const cls = class extends Device<S> {
    static readonly classId = definition.classId;
    static readonly description = definition.description ?? "";
    static readonly schema = schema;
  };
  Object.defineProperty(cls, "name", { value: definition.classId });
  return cls;
}

/** Base class of every device. Subclasses come from `defineDevice`; they never write a constructor. */
export abstract class Device<S extends SchemaSpec = SchemaSpec> {
  readonly id: string;
  readonly classId: string;
  readonly serverId: string;
  readonly schema: Schema;
  readonly log: Logger;
  readonly #ctx: DeviceContext;
  readonly #values = new Map<string, unknown>();
  readonly #stamps = new Map<string, Timestamp>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Subscriptions of `follow`, closed on shutdown. */
  readonly #followed: (() => void)[] = [];
  #grids: TrainGrids | undefined;
  #commands: Promise<unknown> = Promise.resolve();
  #alive = true;
  /** Set when shutdown begins: a background task failing after that is the shutdown, not a fault. */
  #stopping = false;

  constructor(context: DeviceContext) {
    const cls = this.constructor as DeviceClass;
    this.#ctx = context;
    this.id = context.deviceId;
    this.classId = cls.classId;
    this.serverId = context.serverId;
    this.schema = cls.schema;
    this.log = context.log;
    const now = context.clock.now();
    const base: [string, unknown][] = [
      ["deviceId", this.id],
      ["classId", this.classId],
      ["serverId", this.serverId],
      ["state", State.INIT],
    ];
    for (const [key, value] of [...base, ...context.configuration]) {
      if (key === "state" && this.#values.has(key)) continue;
      this.#values.set(key, value);
      this.#stamps.set(key, now);
    }
  }

  // ---- hooks a device class overrides -------------------------------------------------------------

  /** Connects to hardware and sets the first real state (the device is INIT until then). */
  onInit(): void | Promise<void> {}

  /** Called with validated changes before they are applied; throw (e.g. `this.refuse()`) to refuse. */
  onReconfigure(_changes: Partial<DeviceProps<S>>): void | Promise<void> {}

  /** Releases hardware before the device goes away. */
  onShutdown(): void | Promise<void> {}

  // ---- reading and writing properties -------------------------------------------------------------

  /** The device state. */
  get state(): State {
    return this.#values.get("state") as State;
  }

  /** The status text. */
  get status(): string {
    return (this.#values.get("status") as string | undefined) ?? "";
  }

  /** The latest train ID known to this device's server. */
  get trainId(): number {
    return this.#ctx.clock.trainId;
  }

  /** Milliseconds since that train ID arrived from the timing server (Infinity before the first). */
  get trainAge(): number {
    return this.#ctx.clock.age;
  }

  /** The broker, for devices that talk to other devices. */
  protected get broker(): Broker {
    return this.#ctx.broker;
  }

  /** The value of a property; throws MISSING_KEY for one without default that was never set. */
  get<K extends keyof DeviceProps<S> & string>(key: K): DeviceProps<S>[K] {
    if (!this.#values.has(key)) {
      const known = this.schema.entry(key);
      throw new SaseError(
        known ? "MISSING_KEY" : "UNKNOWN_KEY",
        known ? `${this.id}: '${key}' has no value yet` : `${this.id}: unknown key '${key}'`,
        { deviceId: this.id, key },
      );
    }
    return this.#values.get(key) as DeviceProps<S>[K];
  }

  /** The timestamp (with train ID) of a property's last update. */
  timestampOf(key: keyof DeviceProps<S> & string): Timestamp | undefined {
    return this.#stamps.get(key);
  }

  /** Sets one property (validated against the schema, stamped with the current train, published). */
  set<K extends keyof DeviceProps<S> & string>(
    key: K,
    value: DeviceProps<S>[K],
    timestamp?: Timestamp,
  ): void {
    // The hot path of every device: check one leaf directly, without building a configuration.
    const entry = this.schema.entry(key);
    if (entry === undefined || !isLeaf(entry.element)) {
      this.setMany({ [key]: value } as unknown as Partial<DeviceProps<S>>, timestamp);
      return;
    }
    const checked = checkValue(key, value, entry.element, true);
    if (checked instanceof SaseError) throw new ValidationError([checked]);
    this.#apply(new Map([[key, checked]]), timestamp ?? this.#ctx.clock.now());
  }

  /** Sets several properties at once: validated together, one timestamp, one published message. */
  setMany(values: Partial<DeviceProps<S>>, timestamp?: Timestamp): void {
    const checked = validateConfiguration(this.schema, values as Record<string, unknown>, {
      phase: "internal",
    });
    this.#apply(checked, timestamp ?? this.#ctx.clock.now());
  }

  /** Sets the state (and the status text, when given) in one update. */
  updateState(state: State, status?: string): void {
    const values: Record<string, unknown> = { state };
    if (status !== undefined) values.status = status;
    this.setMany(values as Partial<DeviceProps<S>>);
  }

  /** Every property value with its timestamp, by dotted key (what DAQ records at run start). */
  snapshot(): Map<string, TimedValue> {
    const out = new Map<string, TimedValue>();
    for (const [key, value] of this.#values) out.set(key, { value, timestamp: this.#stamps.get(key)! });
    return out;
  }

  /** The configuration as a nested plain object. */
  configuration(): Record<string, unknown> {
    const root: Record<string, unknown> = {};
    for (const [key, value] of this.#values) {
      const parts = key.split(".");
      let node = root;
      for (const p of parts.slice(0, -1)) {
        node[p] ??= {};
        node = node[p] as Record<string, unknown>;
      }
      node[parts.at(-1)!] = value;
    }
    return root;
  }

  // ---- helpers for device code ---------------------------------------------------------------------

  /** Refuses a command with a reason the caller sees (the device state is not touched). */
  refuse(reason: string): never {
    throw new SaseError("REFUSED", `${this.id}: ${reason}`, { deviceId: this.id });
  }

  /** Puts the device into ERROR with a reason (hardware fault, crashed task). */
  fault(reason: string): void {
    if (!this.#alive) return;
    this.log.error("fault", { reason });
    this.updateState(State.ERROR, reason);
  }

  /** Runs `task` every `periodMs` until the device goes away; a throw puts the device in ERROR. */
  every(periodMs: number, task: () => void | Promise<void>): () => void {
    const timer = setInterval(() => this.#guard("periodic task", task), periodMs);
    this.#timers.add(timer);
    return () => {
      clearInterval(timer);
      this.#timers.delete(timer);
    };
  }

  /** Runs `task` once after `delayMs` (cancelled if the device goes away); a throw puts it in ERROR. */
  after(delayMs: number, task: () => void | Promise<void>): () => void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#guard("delayed task", task);
    }, delayMs);
    this.#timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.#timers.delete(timer);
    };
  }

  /**
   * Follows properties of another device: `apply` gets their values now and every change after. The
   * other device may not be up yet (servers of a facility start in any order): then its values are
   * asked for again `retryMs` after each unanswered request, and the promise resolves with the first
   * answer.
   */
  follow(
    deviceId: string,
    keys: readonly string[],
    apply: (key: string, value: unknown) => void,
    retryMs = 2000,
  ): Promise<void> {
    const sub = this.#ctx.broker.subscribe(deviceId, keys, (c) => apply(c.key, c.value));
    this.#followed.push(() => sub.close());
    const caller: Caller = { user: this.id, accessLevel: "operator" };
    return new Promise<void>((resolve) => {
      let warned = false;
      const ask = async () => {
        if (!this.#alive) return;
        try {
          const now = await this.#ctx.broker.call<{ values: Record<string, unknown> }>(
            deviceId,
            "slotGetConfiguration",
            { keys: [...keys] },
            { caller, timeoutMs: Math.max(retryMs, 5000) },
          );
          if (!this.#alive) return;
          for (const k of keys) if (k in now.values) apply(k, now.values[k]);
          if (warned) this.log.info("following now", { device: deviceId });
          resolve();
        } catch (err) {
          if (!warned) {
            warned = true;
            this.log.warn("cannot read the device followed yet; asking again until it answers", {
              device: deviceId,
              error: err instanceof Error ? err.message : String(err),
            });
          }
          this.after(retryMs, ask);
        }
      };
      void ask();
    });
  }

  /**
   * Joins `detector`'s train grid, shared with the other devices of this server and, through the
   * timing server, with every process of the facility; `need` reads this device's own stride (every
   * how many trains it can keep up with). The device leaves the grid when it goes away.
   */
  joinTrainGrid(detector: string, need: () => number): GridShare {
    this.#grids ??=
      this.#ctx.grids ?? new TrainGrids({ participant: this.id, broker: this.#ctx.broker, log: this.log });
    const share = this.#grids.join(detector, need);
    this.#followed.push(() => share.leave());
    return share;
  }

  /** Runs an async task in the background; a throw puts the device in ERROR. */
  background(what: string, task: () => Promise<void>): void {
    this.#guard(what, task);
  }

  #guard(what: string, task: () => void | Promise<void>): void {
    if (!this.#alive) return;
    const failed = (err: unknown) => {
      const reason = `${what} failed: ${err instanceof Error ? err.message : String(err)}`;
      // A task cut off by its own device's shutdown (threads closed, stream ended) is expected.
      if (this.#stopping) this.log.debug("task ended by shutdown", { reason });
      else this.fault(reason);
    };
    try {
      const r = task();
      if (r instanceof Promise) r.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  #apply(values: ReadonlyMap<string, unknown>, timestamp: Timestamp): void {
    if (values.size === 0) return;
    const changes: PropertyChange[] = [];
    for (const [key, value] of values) {
      this.#values.set(key, value);
      this.#stamps.set(key, timestamp);
      changes.push({ deviceId: this.id, key, value, timestamp });
    }
    if (this.#alive) this.#ctx.broker.publish(this.id, changes);
  }

  // ---- remote requests (used by the device server) -------------------------------------------------

  /**
   * Answers a call from the broker: built-in slots and the class's own. Reconfigurations run one at a
   * time (so each is checked against the state it is applied in); slots run as they come, like
   * coroutines, so one long slot never blocks `stop`.
   */
  async handleRequest(request: SlotRequest): Promise<unknown> {
    switch (request.slot) {
      case "slotGetConfiguration":
        return this.#describeConfiguration(request.args.keys);
      case "slotGetSchema":
        return { classId: this.classId, schema: this.schema.toData() };
      case "slotPing":
        return { deviceId: this.id, state: this.state };
      case "slotReconfigure":
        return this.#enqueue(() => this.#reconfigure(request.args.configuration, request.caller));
      default:
        return this.#callSlot(request);
    }
  }

  #enqueue(command: () => Promise<unknown>): Promise<unknown> {
    const run = this.#commands.then(command, command);
    this.#commands = run.catch(() => undefined);
    return run;
  }

  #describeConfiguration(keys: unknown): {
    values: Record<string, unknown>;
    timestamps: Record<string, Timestamp>;
  } {
    const wanted = Array.isArray(keys) ? new Set(keys.map(String)) : null;
    const values: Record<string, unknown> = {};
    const timestamps: Record<string, Timestamp> = {};
    for (const [key, value] of this.#values) {
      if (wanted && !wanted.has(key)) continue;
      values[key] = value;
      timestamps[key] = this.#stamps.get(key)!;
    }
    if (wanted) {
      for (const key of wanted) {
        if (!(key in values)) {
          throw new SaseError(
            this.schema.entry(key) ? "MISSING_KEY" : "UNKNOWN_KEY",
            `${this.id}: ${this.schema.entry(key) ? "no value yet for" : "unknown key"} '${key}'`,
            { deviceId: this.id, key },
          );
        }
      }
    }
    return { values, timestamps };
  }

  async #reconfigure(configuration: unknown, caller: Caller): Promise<{ applied: string[] }> {
    if (configuration === null || typeof configuration !== "object" || Array.isArray(configuration)) {
      throw new SaseError("WRONG_TYPE", `${this.id}: a reconfiguration is an object of key → value`);
    }
    let checked: Map<string, unknown>;
    try {
      checked = validateConfiguration(this.schema, configuration as Record<string, unknown>, {
        phase: "reconfigure",
        caller,
        state: this.state,
      });
    } catch (err) {
      this.log.warn("reconfiguration refused", { user: caller.user, reason: (err as Error).message });
      throw err;
    }
    try {
      await this.onReconfigure(Object.fromEntries(checked) as Partial<DeviceProps<S>>);
    } catch (err) {
      if (isFrameworkError(err)) throw err;
      throw new SaseError("REFUSED", `${this.id}: reconfiguration refused: ${(err as Error).message}`);
    }
    this.#apply(checked, this.#ctx.clock.now());
    this.log.info("reconfigured", {
      user: caller.user,
      level: caller.accessLevel,
      changes: Object.fromEntries([...checked].map(([k, v]) => [k, showValue(v)])),
    });
    return { applied: [...checked.keys()] };
  }

  async #callSlot(request: SlotRequest): Promise<unknown> {
    const { slot, caller } = request;
    const entry = this.schema.entry(slot);
    if (entry?.element.kind !== "slot") {
      const slots = this.schema.slotNames();
      throw new SaseError(
        "UNKNOWN_SLOT",
        `${this.id} (${this.classId}) has no slot '${slot}'; slots: ${slots.join(", ") || "none"}`,
        { deviceId: this.id, key: slot },
      );
    }
    const element = entry.element;
    if (!hasAccess(caller.accessLevel, entry.requiredAccessLevel)) {
      throw new SaseError(
        "ACCESS_DENIED",
        `${this.id}.${slot}: needs access level ${entry.requiredAccessLevel}; caller '${caller.user}' has ${caller.accessLevel}`,
        { deviceId: this.id, key: slot, rule: `requiredAccessLevel ${entry.requiredAccessLevel}` },
      );
    }
    const allowed = element.allowedStates;
    if (allowed && allowed.length > 0 && !allowed.some((s) => isDerivedFrom(this.state, s))) {
      throw new SaseError(
        "WRONG_STATE",
        `${this.id}.${slot}: allowed only in ${allowed.join("/")}; device is ${this.state}`,
        { deviceId: this.id, key: slot, rule: `allowedStates ${allowed.join("/")}` },
      );
    }
    const args = this.#slotArgs(slot, (element as SlotElement).args, request.args);
    const method = (this as unknown as Record<string, unknown>)[slot];
    if (typeof method !== "function") {
      throw new SaseError(
        "UNKNOWN_SLOT",
        `${this.classId} declares slot '${slot}' but has no method ${slot}()`,
      );
    }
    // Slots that need rights are audited; those any observer may call (pings, reads, polled by
    // scripts many times a second) only at debug, so they cost no log line on the hot path.
    if (entry.requiredAccessLevel === "observer") {
      this.log.debug("slot called", { slot, user: caller.user, level: caller.accessLevel });
    } else this.log.info("slot called", { slot, user: caller.user, level: caller.accessLevel });
    try {
      return (await method.call(this, args)) ?? null;
    } catch (err) {
      if (isFrameworkError(err)) throw err;
      // A bug or hardware failure inside a slot: the device reports ERROR; its server carries on.
      const reason = `slot '${slot}' failed: ${err instanceof Error ? err.message : String(err)}`;
      this.fault(reason);
      throw new SaseError("SLOT_FAILED", `${this.id}: ${reason}`, { deviceId: this.id, key: slot });
    }
  }

  #slotArgs(
    slot: string,
    spec: SchemaSpec | undefined,
    given: Record<string, unknown>,
  ): Record<string, unknown> {
    const names = Object.keys(given ?? {});
    if (!spec) {
      if (names.length > 0) {
        throw new SaseError("UNKNOWN_KEY", `${this.id}.${slot} takes no arguments; got ${names.join(", ")}`);
      }
      return {};
    }
    const schema = argSchemas.get(spec) ?? new Schema(spec);
    argSchemas.set(spec, schema);
    try {
      const checked = validateConfiguration(schema, given, { phase: "internal" });
      for (const e of schema.entries()) {
        if (!isLeaf(e.element) || checked.has(e.key)) continue;
        if (e.element.default !== undefined) checked.set(e.key, e.element.default);
        else if (e.element.mandatory) {
          throw new SaseError("MISSING_KEY", `${this.id}.${slot}: argument '${e.key}' is required`, {
            key: e.key,
          });
        }
      }
      return Object.fromEntries(checked);
    } catch (err) {
      if (err instanceof ValidationError) {
        throw new ValidationError(
          err.errors.map((e) => new SaseError(e.code, `${this.id}.${slot} argument ${e.message}`, e.details)),
        );
      }
      throw err;
    }
  }

  /** Stops timers and runs `onShutdown` (used by the device server when it kills the device). */
  async shutdown(): Promise<void> {
    if (!this.#alive) return;
    this.#stopping = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const close of this.#followed.splice(0)) close();
    try {
      await this.onShutdown();
    } finally {
      this.#alive = false;
    }
  }
}

const argSchemas = new WeakMap<SchemaSpec, Schema>();
const RESERVED_SLOT_NAMES = new Set(
  Object.getOwnPropertyNames(Device.prototype).concat([
    "id",
    "classId",
    "serverId",
    "schema",
    "log",
    "constructor",
  ]),
);
