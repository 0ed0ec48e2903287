// DeviceClient: the typed way to talk to devices through any broker — read, reconfigure, call slots,
// subscribe, discover. Every request carries the caller (user + access level) for checks and the audit
// log. The CLI, the GUI server and DAQ use this, never device objects directly.

import { ANONYMOUS_CALLER, type Caller } from "./access.ts";
import type { Broker, InstanceInfo, PropertySubscription, TopologySubscription } from "./broker.ts";
import { SaseError } from "./errors.ts";
import { Schema } from "./schema.ts";
import type { Timestamp } from "./timestamp.ts";

/** A device's configuration as read remotely: values and timestamps by dotted key. */
export interface Configuration {
  readonly values: Record<string, unknown>;
  readonly timestamps: Record<string, Timestamp>;
}

/** The system seen from a client: servers and devices with their presence information. */
export interface Topology {
  readonly servers: Map<string, InstanceInfo>;
  readonly devices: Map<string, InstanceInfo>;
  readonly clients: Map<string, InstanceInfo>;
}

/** Options of a client. */
export interface DeviceClientOptions {
  /** Reply timeout of every call (default 10 000 ms). */
  readonly timeoutMs?: number;
}

/** Talks to devices through a broker on behalf of one caller. */
export class DeviceClient {
  readonly #schemas = new Map<string, Schema>();

  constructor(
    readonly broker: Broker,
    readonly caller: Caller = ANONYMOUS_CALLER,
    readonly options: DeviceClientOptions = {},
  ) {}

  /** The same client acting for another caller. */
  as(caller: Caller): DeviceClient {
    return new DeviceClient(this.broker, caller, this.options);
  }

  /** Calls a slot of any instance (device or server) with this client's caller. */
  request<T = unknown>(
    instanceId: string,
    slot: string,
    args: Record<string, unknown> = {},
    timeoutMs?: number,
  ): Promise<T> {
    return this.broker.call<T>(instanceId, slot, args, {
      caller: this.caller,
      timeoutMs: timeoutMs ?? this.options.timeoutMs,
    });
  }

  /** One property of a device. */
  async get(deviceId: string, key: string): Promise<unknown> {
    const config = await this.getConfiguration(deviceId, [key]);
    return config.values[key];
  }

  /** Every property of a device (or the given keys) with timestamps. */
  getConfiguration(deviceId: string, keys?: readonly string[]): Promise<Configuration> {
    return this.request<Configuration>(deviceId, "slotGetConfiguration", keys ? { keys: [...keys] } : {});
  }

  /** The schema of a running device (cached per device until `forget`). */
  async getSchema(deviceId: string): Promise<Schema> {
    const cached = this.#schemas.get(deviceId);
    if (cached) return cached;
    const reply = await this.request<{ schema: unknown }>(deviceId, "slotGetSchema");
    const schema = Schema.fromData(reply.schema);
    this.#schemas.set(deviceId, schema);
    return schema;
  }

  /** Drops cached knowledge of a device (after it was restarted). */
  forget(deviceId: string): void {
    this.#schemas.delete(deviceId);
  }

  /** Sets one property (validated by the device: all rules, all-or-nothing). */
  set(deviceId: string, key: string, value: unknown): Promise<{ applied: string[] }> {
    return this.reconfigure(deviceId, { [key]: value });
  }

  /** Sets several properties at once; if any is refused, none is applied. */
  reconfigure(deviceId: string, configuration: Record<string, unknown>): Promise<{ applied: string[] }> {
    return this.request(deviceId, "slotReconfigure", { configuration });
  }

  /** Calls a device slot and returns its reply. */
  execute<T = unknown>(
    deviceId: string,
    slot: string,
    args: Record<string, unknown> = {},
    timeoutMs?: number,
  ): Promise<T> {
    return this.request<T>(deviceId, slot, args, timeoutMs);
  }

  /** Property changes of a device (all keys, or those given); iterate with `for await`. */
  subscribe(deviceId: string, keys?: string | readonly string[]): PropertySubscription {
    return this.broker.subscribe(deviceId, keys);
  }

  /** Resolves with the first value of `key` that satisfies `test` (TIMEOUT after `timeoutMs`). */
  async waitFor(
    deviceId: string,
    key: string,
    test: (value: unknown) => boolean,
    timeoutMs = 10_000,
  ): Promise<unknown> {
    const sub = this.subscribe(deviceId, key);
    const timer = setTimeout(() => sub.close(), timeoutMs);
    try {
      const now = await this.get(deviceId, key);
      if (test(now)) return now;
      for await (const change of sub) if (test(change.value)) return change.value;
      throw new SaseError(
        "TIMEOUT",
        `${deviceId}.${key} did not reach the awaited value within ${timeoutMs} ms`,
        {
          deviceId,
          key,
        },
      );
    } finally {
      clearTimeout(timer);
      sub.close();
    }
  }

  /** Servers, devices and clients present now. */
  async topology(): Promise<Topology> {
    const all = await this.broker.topology();
    const pick = (type: InstanceInfo["type"]) => new Map([...all].filter(([, info]) => info.type === type));
    return { servers: pick("server"), devices: pick("device"), clients: pick("client") };
  }

  /** Instances appearing and vanishing from now on. */
  watchTopology(): TopologySubscription {
    return this.broker.watchTopology();
  }

  /** Asks a device server to start a device. */
  instantiate(
    serverId: string,
    classId: string,
    deviceId: string,
    configuration: Record<string, unknown> = {},
  ): Promise<{ deviceId: string }> {
    return this.request(serverId, "slotStartDevice", { classId, deviceId, configuration });
  }

  /** Asks the server hosting a device to stop it. */
  async kill(deviceId: string): Promise<void> {
    const info = (await this.broker.topology()).get(deviceId);
    if (!info?.serverId)
      throw new SaseError("UNKNOWN_DEVICE", `no device '${deviceId}' is present`, { deviceId });
    await this.request(info.serverId, "slotKillDevice", { deviceId });
    this.forget(deviceId);
  }

  /** The schema of a class a server can instantiate. */
  async getClassSchema(serverId: string, classId: string): Promise<Schema> {
    const reply = await this.request<{ schema: unknown }>(serverId, "slotGetClassSchema", { classId });
    return Schema.fromData(reply.schema);
  }
}
