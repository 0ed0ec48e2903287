// Sum of image pixels per bin, for bin maps that change slowly along a row (azimuthal integration: a
// q bin is a ring, so neighbouring pixels mostly share it). The covered pixels are cut once into
// chunks of at most four neighbours in one row with one bin; a frame is then one WebAssembly SIMD step
// per chunk: load four pixels, zero the lanes past the chunk, add them in float64 and add the sum to
// the bin. That is one read-modify-write of a bin per chunk instead of per pixel, which is what bounds
// a per-pixel scatter (numpy's bincount). A chunk holding NaN (a masked or bad pixel) is left to a
// scalar pass that skips the NaN pixels and counts them; masks are small, so that pass is too.
// Sums are float64 of float32 pixels, as numpy's bincount with float64 weights, so results agree to
// rounding of the summation order.

import {
  i32const,
  kernelModuleBytes,
  localGet as get,
  localSet as set,
  localTee as tee,
  memarg as mem,
  simd,
} from "../core/wasm-asm.ts";

/** Where the kernel's arrays sit in its memory (byte offsets), built into its code as load offsets. */
interface Layout {
  /** Four v128 lane masks: lanes 0..k set for k = 0..3. */
  readonly masks: number;
  /** u32 per chunk: byte address of its first pixel. */
  readonly starts: number;
  /** u32 per chunk: bin << 6 | (length − 1) << 4, so the mask's and the bin's byte offsets are one op away. */
  readonly metas: number;
  /** f64x2 per bin: two partial sums, added when the frame is done. */
  readonly sums: number;
  /** u32 out: byte offsets (4 × index) of the chunks whose sum is NaN. */
  readonly nans: number;
}

/** Chunks per loop step. */
const UNROLL = 2;

// Parameter: END, the byte length of the chunk arrays (4 × chunks, > 0). Locals after it.
const END = 0;
const C = 1; // chunk byte offset
const NN = 2; // NaN chunks listed
const META = 3;
const ADDR = 4;
const D = 5; // v128: the chunk's pixels, then their sum as f64x2

/** The kernel `k(end) → NaN chunks` on an imported memory of `pages` pages laid out as `at`. */
function kernelModule(pages: number, at: Layout): Uint8Array<ArrayBuffer> {
  // One chunk, the k-th of the loop step: its arrays' entries are 4k bytes further on.
  const chunk = (k: number) => [
    // meta = metas[c]
    ...get(C),
    ...[0x28, ...mem(2, at.metas + 4 * k)], // i32.load
    ...set(META),
    // d = load(starts[c]) & masks[length − 1]
    ...get(C),
    ...[0x28, ...mem(2, at.starts + 4 * k)],
    ...simd(0x00), // v128.load, align 1: chunks start at any pixel
    ...mem(0, 0),
    ...get(META),
    ...i32const(48),
    0x71, // i32.and
    ...simd(0x00),
    ...mem(4, at.masks),
    ...simd(0x4e), // v128.and
    ...tee(D),
    // d = (lanes 0, 1 as f64) + (lanes 2, 3 as f64)
    ...simd(0x5f), // f64x2.promote_low_f32x4
    ...get(D),
    ...get(D),
    ...simd(0x0d), // i8x16.shuffle: lanes 2, 3 down to 0, 1
    ...[8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15],
    ...simd(0x5f),
    ...simd(0xf0), // f64x2.add
    ...tee(D),
    ...get(D),
    ...simd(0x48), // f64x2.ne: NaN
    ...simd(0x53), // v128.any_true
    ...[0x04, 0x40], // if: list the chunk
    ...get(NN),
    ...i32const(2),
    0x74, // i32.shl
    ...get(C),
    ...i32const(4 * k),
    0x6a,
    ...[0x36, ...mem(2, at.nans)], // i32.store
    ...get(NN),
    ...i32const(1),
    0x6a,
    ...set(NN),
    0x05, // else: sums[bin] += d
    ...get(META),
    ...i32const(2),
    0x76, // i32.shr_u
    ...[0x41, 0x70, 0x71], // i32.and −16: drops the length bits
    ...tee(ADDR),
    ...get(ADDR),
    ...simd(0x00),
    ...mem(4, at.sums),
    ...get(D),
    ...simd(0xf0),
    ...simd(0x0b), // v128.store
    ...mem(4, at.sums),
    0x0b, // end if
  ];
  const code = [
    ...[0x02, 0x04, 0x7f, 0x01, 0x7b], // locals: 4 × i32, 1 × v128
    ...[0x03, 0x40], // loop (the caller passes a nonzero multiple of UNROLL chunks)
    ...Array.from({ length: UNROLL }, (_, k) => chunk(k)).flat(),
    ...get(C),
    ...i32const(4 * UNROLL),
    0x6a,
    ...tee(C),
    ...get(END),
    ...[0x49, 0x0d, 0x00], // i32.lt_u; br_if 0
    0x0b, // end loop
    ...get(NN),
    0x0b, // end function
  ];
  return kernelModuleBytes({
    params: 1, // (i32) → i32
    results: 1,
    memory: { min: pages, max: pages }, // exactly `pages` pages
    functions: [{ name: "k", code }],
  });
}

let simdChecked: boolean | undefined;

/** True when this engine runs WebAssembly SIMD (Node 20 does; the scalar path is for others). */
export function binSumSimdAvailable(): boolean {
  if (simdChecked === undefined) {
    try {
      simdChecked = WebAssembly.validate(
        kernelModule(1, { masks: 0, starts: 64, metas: 128, sums: 192, nans: 256 }),
      );
    } catch {
      simdChecked = false;
    }
  }
  return simdChecked;
}

/** Chunks of at most four pixels of one row with one bin, in image order. */
export interface BinChunks {
  /** Pixel index of each chunk's first pixel. */
  readonly start: Int32Array;
  /** Pixels in each chunk, 1..4. */
  readonly length: Uint8Array;
  readonly bin: Uint16Array;
}

/**
 * Cuts the pixels of `bin` (bin of each pixel; −1 for pixels not summed) into chunks: runs of one bin
 * along a row of `width` pixels, at most four long.
 */
export function binChunks(bin: Int32Array, width: number): BinChunks {
  const start: number[] = [];
  const length: number[] = [];
  const bins: number[] = [];
  for (let i = 0; i < bin.length; i++) {
    const b = bin[i]!;
    if (b < 0) continue;
    const last = length.length - 1;
    // A new chunk at a row start, a new bin, a gap or a full chunk.
    if (
      last >= 0 &&
      i % width !== 0 &&
      bins[last] === b &&
      start[last]! + length[last]! === i &&
      length[last]! < 4
    )
      length[last]! += 1;
    else {
      start.push(i);
      length.push(1);
      bins.push(b);
    }
  }
  return { start: Int32Array.from(start), length: Uint8Array.from(length), bin: Uint16Array.from(bins) };
}

type KernelFn = (end: number) => number;

/** Sums an image's pixels per bin over precomputed chunks; SIMD where the engine has it. */
export class BinSum {
  readonly bins: number;
  readonly pixels: number;
  readonly #chunks: BinChunks;
  readonly #kernel: KernelFn | null = null;
  /** Views on the kernel's memory (the image slot is padded so a chunk may read three pixels past it). */
  readonly #image: Float32Array | null = null;
  /** Two partial sums per bin. */
  readonly #sums: Float64Array | null = null;
  readonly #nanChunks: Uint32Array | null = null;

  /** `pixels` is the image size the chunks index; `simd: false` forces the scalar path. */
  constructor(chunks: BinChunks, pixels: number, bins: number, opts: { simd?: boolean } = {}) {
    this.#chunks = chunks;
    this.bins = bins;
    this.pixels = pixels;
    if (chunks.start.length === 0 || !(opts.simd ?? true) || !binSumSimdAvailable()) return;
    // The kernel takes whole loop steps: the last is filled up with chunks of one zero pixel (the
    // image slot's padding) into bin 0.
    const n = Math.ceil(chunks.start.length / UNROLL) * UNROLL;
    let top = 0;
    const take = (bytes: number) => {
      const at = top;
      top += Math.ceil(bytes / 16) * 16;
      return at;
    };
    const at: Layout = {
      masks: take(64),
      starts: take(n * 4),
      metas: take(n * 4),
      sums: take(bins * 16),
      nans: take(n * 4),
    };
    const imageAt = take(pixels * 4 + 16);
    const pages = Math.ceil(top / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const buf = memory.buffer;
    const masks = new Int32Array(buf, at.masks, 16);
    for (let k = 0; k < 4; k++) for (let lane = 0; lane <= k; lane++) masks[4 * k + lane] = -1;
    const starts = new Uint32Array(buf, at.starts, n);
    const metas = new Uint32Array(buf, at.metas, n);
    starts.fill(imageAt + pixels * 4);
    for (let c = 0; c < chunks.start.length; c++) {
      starts[c] = imageAt + chunks.start[c]! * 4;
      metas[c] = (chunks.bin[c]! << 6) | ((chunks.length[c]! - 1) << 4);
    }
    this.#image = new Float32Array(buf, imageAt, pixels);
    this.#sums = new Float64Array(buf, at.sums, 2 * bins);
    this.#nanChunks = new Uint32Array(buf, at.nans, n);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(kernelModule(pages, at)), {
      env: { mem: memory },
    });
    this.#kernel = instance.exports.k as KernelFn;
  }

  /** Number of chunks a frame takes. */
  get chunks(): number {
    return this.#chunks.start.length;
  }

  /** True when frames go through the SIMD kernel. */
  get simd(): boolean {
    return this.#kernel !== null;
  }

  /**
   * Per bin: the sum of the non-NaN pixels into `sums`, and the number of NaN pixels into `nan`
   * (both overwritten).
   */
  sum(image: Float32Array, sums: Float64Array, nan: Float64Array): void {
    nan.fill(0);
    const kernel = this.#kernel;
    if (kernel === null) {
      sums.fill(0);
      const n = this.#chunks.start.length;
      for (let c = 0; c < n; c++) this.#scalarChunk(c, image, sums, nan);
      return;
    }
    (this.#image as Float32Array).set(image);
    const pairs = this.#sums as Float64Array;
    pairs.fill(0);
    const nanChunks = kernel(Math.ceil(this.#chunks.start.length / UNROLL) * UNROLL * 4);
    for (let b = 0; b < sums.length; b++) sums[b] = pairs[2 * b]! + pairs[2 * b + 1]!;
    const list = this.#nanChunks as Uint32Array;
    for (let k = 0; k < nanChunks; k++) this.#scalarChunk(list[k]! >>> 2, image, sums, nan);
  }

  /** Adds chunk `c`'s non-NaN pixels to its bin's sum and counts its NaN pixels. */
  #scalarChunk(c: number, image: Float32Array, sums: Float64Array, nan: Float64Array): void {
    const { start, length, bin } = this.#chunks;
    const b = bin[c]!;
    const i = start[c]!;
    const end = i + length[c]!;
    let s = 0;
    for (let k = i; k < end; k++) {
      const v = image[k]!;
      if (Number.isNaN(v)) nan[b]! += 1;
      else s += v;
    }
    sums[b]! += s;
  }
}
