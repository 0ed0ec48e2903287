// The Broker: how instances (devices, servers, clients) find and talk to each other. Transport-neutral:
// every message is plain data (what a Hash can carry) and every operation is async, so the in-process
// broker and a networked one (NATS) are interchangeable.

import type { Caller } from "./access.ts";
import type { Stream } from "./stream.ts";
import type { Timestamp } from "./timestamp.ts";

/** What kind of instance is registered. */
export type InstanceType = "device" | "server" | "client";

/** Presence information an instance publishes (Karabo's instanceInfo). */
export interface InstanceInfo {
  readonly type: InstanceType;
  readonly classId?: string;
  readonly serverId?: string;
  readonly host: string;
  readonly pid: number;
  /** How often the instance promises a heartbeat; silence for 3× this means it is gone. */
  readonly heartbeatIntervalMs: number;
  /** "ok", or "error" while the device is in ERROR, "unknown" while UNKNOWN. */
  readonly status?: "ok" | "error" | "unknown";
  /** Device classes a server can instantiate. */
  readonly deviceClasses?: readonly string[];
}

/** A call arriving at an instance. */
export interface SlotRequest {
  readonly slot: string;
  readonly args: Record<string, unknown>;
  readonly caller: Caller;
}

/** Answers the calls addressed to one instance; a thrown error goes back to the caller. */
export type SlotHandler = (request: SlotRequest) => Promise<unknown>;

/** One property change, as published by a device. */
export interface PropertyChange {
  readonly deviceId: string;
  readonly key: string;
  readonly value: unknown;
  readonly timestamp: Timestamp;
}

/** A change in the system topology. */
export interface TopologyEvent {
  readonly event: "new" | "updated" | "gone";
  readonly instanceId: string;
  readonly info: InstanceInfo;
  /** Why an instance is gone: "shutdown", "killed", "heartbeat timeout", ... */
  readonly reason?: string;
}

/** Options of a remote call. */
export interface CallOptions {
  /** Give up after this many milliseconds (default 10 000). */
  readonly timeoutMs?: number;
  /** Who calls, for access checks and the audit log (default: anonymous observer). */
  readonly caller?: Caller;
}

/** The registration of one instance on the broker. */
export interface InstanceHandle {
  readonly instanceId: string;
  /** Tells trackers the instance is alive. */
  heartbeat(): void;
  /** Publishes new presence information. */
  update(info: Partial<InstanceInfo>): void;
  /** Leaves the system (trackers see "gone" with `reason`). */
  unregister(reason?: string): Promise<void>;
}

/** A stream of property changes (iterate with `for await`) that can be closed. */
export type PropertySubscription = Stream<PropertyChange>;

/** A stream of topology events. */
export type TopologySubscription = Stream<TopologyEvent>;

/** Messaging between instances: calls with replies, property publication, subscriptions, presence. */
export interface Broker {
  /** Registers an instance; calls addressed to it go to `handler`. Refuses an id already present. */
  register(instanceId: string, info: InstanceInfo, handler: SlotHandler): Promise<InstanceHandle>;
  /** Calls `slot` on `instanceId` and waits for its reply (TIMEOUT after `timeoutMs`). */
  call<T = unknown>(
    instanceId: string,
    slot: string,
    args?: Record<string, unknown>,
    options?: CallOptions,
  ): Promise<T>;
  /** Publishes changes of one device's properties (one message for the batch). */
  publish(deviceId: string, changes: readonly PropertyChange[]): void;
  /**
   * Changes of `deviceId` ("*" for every device), limited to `keys` (a key also selects the keys below
   * it). With `onChange` the changes go to the callback instead of the stream (close it to stop).
   */
  subscribe(
    deviceId: string,
    keys?: string | readonly string[],
    onChange?: (change: PropertyChange) => void,
  ): PropertySubscription;
  /** Every instance present now, by id. */
  topology(): Promise<Map<string, InstanceInfo>>;
  /** Instances appearing, changing and vanishing from now on (to `onEvent` instead, when given). */
  watchTopology(onEvent?: (event: TopologyEvent) => void): TopologySubscription;
  /** Stops the broker: pending calls fail, streams end. */
  close(): Promise<void>;
}
