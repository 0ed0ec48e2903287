// Large per-train arrays handed back to their maker once every reader in this process is done with
// them, so the maker writes a later train into memory already mapped. Why: on a host whose fresh pages
// cost a fault each on first touch (~15 µs per 4 KB on this project's VM), filling a fresh array costs
// several times what computing its values does; in-process pipeline tokens are shared by reference, so
// only the readers know when an array is free again. A maker offers an array with the number of
// readers it went to; each reader that knows about recycling says when it is done; an array some
// reader never hands back is simply left to the garbage collector, never written again.

interface Offer {
  readers: number;
  readonly giveBack: () => void;
}

const offers = new WeakMap<ArrayBufferLike, Offer>();

/**
 * Offers the array `view` (its whole buffer) for reuse once `readers` readers have called `recycle` on
 * it; `giveBack` then hands it to its maker. Offer only arrays that go to exactly those readers.
 */
export function offerForRecycling(view: ArrayBufferView, readers: number, giveBack: () => void): void {
  if (readers < 1) return;
  offers.set(view.buffer, { readers, giveBack });
}

/** Says that this reader no longer reads `view` (any view of an offered buffer); a no-op otherwise. */
export function recycle(view: ArrayBufferView): void {
  const offer = offers.get(view.buffer);
  if (!offer) return;
  if (--offer.readers > 0) return;
  offers.delete(view.buffer);
  offer.giveBack();
}

/**
 * True when `view` spans the whole of an ArrayBuffer of its own (not shared): the buffer can move to a
 * worker thread and come back written with a later train, as the same kind of view.
 */
export function spansWholeBuffer(view: ArrayBufferView): boolean {
  return (
    view.buffer instanceof ArrayBuffer &&
    view.byteOffset === 0 &&
    view.byteLength > 0 &&
    view.byteLength === view.buffer.byteLength
  );
}

/**
 * A maker's arrays handed back, per key (a module, a correction slot), at most `max` each: the key's
 * next trains are written into them. More than a couple would only hold memory a stream cannot use.
 */
export class ReturnedArrays<K, V> {
  readonly #byKey = new Map<K, V[]>();

  constructor(readonly max = 2) {}

  /** One of `key`'s arrays, if any was handed back. */
  take(key: K): V | undefined {
    return this.#byKey.get(key)?.pop();
  }

  /** Keeps `value` for `key` (dropped when `key` already has `max`). */
  give(key: K, value: V): void {
    const list = this.#byKey.get(key) ?? [];
    if (list.length >= this.max) return;
    list.push(value);
    this.#byKey.set(key, list);
  }

  /** Forgets `key`'s arrays. */
  forget(key: K): void {
    this.#byKey.delete(key);
  }
}
