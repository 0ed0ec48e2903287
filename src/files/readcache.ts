// HDF5 reads a file's metadata (object headers, B-tree nodes, heaps) in pieces of 8 bytes to a few KB:
// about 150 reads to scan one EXDF file, each a pread through Emscripten's file layer (microseconds of
// system call each, more on a VM). This puts a block cache under h5wasm's reads: small reads of files
// opened read-only are served from 64 KB blocks read once per open stream (a file scan then needs ~5
// reads). Big reads (data) bypass it; streams opened for writing are never cached, and a stream's
// blocks go with the stream, so a file opened again is read afresh.
import { readSync } from "node:fs";

const BLOCK = 64 * 1024;
/** Reads this big or bigger go straight to the file. */
const SMALL = 16 * 1024;
/** Blocks kept per stream; past this the stream's cache starts over (metadata is read near-sequentially). */
const MAX_BLOCKS = 256;
const O_ACCMODE = 3;

interface Stream {
  readonly nfd?: number;
  readonly flags?: number;
  readonly stream_ops?: unknown;
}

type Read = (
  stream: Stream,
  buffer: ArrayBufferView,
  offset: number,
  length: number,
  position?: number,
) => number;

const blocks = new WeakMap<Stream, Map<number, Uint8Array>>();

function block(stream: Stream, fd: number, n: number): Uint8Array {
  let cache = blocks.get(stream);
  if (!cache) {
    cache = new Map();
    blocks.set(stream, cache);
  }
  let b = cache.get(n);
  if (!b) {
    const buf = Buffer.allocUnsafe(BLOCK); // filled by the read below: no zeroing first
    let got = 0;
    while (got < BLOCK) {
      const r = readSync(fd, buf, got, BLOCK - got, n * BLOCK + got);
      if (r <= 0) break;
      got += r;
    }
    b = buf.subarray(0, got);
    if (cache.size >= MAX_BLOCKS) cache.clear();
    cache.set(n, b);
  }
  return b;
}

/** Wraps an Emscripten FS's read (h5wasm's NODERAWFS) with the block cache; idempotent. */
export function installReadCache(fs: { read: Read; [mark: symbol]: unknown }): void {
  const mark = Symbol.for("sase.files.readcache");
  if (fs[mark]) return;
  fs[mark] = true;
  const read = fs.read;
  fs.read = (stream, buffer, offset, length, position) => {
    const fd = stream.nfd;
    if (
      length >= SMALL ||
      position === undefined ||
      fd === undefined ||
      stream.stream_ops ||
      ((stream.flags ?? 1) & O_ACCMODE) !== 0
    )
      return read(stream, buffer, offset, length, position);
    const dest = new Uint8Array(buffer.buffer, buffer.byteOffset + offset, length);
    let done = 0;
    while (done < length) {
      const at = position + done;
      const b = block(stream, fd, Math.floor(at / BLOCK));
      const from = at % BLOCK;
      if (from >= b.length) break; // end of file
      const n = Math.min(length - done, b.length - from);
      dest.set(b.subarray(from, from + n), done);
      done += n;
    }
    return done;
  };
}
