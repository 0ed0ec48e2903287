// The instances a networked broker knows of, kept by their heartbeats the way Karabo's instance tracker
// keeps them: an instance is listed when it announces itself (or answers a ping after a beat from an
// unknown id), and dropped when it says it is gone or misses its beats; a silent server takes its
// devices with it. Every change goes to the topology's watchers.
import type { InstanceInfo, TopologyEvent, TopologySubscription } from "./broker.ts";
import { TopologyListeners } from "./listeners.ts";

interface Known {
  info: InstanceInfo;
  lastSeen: number;
}

export class InstanceDirectory {
  readonly #known = new Map<string, Known>();
  readonly #listeners: TopologyListeners;
  #lastCheck = Date.now();

  /**
   * `isOwn`: whether an id is one of this process's instances (listed as registered, never expired);
   * `onGone`: called with each instance dropped.
   */
  constructor(
    capacity: number,
    private readonly isOwn: (id: string) => boolean,
    private readonly onGone: (id: string) => void = () => undefined,
  ) {
    this.#listeners = new TopologyListeners(capacity);
  }

  /** Lists one of this process's instances as registered ("new") or changed ("updated"). */
  setOwn(id: string, info: InstanceInfo, event: "new" | "updated"): void {
    this.#known.set(id, { info, lastSeen: Date.now() });
    this.#emit({ event, instanceId: id, info });
  }

  /** Drops one of this process's instances, unregistered. */
  removeOwn(id: string, info: InstanceInfo, reason: string): void {
    this.#known.delete(id);
    this.#emit({ event: "gone", instanceId: id, info, reason });
  }

  /** A remote instance announced itself, or answered: listed, or its listing brought up to date. */
  seen(id: string, info: InstanceInfo, updated: boolean): void {
    const known = this.#known.get(id);
    if (this.isOwn(id)) {
      if (known) known.lastSeen = Date.now();
      return;
    }
    this.#known.set(id, { info, lastSeen: Date.now() });
    if (!known) this.#emit({ event: "new", instanceId: id, info });
    else if (updated || JSON.stringify(known.info) !== JSON.stringify(info))
      this.#emit({ event: "updated", instanceId: id, info });
  }

  /** A heartbeat of `id`: false when it is not listed (the caller then asks who it is). */
  beat(id: string): boolean {
    const known = this.#known.get(id);
    if (known) known.lastSeen = Date.now();
    return known !== undefined;
  }

  /** Drops a remote instance (it said it is gone, or went silent). */
  forget(id: string, reason: string): void {
    const known = this.#known.get(id);
    if (!known || this.isOwn(id)) return;
    this.#known.delete(id);
    this.onGone(id);
    this.#emit({ event: "gone", instanceId: id, info: known.info, reason });
  }

  /**
   * Drops the remote instances that missed `missedBeats` of their heartbeats; called every `periodMs`.
   * A stalled event loop (GC, a busy machine) delayed every beat it would have read: that time is
   * forgiven.
   */
  expire(periodMs: number, missedBeats: number): void {
    const now = Date.now();
    const stall = now - this.#lastCheck - periodMs;
    this.#lastCheck = now;
    for (const [id, k] of [...this.#known]) {
      if (this.isOwn(id)) continue;
      // (Never past now: an instance heard from during the stall was not silent for it.)
      if (stall > Math.max(periodMs, 50)) k.lastSeen = Math.min(now, k.lastSeen + stall);
      if (now - k.lastSeen > missedBeats * k.info.heartbeatIntervalMs) {
        this.forget(id, "heartbeat timeout");
        // A silent server takes its devices with it (Karabo's tracker does the same).
        if (k.info.type === "server")
          for (const [dev, d] of [...this.#known])
            if (d.info.serverId === id && d.info.type === "device")
              this.forget(dev, "server heartbeat timeout");
      }
    }
  }

  /** Every listed instance. */
  list(): Map<string, InstanceInfo> {
    return new Map([...this.#known].map(([id, k]) => [id, k.info]));
  }

  watch(onEvent?: (event: TopologyEvent) => void): TopologySubscription {
    return this.#listeners.add(onEvent);
  }

  /** Ends every watcher's stream. */
  close(): void {
    this.#listeners.closeAll();
  }

  #emit(event: TopologyEvent): void {
    this.#listeners.emit(event);
  }
}
