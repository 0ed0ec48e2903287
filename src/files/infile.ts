// A key's entries for one train left in the file and read on demand, piece by piece. Why: a bridge
// server replaying a detector run (hundreds of MB per train) can stream each train to its socket
// through a few reused buffers instead of reading it whole into fresh memory first; on a VM every
// first-touched page of fresh memory costs ~15 µs, i.e. ~1 s per 270 MB train.
import { allocTyped, type DType, itemSize, type NDArray, ndarray, shapeSize } from "../core/index.ts";
import { type Extent, preadFully } from "./direct.ts";
import { FilesError } from "./errors.ts";

/** Entries of one key in one train, still in the file (see DataCollection.trainsInFile). */
export interface ArrayInFile {
  readonly kind: "in-file";
  readonly dtype: DType;
  /** Shape of the entries, as an NDArray of them would have it. */
  readonly shape: readonly number[];
  readonly byteLength: number;
  /**
   * Copies bytes [offset, offset + dest.length) of the entries into `dest`; false, leaving `dest`
   * untouched, when those bytes are all zeros (chunks never written), so a caller can send zeros it
   * already has instead.
   */
  read(offset: number, dest: Uint8Array): boolean;
}

/** True for entries left in the file. */
export function isArrayInFile(v: unknown): v is ArrayInFile {
  // `read` too: a plain map of values could hold kind: "in-file", never a function.
  return (
    typeof v === "object" &&
    v !== null &&
    (v as ArrayInFile).kind === "in-file" &&
    typeof (v as ArrayInFile).read === "function"
  );
}

/** Where one piece of the entries is: a file (its descriptor looked up at read time) and extents. */
export interface InFilePiece {
  /** The open file's descriptor (a run may close and reopen its files between trains). */
  fd(): number;
  /** Name for errors. */
  readonly file: string;
  readonly extents: readonly Extent[];
}

interface Segment {
  readonly piece: InFilePiece;
  readonly start: number; // byte offset in the entries
  readonly position: number | null;
  readonly length: number;
}

/** Entries of `shape` and `dtype` whose bytes are the pieces' extents, in order. */
export function arrayInFile(
  dtype: DType,
  shape: readonly number[],
  pieces: readonly InFilePiece[],
): ArrayInFile {
  const segments: Segment[] = [];
  let byteLength = 0;
  for (const piece of pieces)
    for (const { position, length } of piece.extents) {
      segments.push({ piece, start: byteLength, position, length });
      byteLength += length;
    }
  if (byteLength !== shapeSize(shape) * itemSize(dtype))
    throw new FilesError(`entries of shape [${shape.join(", ")}] are not ${byteLength} bytes in the file`);
  const first = (offset: number): number => {
    let lo = 0;
    let hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((segments[mid] as Segment).start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const read = (offset: number, dest: Uint8Array): boolean => {
    const end = offset + dest.length;
    if (offset < 0 || end > byteLength)
      throw new FilesError(`read of bytes ${offset}..${end} past the entries' ${byteLength}`, {
        code: "OUT_OF_RANGE",
      });
    const from = first(offset);
    let zeros = true;
    for (let i = from; i < segments.length && (segments[i] as Segment).start < end; i++)
      if ((segments[i] as Segment).position !== null) zeros = false;
    if (zeros) return false;
    for (let i = from; i < segments.length; i++) {
      const s = segments[i] as Segment;
      if (s.start >= end) break;
      const a = Math.max(offset, s.start);
      const b = Math.min(end, s.start + s.length);
      if (s.position === null) dest.fill(0, a - offset, b - offset);
      else if (!preadFully(s.piece.fd(), dest, a - offset, b - a, s.position + (a - s.start)))
        throw new FilesError(`file ends before byte ${s.position + (b - s.start)}`, {
          file: s.piece.file,
          code: "BAD_FILE",
        });
    }
    return true;
  };
  return { kind: "in-file", dtype, shape, byteLength, read };
}

/** The entries read into fresh memory. */
export function loadArrayInFile(a: ArrayInFile): NDArray {
  const data = allocTyped(a.dtype, shapeSize(a.shape));
  if (data.byteLength > 0) a.read(0, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)); // zeros: as allocated
  return ndarray(data, [...a.shape], a.dtype);
}
