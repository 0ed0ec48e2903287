// The subscribers a broker hands property changes and topology events to: the same for the in-process
// broker and for RabbitMQ. A subscriber either takes a callback (called in order, its exceptions kept
// from the others) or reads a bounded stream; closing the stream unsubscribes.
import type { PropertyChange, PropertySubscription, TopologyEvent, TopologySubscription } from "./broker.ts";
import { Stream } from "./stream.ts";

interface PropertyListener {
  readonly keys: readonly string[] | null;
  readonly stream: Stream<PropertyChange>;
  readonly onChange: ((c: PropertyChange) => void) | undefined;
}

/** True when `key` is one of `keys` or lies under one of them ("a" covers "a.b"). */
function wanted(keys: readonly string[], key: string): boolean {
  return keys.some((k) => key === k || (key.startsWith(k) && key[k.length] === "."));
}

/** Property subscribers by device id; "*" subscribes to every device. */
export class PropertyListeners {
  readonly #byDevice = new Map<string, Set<PropertyListener>>();

  constructor(private readonly capacity: number) {}

  /** A new subscriber; `onClose` runs when its stream closes (after it is removed). */
  add(
    deviceId: string,
    keys: string | readonly string[] | undefined,
    onChange: ((change: PropertyChange) => void) | undefined,
    onClose?: () => void,
  ): PropertySubscription {
    const listeners = this.#byDevice.get(deviceId) ?? new Set<PropertyListener>();
    this.#byDevice.set(deviceId, listeners);
    const listener: PropertyListener = {
      keys: keys === undefined ? null : typeof keys === "string" ? [keys] : [...keys],
      onChange,
      stream: new Stream<PropertyChange>(this.capacity, () => {
        listeners.delete(listener);
        if (listeners.size === 0 && this.#byDevice.get(deviceId) === listeners)
          this.#byDevice.delete(deviceId);
        onClose?.();
      }),
    };
    listeners.add(listener);
    return listener.stream;
  }

  /** Whether anyone listens to `deviceId` (directly or through "*"). */
  listening(deviceId: string): boolean {
    return Boolean(this.#byDevice.get(deviceId)?.size || this.#byDevice.get("*")?.size);
  }

  /** Hands `changes` of `deviceId` to its subscribers and to those of "*". */
  deliver(deviceId: string, changes: readonly PropertyChange[]): void {
    const direct = this.#byDevice.get(deviceId);
    const wild = this.#byDevice.get("*");
    if (direct) for (const l of direct) deliverTo(l, changes);
    if (wild) for (const l of wild) deliverTo(l, changes);
  }

  /** Closes every subscriber's stream. */
  closeAll(): void {
    for (const set of [...this.#byDevice.values()]) for (const l of [...set]) l.stream.close();
  }
}

function deliverTo(l: PropertyListener, changes: readonly PropertyChange[]): void {
  if (l.stream.closed) return;
  for (const c of changes) {
    if (l.keys && !wanted(l.keys, c.key)) continue;
    if (l.onChange) {
      try {
        l.onChange(c);
      } catch {
        // A subscriber's bug must not break the others or the publishing device.
      }
    } else l.stream.push(c);
  }
}

interface TopologyListener {
  readonly stream: Stream<TopologyEvent>;
  readonly onEvent: ((e: TopologyEvent) => void) | undefined;
}

/** Subscribers to instances appearing, changing and going. */
export class TopologyListeners {
  readonly #listeners = new Set<TopologyListener>();

  constructor(private readonly capacity: number) {}

  add(onEvent: ((event: TopologyEvent) => void) | undefined): TopologySubscription {
    const listener: TopologyListener = {
      onEvent,
      stream: new Stream<TopologyEvent>(this.capacity, () => this.#listeners.delete(listener)),
    };
    this.#listeners.add(listener);
    return listener.stream;
  }

  emit(event: TopologyEvent): void {
    for (const l of this.#listeners) {
      if (l.onEvent) {
        try {
          l.onEvent(event);
        } catch {
          // A faulty listener must not stop the others from hearing about the topology.
        }
      } else l.stream.push(event);
    }
  }

  /** Closes every subscriber's stream. */
  closeAll(): void {
    for (const l of [...this.#listeners]) l.stream.close();
  }
}
