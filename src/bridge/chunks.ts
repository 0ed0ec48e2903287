// Buffers for streaming an array from its file to a socket (zmtp-router.ts): a few of 1 MiB, kept
// and reused for every train, because fresh memory costs a page fault per 4 KB at first touch
// (~15 µs each on a VM: a 270 MB train read into fresh memory costs ~1 s before it is sent).

/** Bytes read from the file and written at a time. */
export const CHUNK_BYTES = 1 << 20;
/** Chunks of one array written but not yet handed to the kernel, at most. */
export const CHUNKS_IN_FLIGHT = 4;
/** Buffers kept for reuse (more are made while several peers stream at once, then dropped). */
const KEPT = 16;

/** A free list of CHUNK_BYTES buffers. */
export class ChunkBuffers {
  private readonly free: Uint8Array[] = [];

  take(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(CHUNK_BYTES);
  }

  give(buffer: Uint8Array): void {
    if (this.free.length < KEPT) this.free.push(buffer);
  }
}

let ZEROS: Uint8Array | undefined;

/** `n` (≤ CHUNK_BYTES) zero bytes from one shared buffer, never written to. */
export function zeros(n: number): Uint8Array {
  ZEROS ??= new Uint8Array(CHUNK_BYTES);
  return ZEROS.subarray(0, n);
}
