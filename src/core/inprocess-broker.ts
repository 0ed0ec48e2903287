// The embedded broker: every instance lives in this process, calls are dispatched directly (no copies,
// no serialisation) but keep the remote semantics — asynchronous replies, timeouts, errors as plain data,
// heartbeat-based presence — so code written against it runs unchanged on a networked broker.

import { hostname } from "node:os";
import { ANONYMOUS_CALLER } from "./access.ts";
import type {
  Broker,
  CallOptions,
  InstanceHandle,
  InstanceInfo,
  PropertyChange,
  PropertySubscription,
  SlotHandler,
  TopologyEvent,
  TopologySubscription,
} from "./broker.ts";
import { errorFromWire, errorToWire, SaseError, TimeoutError } from "./errors.ts";
import { PropertyListeners, TopologyListeners } from "./listeners.ts";

/** Options of the in-process broker. */
export interface InProcessBrokerOptions {
  /** How often presence is checked for silent instances (default 1000 ms). */
  readonly trackerPeriodMs?: number;
  /** Default call timeout (default 10 000 ms). */
  readonly callTimeoutMs?: number;
  /** Items buffered per subscription stream before the oldest are dropped (default 1000). */
  readonly streamCapacity?: number;
}

interface Instance {
  info: InstanceInfo;
  handler: SlotHandler;
  lastSeen: number;
}

/** The embedded broker (default): all instances in this process. */
export class InProcessBroker implements Broker {
  readonly #instances = new Map<string, Instance>();
  readonly #listeners: PropertyListeners;
  readonly #topologyListeners: TopologyListeners;
  readonly #tracker: NodeJS.Timeout;
  readonly #trackerPeriodMs: number;
  #lastCheck = Date.now();
  readonly #callTimeoutMs: number;
  #closed = false;
  #pending: [string, readonly PropertyChange[]][] = [];

  constructor(options: InProcessBrokerOptions = {}) {
    this.#callTimeoutMs = options.callTimeoutMs ?? 10_000;
    const capacity = options.streamCapacity ?? 1000;
    this.#listeners = new PropertyListeners(capacity);
    this.#topologyListeners = new TopologyListeners(capacity);
    this.#trackerPeriodMs = options.trackerPeriodMs ?? 1000;
    this.#tracker = setInterval(() => this.#checkHeartbeats(), this.#trackerPeriodMs);
    this.#tracker.unref();
  }

  async register(instanceId: string, info: InstanceInfo, handler: SlotHandler): Promise<InstanceHandle> {
    this.#assertOpen();
    if (this.#instances.has(instanceId)) {
      throw new SaseError("DEVICE_EXISTS", `instance '${instanceId}' already exists`, {
        deviceId: instanceId,
      });
    }
    const instance: Instance = { info: { ...info }, handler, lastSeen: Date.now() };
    this.#instances.set(instanceId, instance);
    this.#emitTopology({ event: "new", instanceId, info: instance.info });
    return {
      instanceId,
      heartbeat: () => {
        instance.lastSeen = Date.now();
      },
      update: (change) => {
        if (this.#instances.get(instanceId) !== instance) return;
        instance.info = { ...instance.info, ...change };
        this.#emitTopology({ event: "updated", instanceId, info: instance.info });
      },
      unregister: async (reason = "shutdown") => {
        this.#remove(instanceId, instance, reason);
      },
    };
  }

  async call<T = unknown>(
    instanceId: string,
    slot: string,
    args: Record<string, unknown> = {},
    options: CallOptions = {},
  ): Promise<T> {
    this.#assertOpen();
    const instance = this.#instances.get(instanceId);
    if (!instance) throw unknownInstance(instanceId, [...this.#instances.keys()]);
    const timeoutMs = options.timeoutMs ?? this.#callTimeoutMs;
    const request = { slot, args, caller: options.caller ?? ANONYMOUS_CALLER };
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new TimeoutError("TIMEOUT", `no reply from '${instanceId}' to ${slot} within ${timeoutMs} ms`, {
            deviceId: instanceId,
            key: slot,
          }),
        );
      }, timeoutMs);
      // Dispatch on a later tick, as a remote call would be: the caller never re-enters the callee.
      Promise.resolve(request)
        .then(instance.handler)
        .then(
          (reply) => {
            clearTimeout(timer);
            resolve(reply as T);
          },
          (err: unknown) => {
            clearTimeout(timer);
            // Errors cross as plain data, exactly as they would over a network.
            reject(errorFromWire(errorToWire(err)));
          },
        );
    });
  }

  publish(deviceId: string, changes: readonly PropertyChange[]): void {
    if (this.#closed || changes.length === 0) return;
    if (!this.#listeners.listening(deviceId)) return;
    // Deliver on a later tick (as over a network), batching everything published in this tick.
    this.#pending.push([deviceId, changes]);
    if (this.#pending.length === 1) queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    const batches = this.#pending;
    this.#pending = [];
    for (const [deviceId, changes] of batches) this.#listeners.deliver(deviceId, changes);
  };

  subscribe(
    deviceId: string,
    keys?: string | readonly string[],
    onChange?: (change: PropertyChange) => void,
  ): PropertySubscription {
    this.#assertOpen();
    return this.#listeners.add(deviceId, keys, onChange);
  }

  async topology(): Promise<Map<string, InstanceInfo>> {
    this.#assertOpen();
    return new Map([...this.#instances].map(([id, inst]) => [id, inst.info]));
  }

  watchTopology(onEvent?: (event: TopologyEvent) => void): TopologySubscription {
    this.#assertOpen();
    return this.#topologyListeners.add(onEvent);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#tracker);
    this.#listeners.closeAll();
    this.#topologyListeners.closeAll();
    this.#instances.clear();
  }

  #remove(instanceId: string, instance: Instance, reason: string): void {
    if (this.#instances.get(instanceId) !== instance) return;
    this.#instances.delete(instanceId);
    this.#emitTopology({ event: "gone", instanceId, info: instance.info, reason });
  }

  #checkHeartbeats(): void {
    const now = Date.now();
    // Every instance here shares this event loop: if the tracker itself ran late, the whole process
    // stalled (GC, a busy machine) and nobody could beat; forgive that time instead of declaring all gone.
    const stall = now - this.#lastCheck - this.#trackerPeriodMs;
    this.#lastCheck = now;
    for (const [id, inst] of [...this.#instances]) {
      if (stall > Math.max(this.#trackerPeriodMs, 50)) inst.lastSeen += stall;
      if (now - inst.lastSeen > 3 * inst.info.heartbeatIntervalMs)
        this.#remove(id, inst, "heartbeat timeout");
    }
  }

  #emitTopology(event: TopologyEvent): void {
    this.#topologyListeners.emit(event);
  }

  #assertOpen(): void {
    if (this.#closed) throw new SaseError("BROKER_CLOSED", "the broker is closed");
  }
}

function unknownInstance(id: string, known: string[]): SaseError {
  const hint = known.length
    ? ` (known: ${known.slice(0, 8).join(", ")}${known.length > 8 ? ", ..." : ""})`
    : "";
  return new SaseError("UNKNOWN_DEVICE", `no instance '${id}' is present${hint}`, { deviceId: id });
}

/** This machine's host name, for instance info. */
export function localHost(): string {
  return hostname();
}
