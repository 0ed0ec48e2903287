// Direct reads of uncompressed HDF5 datasets: find where each chunk (or the contiguous block) of a
// dataset sits in the file by reading its object header and version-1 chunk B-tree ourselves, then
// read rows with pread straight into the caller's typed array. This skips the WebAssembly heap (one
// copy instead of two). Chunks never written are zeros when the fill value is zero (sparse files, e.g.
// detectors that sent nothing). Anything unexpected (filters, version-2 headers or newer chunk indexes,
// chunks that split rows, a non-zero fill value) gives null, and the caller reads through HDF5.
// The writer uses the same layout to write rows with pwrite into chunks HDF5 allocated unfilled.
import { closeSync, openSync, read, readSync, write, writeSync } from "node:fs";
import { FilesError } from "./errors.ts";

/** Where the rows of a dataset are in the file. */
export interface RowLayout {
  /** Rows of the dataset when the layout was read. */
  readonly rows: number;
  readonly rowBytes: number;
  /** Contiguous: file position of row 0; null when chunked. */
  readonly contiguous: number | null;
  readonly chunkRows: number;
  /** Chunk number along axis 0 → file position. */
  readonly chunks: ReadonlyMap<number, number>;
  /** Chunks never written read as zeros (the fill value is 0 or undefined); else HDF5 must fill them. */
  readonly fillZero: boolean;
}

const MSG_FILL_OLD = 0x0004;
const MSG_FILL = 0x0005;
const MSG_LAYOUT = 0x0008;
const MSG_FILTERS = 0x000b;
const MSG_CONTINUATION = 0x0010;
const UNDEFINED = 0xffffffffffffffffn;

/** Reads `length` bytes at file position `position` (throws at the end of the file). */
export type ReadAt = (position: number, length: number) => DataView;

function bytesAt(fd: number, position: number, length: number): DataView {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n <= 0) throw new FilesError(`file ends before byte ${position + length}`, { code: "BAD_FILE" });
    got += n;
  }
  return new DataView(buf.buffer);
}

const u64 = (v: DataView, at: number) => Number(v.getBigUint64(at, true));

/** Base address from the superblock at the start of the file (null unless offsets/lengths are 8 bytes). */
export function baseAddress(at: ReadAt): number | null {
  const v = at(0, 32);
  const sig = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!sig.every((b, i) => v.getUint8(i) === b)) return null;
  const version = v.getUint8(8);
  if (version === 0 || version === 1) return v.getUint8(13) === 8 && v.getUint8(14) === 8 ? u64(v, 24) : null;
  if (version === 2 || version === 3) return v.getUint8(9) === 8 && v.getUint8(10) === 8 ? u64(v, 12) : null;
  return null;
}

/** Messages of a version-1 object header, following continuation blocks. */
export function headerMessages(
  at: ReadAt,
  base: number,
  address: number,
): { type: number; data: DataView; position: number }[] | null {
  const head = at(base + address, 16);
  if (head.getUint8(0) !== 1) return null;
  const count = head.getUint16(2, true);
  const blocks: [number, number][] = [[address + 16, head.getUint32(8, true)]];
  const out: { type: number; data: DataView; position: number }[] = [];
  for (let b = blocks.shift(); b && out.length < count; b = blocks.shift()) {
    const [start, size] = b;
    const block = at(base + start, size);
    for (let at = 0; at + 8 <= size && out.length < count; ) {
      const type = block.getUint16(at, true);
      const len = block.getUint16(at + 2, true);
      const data = new DataView(block.buffer, block.byteOffset + at + 8, len);
      out.push({ type, data, position: base + start + at + 8 });
      if (type === MSG_CONTINUATION) blocks.push([u64(data, 0), u64(data, 8)]);
      at += 8 + len;
    }
  }
  return out;
}

/** Walks a version-1 B-tree of raw data chunks: chunk offset along axis 0 → chunk address. */
function walkBTree(
  at: ReadAt,
  base: number,
  address: number,
  dims: number,
  chunkBytes: number,
  out: Map<number, number>,
  depth = 0,
): boolean {
  if (depth > 20) return false;
  const head = at(base + address, 24);
  if (head.getUint32(0, false) !== 0x54524545 || head.getUint8(4) !== 1) return false; // "TREE", chunk node
  const level = head.getUint8(5);
  const used = head.getUint16(6, true);
  const keySize = 8 + 8 * dims;
  const body = at(base + address + 24, used * (keySize + 8) + keySize);
  for (let i = 0; i < used; i++) {
    const k = i * (keySize + 8);
    for (let d = 1; d < dims; d++) if (body.getBigUint64(k + 8 + 8 * d, true) !== 0n) return false;
    const child = u64(body, k + keySize);
    if (level > 0) {
      if (!walkBTree(at, base, child, dims, chunkBytes, out, depth + 1)) return false;
    } else {
      if (body.getUint32(k + 4, true) !== 0 || body.getUint32(k, true) !== chunkBytes) return false;
      out.set(u64(body, k + 8), base + child);
    }
  }
  return true;
}

/** True when chunks never written read as zeros: no fill value, an empty one, or one of zero bytes. */
function fillIsZero(msgs: readonly { type: number; data: DataView }[]): boolean {
  const zeros = (v: DataView, at: number): boolean => {
    if (at + 4 > v.byteLength) return true;
    const size = v.getUint32(at, true);
    for (let i = 0; i < size && at + 4 + i < v.byteLength; i++)
      if (v.getUint8(at + 4 + i) !== 0) return false;
    return true;
  };
  const fill = msgs.find((m) => m.type === MSG_FILL)?.data;
  if (fill) {
    const version = fill.getUint8(0);
    if (version === 1) return zeros(fill, 4);
    if (version === 2) return fill.getUint8(3) === 0 || zeros(fill, 4);
    if (version === 3) return (fill.getUint8(1) & 0x20) === 0 || zeros(fill, 2);
    return false;
  }
  const old = msgs.find((m) => m.type === MSG_FILL_OLD)?.data;
  return old ? zeros(old, 0) : true;
}

/**
 * Sets, in the Fill Value message of the version-1 object header at `headerAddress`, the fill time to
 * "never" and the space allocation time to "early" (two bytes written in place; the file must not be
 * open in HDF5 meanwhile): HDF5 then allocates a chunk when the dataset is extended over it and never
 * writes it, so that its rows can be written straight into the file (writeRowsDirect). False when the
 * header or message is of a kind this does not know (left as it is).
 */
export function setChunksAllocatedUnfilled(fd: number, headerAddress: number): boolean {
  const at = (p: number, n: number) => bytesAt(fd, p, n);
  let fill: { data: DataView; position: number } | undefined;
  try {
    const base = baseAddress(at);
    fill = (base === null ? null : headerMessages(at, base, headerAddress))?.find((m) => m.type === MSG_FILL);
  } catch {
    return false; // e.g. an address past the end: not a header this can read
  }
  if (!fill || fill.data.byteLength < 4) return false;
  const version = fill.data.getUint8(0);
  // Versions 1 and 2: byte 1 is the space allocation time (1 early, 2 late, 3 incremental), byte 2
  // the fill write time (0 at allocation, 1 never, 2 if set). Version 3: bits 0-1 and 2-3 of byte 1.
  let bytes: Uint8Array;
  if (version === 1 || version === 2) bytes = Uint8Array.of(1, 1);
  else if (version === 3) bytes = Uint8Array.of((fill.data.getUint8(1) & ~0x0f) | 1 | (1 << 2));
  else return false;
  writeSync(fd, bytes, 0, bytes.length, fill.position + 1);
  return true;
}

/** The row layout of the dataset whose object header is at `headerAddress`, or null. */
export function rowLayout(
  file: number | ReadAt,
  headerAddress: number,
  shape: readonly number[],
  itemSize: number,
): RowLayout | null {
  try {
    const at = typeof file === "number" ? (p: number, n: number) => bytesAt(file, p, n) : file;
    const base = baseAddress(at);
    if (base === null || shape.length === 0) return null;
    const msgs = headerMessages(at, base, headerAddress);
    if (!msgs) return null;
    return layoutOf(at, base, msgs, shape, itemSize);
  } catch {
    return null;
  }
}

/** The row layout from a dataset's object header messages (see rowLayout), or null. */
export function layoutOf(
  at: ReadAt,
  base: number,
  msgs: readonly { type: number; data: DataView }[],
  shape: readonly number[],
  itemSize: number,
): RowLayout | null {
  try {
    if (shape.length === 0 || msgs.some((m) => m.type === MSG_FILTERS)) return null;
    const layout = msgs.find((m) => m.type === MSG_LAYOUT)?.data;
    if (!layout) return null;
    if (layout.getUint8(0) !== 3) return null; // layout message version 4 (libver latest): not parsed
    const rows = shape[0] ?? 0;
    const rowBytes = shape.slice(1).reduce((a, b) => a * b, 1) * itemSize;
    const fillZero = fillIsZero(msgs);
    const cls = layout.getUint8(1);
    if (cls === 1) {
      // Never written: every row is the fill value (one "chunk" of all rows, missing).
      if (layout.getBigUint64(2, true) === UNDEFINED)
        return fillZero
          ? { rows, rowBytes, contiguous: null, chunkRows: Math.max(1, rows), chunks: new Map(), fillZero }
          : null;
      if (u64(layout, 10) < rows * rowBytes) return null;
      return { rows, rowBytes, contiguous: base + u64(layout, 2), chunkRows: 0, chunks: new Map(), fillZero };
    }
    if (cls !== 2) return null;
    const dims = layout.getUint8(2);
    if (dims !== shape.length + 1) return null;
    const chunkDims: number[] = [];
    for (let d = 0; d < dims; d++) chunkDims.push(layout.getUint32(11 + 4 * d, true));
    if (chunkDims[dims - 1] !== itemSize) return null;
    // No chunk written at all (a detector that sent nothing): every row is the fill value, whatever
    // the chunk shape. HDF5 would fill each chunk of the selection in turn, at ~10× the cost.
    if (layout.getBigUint64(3, true) === UNDEFINED)
      return fillZero
        ? { rows, rowBytes, contiguous: null, chunkRows: Math.max(1, rows), chunks: new Map(), fillZero }
        : null;
    for (let d = 1; d < shape.length; d++) if (chunkDims[d] !== shape[d]) return null;
    const chunkRows = chunkDims[0] as number;
    const chunks = new Map<number, number>();
    if (layout.getBigUint64(3, true) !== UNDEFINED) {
      const byOffset = new Map<number, number>();
      if (!walkBTree(at, base, u64(layout, 3), dims, chunkRows * rowBytes, byOffset)) return null;
      for (const [off, addr] of byOffset) chunks.set(off / chunkRows, addr);
    }
    return { rows, rowBytes, contiguous: null, chunkRows, chunks, fillZero };
  } catch {
    return null;
  }
}

/** A piece of some rows' bytes: `length` bytes at file `position`, or zeros (a chunk never written). */
export interface Extent {
  readonly position: number | null;
  readonly length: number;
}

/**
 * Where the bytes of rows [start, start+count) are, in order, neighbouring chunks merged; null when
 * a chunk was never written and the fill value is not zero (HDF5 knows what to return).
 */
export function rowExtents(layout: RowLayout, start: number, count: number): Extent[] | null {
  const { rowBytes } = layout;
  if (layout.contiguous !== null)
    return [{ position: layout.contiguous + start * rowBytes, length: count * rowBytes }];
  const out: { position: number | null; length: number }[] = [];
  for (let row = start; row < start + count; ) {
    const c = Math.floor(row / layout.chunkRows);
    const addr = layout.chunks.get(c);
    const inChunk = row - c * layout.chunkRows;
    const rows = Math.min(layout.chunkRows - inChunk, start + count - row);
    if (addr === undefined && !layout.fillZero) return null;
    const position = addr === undefined ? null : addr + inChunk * rowBytes;
    const last = out[out.length - 1];
    if (last && (last.position === null ? position === null : last.position + last.length === position))
      last.length += rows * rowBytes;
    else out.push({ position, length: rows * rowBytes });
    row += rows;
  }
  return out;
}

/** Reads `length` bytes at file `position` into `dest` at `offset` with pread; false at the end of the file. */
export function preadFully(
  fd: number,
  dest: Uint8Array,
  offset: number,
  length: number,
  position: number,
): boolean {
  for (let got = 0; got < length; ) {
    const n = readSync(fd, dest, offset + got, length - got, position + got);
    if (n <= 0) return false;
    got += n;
  }
  return true;
}

/**
 * Reads rows [start, start+count) into `dest` with pread, merging neighbouring chunks. Chunks never
 * written become zeros when the fill value is zero; otherwise false (HDF5 knows what to return).
 */
export function readRowsDirect(
  fd: number,
  layout: RowLayout,
  start: number,
  count: number,
  dest: Uint8Array,
  destZeroed = false,
): boolean {
  const extents = rowExtents(layout, start, count);
  if (!extents) return false;
  let off = 0;
  for (const { position, length } of extents) {
    if (position !== null) {
      if (!preadFully(fd, dest, off, length, position)) return false;
    } else if (!destZeroed) dest.fill(0, off, off + length); // fresh memory is zeros already
    off += length;
  }
  return true;
}

/** Some rows' bytes in one file, to land in the destination at `offset` (see readExtentsParallel). */
export interface PlacedExtents {
  readonly file: string;
  readonly extents: readonly Extent[];
  readonly offset: number;
}

/**
 * Reads at most this many bytes per pread of readExtentsParallel, and keeps this many in flight: libuv's
 * thread pool has 4 threads unless UV_THREADPOOL_SIZE says otherwise, and 16 MiB pieces keep them
 * evenly busy to the end (whole 128 MiB files at once were no faster).
 */
const PARALLEL_PIECE = 16 << 20;
const PARALLEL_READS = 4;

/**
 * Reads every extent into `dest` with preads spread over libuv's thread pool: from the page cache a
 * read is a copy by the kernel, and each thread copies on its own core (8 files of 128 MiB, 2 cores:
 * 12.4-12.9 GB/s against 6.4-6.8 one after the other). Opens its own descriptors, since a run closes
 * the files it has had open longest while other reads go on. Zeros for extents never written, unless
 * `destZeroed`. Throws, naming the file, when one ends before its extents do.
 */
export async function readExtentsParallel(
  placed: readonly PlacedExtents[],
  dest: Uint8Array,
  destZeroed = false,
): Promise<void> {
  const jobs: { fd: number; file: string; position: number; length: number; offset: number }[] = [];
  const fds: number[] = [];
  try {
    for (const { file, extents, offset } of placed) {
      let fd = -1;
      let at = offset;
      for (const { position, length } of extents) {
        if (position === null) {
          if (!destZeroed) dest.fill(0, at, at + length);
        } else {
          if (fd < 0) {
            fd = openSync(file, "r");
            fds.push(fd);
          }
          for (let done = 0; done < length; done += PARALLEL_PIECE)
            jobs.push({
              fd,
              file,
              position: position + done,
              length: Math.min(PARALLEL_PIECE, length - done),
              offset: at + done,
            });
        }
        at += length;
      }
    }
    // The descriptors are closed (finally) only once no read is left on them.
    await eachAtMost(PARALLEL_READS, jobs, async (job) => {
      for (let got = 0; got < job.length; ) {
        const n = await new Promise<number>((resolve, reject) =>
          read(job.fd, dest, job.offset + got, job.length - got, job.position + got, (err, bytes) =>
            err ? reject(err) : resolve(bytes),
          ),
        );
        if (n <= 0)
          throw new FilesError(`file ends before byte ${job.position + job.length}`, {
            file: job.file,
            code: "BAD_FILE",
          });
        got += n;
      }
    });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/**
 * Bytes per pwrite of rows written directly (rowWrites): a 16 MiB chunk (the writer's default) goes
 * out in one. This kernel (Linux 6.18) keeps an ext4 file's page cache in folios up to 2 MiB, as big as
 * one write allows, so bigger writes mean fewer, larger folios to allocate and account. The writer's run of 4 modules
 * × 16 trains (1.07 GB), 8 rounds each alternated, memory backed before each (bench/lib/memory.ts):
 * 1 MiB pieces median 298 ms, 16 MiB 250 ms; a second run 390 and 315 ms. (Before the VM's memory was
 * backed, 16 MiB writes had seemed several times slower in some rounds: that was the host's faults.)
 */
const WRITE_PIECE = 16 << 20;

/** One pwrite of rows written directly: `bytes` at `position` in the file open as `fd`. */
export interface RowWrite {
  readonly fd: number;
  readonly position: number;
  readonly bytes: Uint8Array;
}

/**
 * The pwrites that put rows [start, start+count) from `src` at their chunks' places in the file; null
 * when a chunk of them is not allocated yet.
 */
export function rowWrites(
  fd: number,
  layout: RowLayout,
  start: number,
  count: number,
  src: Uint8Array,
): RowWrite[] | null {
  const extents = rowExtents({ ...layout, fillZero: true }, start, count);
  if (!extents || extents.some((e) => e.position === null)) return null;
  const writes: RowWrite[] = [];
  let off = 0;
  for (const { position, length } of extents) {
    for (let done = 0; done < length; done += WRITE_PIECE) {
      const n = Math.min(WRITE_PIECE, length - done);
      writes.push({
        fd,
        position: (position as number) + done,
        bytes: src.subarray(off + done, off + done + n),
      });
    }
    off += length;
  }
  return writes;
}

/** Writes all of `bytes` at `position` of the file open as `fd` (pwrite until none is left). */
export function pwriteSync(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; )
    done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/**
 * Files written at once by runRowWrites. Into the page cache, one thread writes ~4-5 GB/s here, and
 * more threads do not help on one file (they queue for its inode's lock), but they do across files:
 * 1 GB into 8 files in 16 MiB writes took 210-352 ms one file at a time, 132-174 ms two at a time and
 * 116-173 ms four at a time (8 rounds each, alternated, memory backed before each). In 1 MiB writes two
 * at a time gained nothing.
 */
const PARALLEL_WRITES = 4;

/**
 * Does `writes` on libuv's thread pool, up to PARALLEL_WRITES files at a time and never two writes to
 * one file at once; a file's writes go in their order. Rejects with the first error, once every
 * write already started has ended (eachAtMost).
 */
export async function runRowWrites(writes: readonly RowWrite[]): Promise<void> {
  const byFile = new Map<number, RowWrite[]>();
  for (const w of writes) {
    const list = byFile.get(w.fd);
    if (list) list.push(w);
    else byFile.set(w.fd, [w]);
  }
  await eachAtMost(PARALLEL_WRITES, [...byFile.values()], async (list) => {
    for (const w of list) await pwrite(w);
  });
}

/**
 * Calls `each` on every item, at most `limit` at a time, in their order. After a failure no further
 * item starts, and the first error is thrown once every call already started has ended: nothing still
 * reads or writes when the caller goes on (and closes its files).
 */
async function eachAtMost<T>(
  limit: number,
  items: readonly T[],
  each: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && !failed) {
      const item = items[next++] as T;
      try {
        await each(item);
      } catch (err) {
        if (!failed) failure = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failure;
}

function pwrite({ fd, position, bytes }: RowWrite): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (done: number) =>
      write(fd, bytes, done, bytes.length - done, position + done, (err, n) => {
        if (err) reject(err);
        else if (done + n < bytes.length) from(done + n);
        else resolve();
      });
    from(0);
  });
}
