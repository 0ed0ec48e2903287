// Memory of large received messages or frames, handed back by the consumer (BridgeClient.release,
// InputChannel.release) for later ones of the same size. Why: where the kernel hands out fresh pages
// slowly (on a VM whose freed pages go back to the host, ~15 µs per 4 KB page on first touch), a
// 268 MB train read into fresh memory spends most of its time in page faults, and the allocator maps
// fresh memory for every allocation this large; read into memory already mapped, it moves at the
// socket's speed. A train of 16 detector modules has 16 frames of one size, so the pool is bounded
// by bytes, not by a count per size: it keeps up to twice the largest message seen (one released
// while the next is being received), dropping the sizes least recently filled first when a stream's
// shapes change.

/** A pool of ArrayBuffers by exact size, holding at most `limit()` bytes. */
export class BufferPool {
  // Free buffers by size; Map order is the order in which sizes were (re)filled, oldest first.
  private readonly free = new Map<number, ArrayBuffer[]>();
  private readonly ours = new WeakSet<ArrayBuffer>();
  private readonly held = new WeakSet<ArrayBuffer>();
  private bytes = 0;
  private largestMessage = 0;
  private reuses = 0;

  /** Buffers `take` served from pooled memory (not fresh) so far. */
  get reused(): number {
    return this.reuses;
  }

  /** Bytes currently pooled. */
  get pooledBytes(): number {
    return this.bytes;
  }

  /** The pool's bound: twice the largest message's pooled bytes seen so far. */
  limit(): number {
    return 2 * this.largestMessage;
  }

  /** Records the pooled bytes one message needed (the pool's bound follows the largest). */
  noteMessage(largeBytes: number): void {
    if (largeBytes > this.largestMessage) this.largestMessage = largeBytes;
  }

  /** A buffer of `size` bytes: a pooled one when there is one, else fresh memory that may come back. */
  take(size: number): Buffer {
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused) {
      this.held.delete(reused);
      this.bytes -= size;
      if (list?.length === 0) this.free.delete(size);
      this.reuses++;
      return Buffer.from(reused, 0, size);
    }
    // allocUnsafeSlow: memory of its own (never a slice of Node's shared 8 KB pool), so that the
    // whole ArrayBuffer is this buffer and can be handed back; not zeroed (it is about to be filled).
    const frame = Buffer.allocUnsafeSlow(size);
    this.ours.add(frame.buffer as ArrayBuffer);
    return frame;
  }

  /**
   * Takes back memory that `take` gave out; anything else (or memory already pooled) is ignored.
   * The caller promises that nothing reads that memory any more.
   */
  give(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof ArrayBuffer) || !this.ours.has(buffer) || this.held.has(buffer)) return;
    const size = buffer.byteLength;
    if (size > this.limit()) return;
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    list.push(buffer);
    this.held.add(buffer);
    this.bytes += size;
    this.evictOver(size);
  }

  // Drops buffers of other sizes, oldest filled first, until the pool is within its bound.
  private evictOver(keep: number): void {
    for (const [size, list] of this.free) {
      if (this.bytes <= this.limit()) return;
      if (size === keep) continue;
      while (list.length > 0 && this.bytes > this.limit()) {
        this.held.delete(list.pop() as ArrayBuffer);
        this.bytes -= size;
      }
      if (list.length === 0) this.free.delete(size);
    }
    const list = this.free.get(keep);
    while (list && list.length > 0 && this.bytes > this.limit()) {
      this.held.delete(list.shift() as ArrayBuffer);
      this.bytes -= keep;
    }
  }
}
