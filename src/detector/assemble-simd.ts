// Assembly as a WebAssembly SIMD transpose. AGIPD tiles land in the image as columns (a module's fast
// scan runs along y), so assembling is a transpose of 64 × 128 tiles, mirrored in half the quadrants.
// Element by element that is a scattered store per pixel (16-40× a plain copy); here each 4 × 4 block
// is four 16-byte loads, eight shuffles and four 16-byte stores, walked so the destination rows are
// written in order. The module stack and the image live in the kernel's memory: callers fill the
// stack in place and read the image from there, so no copy goes in or out.

import { kernelModuleBytes, localGet as get, localSet as set } from "../core/wasm-asm.ts";

/** One tile as a strided block: rows × cols source pixels landing at dst + r·rowStep + c·colStep. */
export interface TileBlock {
  readonly src: number;
  readonly srcStride: number;
  readonly dst: number;
  readonly rows: number;
  readonly cols: number;
  readonly rowStep: number;
  readonly colStep: number;
}

const add = 0x6a;
const mul = 0x6c;
const load = [0xfd, 0x00, 0x00, 0x00]; // v128.load align=1 offset=0 (addresses are unaligned)
const store = [0xfd, 0x0b, 0x00, 0x00];
/** i8x16.shuffle of two f32x4 taking float lanes `l` (0-3 first operand, 4-7 second). */
const shuffle = (l: readonly number[]) => [
  0xfd,
  0x0d,
  ...l.flatMap((k) => [4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3]),
];

// Parameters (i32): source, destination (byte offsets), rows, cols, source row stride and destination
// step per source column (bytes; negative for mirrored tiles). Locals follow.
const [SRC, DST, ROWS, COLS, S, CS, C, R, SP, Q] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const [V0, V1, V2, V3, TA, TB, TC, TD] = [10, 11, 12, 13, 14, 15, 16, 17];

/** The transposing copy; `mirror`: consecutive source rows land at decreasing x (rowStep −1). */
function transposeFunction(mirror: boolean): number[] {
  const loadRow = (k: number) => [...get(SP), ...get(S), ...[0x41, k], mul, add, ...load];
  // Mirrored: the four rows go in reverse order, and the block's first x is 3 pixels further left.
  const order = mirror ? [3, 2, 1, 0] : [0, 1, 2, 3];
  const storeAt = (v: number, next: boolean) => [
    ...get(Q),
    ...get(v),
    ...store,
    ...(next ? [...get(Q), ...get(CS), add, ...set(Q)] : []),
  ];
  const body = [
    ...[0x41, 0x00, ...set(C)],
    ...[0x02, 0x40, 0x03, 0x40], // block, loop (columns)
    ...get(C),
    ...get(COLS),
    ...[0x4e, 0x0d, 0x01], // c >= cols: break
    ...[0x41, 0x00, ...set(R)],
    ...get(SRC),
    ...get(C),
    ...[0x41, 0x04, mul, add, ...set(SP)],
    ...[0x02, 0x40, 0x03, 0x40], // block, loop (rows)
    ...get(R),
    ...get(ROWS),
    ...[0x4e, 0x0d, 0x01], // r >= rows: break
    ...loadRow(order[0]!),
    ...set(V0),
    ...loadRow(order[1]!),
    ...set(V1),
    ...loadRow(order[2]!),
    ...set(V2),
    ...loadRow(order[3]!),
    ...set(V3),
    ...get(V0),
    ...get(V1),
    ...shuffle([0, 4, 1, 5]),
    ...set(TA),
    ...get(V2),
    ...get(V3),
    ...shuffle([0, 4, 1, 5]),
    ...set(TB),
    ...get(V0),
    ...get(V1),
    ...shuffle([2, 6, 3, 7]),
    ...set(TC),
    ...get(V2),
    ...get(V3),
    ...shuffle([2, 6, 3, 7]),
    ...set(TD),
    ...get(TA),
    ...get(TB),
    ...shuffle([0, 1, 4, 5]),
    ...set(V0),
    ...get(TA),
    ...get(TB),
    ...shuffle([2, 3, 6, 7]),
    ...set(V1),
    ...get(TC),
    ...get(TD),
    ...shuffle([0, 1, 4, 5]),
    ...set(V2),
    ...get(TC),
    ...get(TD),
    ...shuffle([2, 3, 6, 7]),
    ...set(V3),
    // q = dst + c·colStep + (mirror ? −(r + 3) : r)·4
    ...get(DST),
    ...get(C),
    ...get(CS),
    mul,
    add,
    ...(mirror
      ? [...get(R), 0x41, 0x03, add, 0x41, 0x7c, mul, add] // −4 is 0x7c in signed LEB
      : [...get(R), 0x41, 0x04, mul, add]),
    ...set(Q),
    ...storeAt(V0, true),
    ...storeAt(V1, true),
    ...storeAt(V2, true),
    ...storeAt(V3, false),
    ...get(SP),
    ...get(S),
    ...[0x41, 0x04, mul, add, ...set(SP)],
    ...get(R),
    ...[0x41, 0x04, add, ...set(R)],
    ...[0x0c, 0x00, 0x0b, 0x0b], // br 0; end loop; end block
    ...get(C),
    ...[0x41, 0x04, add, ...set(C)], // c += 4
    ...[0x0c, 0x00, 0x0b, 0x0b], // br 0; end loop; end block
    0x0b,
  ];
  const locals = [0x02, 0x04, 0x7f, 0x08, 0x7b]; // 4 × i32, 8 × v128
  return [...locals, ...body];
}

function kernelBytes(pages: number): Uint8Array<ArrayBuffer> {
  return kernelModuleBytes({
    params: 6,
    results: 0,
    memory: { min: pages },
    functions: [
      { name: "f", code: transposeFunction(false) },
      { name: "m", code: transposeFunction(true) },
    ],
  });
}

type Transpose = (
  src: number,
  dst: number,
  rows: number,
  cols: number,
  stride: number,
  colStep: number,
) => void;

let simdOk: boolean | undefined;

/** True when this engine runs WebAssembly SIMD. */
export function assemblySimdAvailable(): boolean {
  simdOk ??= (() => {
    try {
      return WebAssembly.validate(kernelBytes(1));
    } catch {
      return false;
    }
  })();
  return simdOk;
}

/**
 * A module stack and an image in one WebAssembly memory, and the tile blocks between them. Fill
 * `stack` (modules × ss × fs) in place, call assemble(), read `image` (overwritten by the next call;
 * copy it to keep it). Gaps between tiles stay NaN.
 */
export class StackAssembler {
  readonly stack: Float32Array;
  readonly image: Float32Array;
  readonly #blocks: readonly TileBlock[];
  readonly #simd: { forward: Transpose; mirrored: Transpose } | null;
  readonly #destination: Int32Array;

  constructor(
    stackPixels: number,
    imagePixels: number,
    blocks: readonly TileBlock[],
    destination: Int32Array,
  ) {
    this.#blocks = blocks;
    this.#destination = destination;
    // Every tile a whole number of 4 × 4 blocks, stepping ±1 along a row and a row per column: SIMD.
    const fits = blocks.every(
      (b) => b.rows % 4 === 0 && b.cols % 4 === 0 && Math.abs(b.rowStep) === 1 && Math.abs(b.colStep) !== 1,
    );
    const bytes = (stackPixels + imagePixels) * 4 + 64;
    const pages = Math.ceil(bytes / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.stack = new Float32Array(memory.buffer, 0, stackPixels);
    const imageAt = Math.ceil((stackPixels * 4) / 64) * 64;
    this.image = new Float32Array(memory.buffer, imageAt, imagePixels).fill(Number.NaN);
    if (fits && assemblySimdAvailable()) {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(kernelBytes(pages)), {
        env: { mem: memory },
      });
      this.#simd = { forward: instance.exports.f as Transpose, mirrored: instance.exports.m as Transpose };
    } else this.#simd = null;
  }

  /** True when tiles go through the SIMD transpose (else a per-pixel gather). */
  get usesSimd(): boolean {
    return this.#simd !== null;
  }

  /** Places the stack's pixels in the image; returns the image (a view, overwritten next time). */
  assemble(): Float32Array {
    const k = this.#simd;
    if (!k) {
      const dest = this.#destination;
      for (let i = 0; i < dest.length; i++) this.image[dest[i]!] = this.stack[i]!;
      return this.image;
    }
    const base = this.image.byteOffset;
    for (const b of this.#blocks) {
      const fn = b.rowStep === 1 ? k.forward : k.mirrored;
      fn(b.src * 4, base + b.dst * 4, b.rows, b.cols, b.srcStride * 4, b.colStep * 4);
    }
    return this.image;
  }
}
