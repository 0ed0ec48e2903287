// Encoder pieces for the hand-assembled WebAssembly SIMD kernels (calibration, assembly, bin sums).
// Each kernel keeps its own instruction sequence; what they share is here: LEB128 numbers, local and
// constant instructions, and one module layout — a single function type of i32 parameters, the
// memory imported as env.mem, the kernel functions and their exports. The kernels are built at run
// time because their memory layout (strides, array offsets, page counts) becomes constants in the code.

/** `n` (a non-negative integer below 2³²) as unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** `n` (a 32-bit integer) as signed LEB128, the encoding of i32.const immediates. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    // Done when the rest is all sign bits and the byte's top bit already carries that sign.
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A module section: id, byte length, body. */
export const section = (id: number, body: readonly number[]): number[] => [id, ...uleb(body.length), ...body];

/** A SIMD instruction's opcode (0xfd prefix, then the op as LEB128). */
export const simd = (op: number): number[] => [0xfd, ...uleb(op)];

/** A load or store's memory argument: log2 of the alignment, then the constant byte offset. */
export const memarg = (align: number, offset: number): number[] => [...uleb(align), ...uleb(offset)];

export const localGet = (i: number): number[] => [0x20, ...uleb(i)];
export const localSet = (i: number): number[] => [0x21, ...uleb(i)];
export const localTee = (i: number): number[] => [0x22, ...uleb(i)];
export const i32const = (v: number): number[] => [0x41, ...sleb(v)];

/** What a kernel module holds besides its code. */
export interface KernelModuleSpec {
  /** i32 parameters of every function (they all share one type). */
  readonly params: number;
  /** i32 results of every function (0 or 1). */
  readonly results: number;
  /**
   * The memory imported as env.mem, in 64 KiB pages; `max` when it has one (a shared memory must).
   * The import must match the memory given at instantiation, so the limits are the caller's.
   */
  readonly memory: { readonly min: number; readonly max?: number; readonly shared?: boolean };
  /**
   * The functions in index order, each exported under `name` (ASCII); `code` is the body as the code
   * section holds it: local declarations, then instructions ending in `end` (0x0b).
   */
  readonly functions: readonly { readonly name: string; readonly code: readonly number[] }[];
}

/** The bytes of a module: header, type, memory import, functions, exports and code sections. */
export function kernelModuleBytes(spec: KernelModuleSpec): Uint8Array<ArrayBuffer> {
  const { params, results, memory, functions } = spec;
  const vec = (items: readonly number[][]) => [...uleb(items.length), ...items.flat()];
  const name = (s: string) => vec([...s].map((ch) => [ch.charCodeAt(0)]));
  const i32s = (n: number) => vec(Array.from({ length: n }, () => [0x7f]));
  // Limits flag: bit 0 a maximum follows, bit 1 shared.
  const flag = (memory.max !== undefined ? 0x01 : 0x00) | (memory.shared ? 0x02 : 0x00);
  const limits = [flag, ...uleb(memory.min), ...(memory.max !== undefined ? uleb(memory.max) : [])];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vec([[0x60, ...i32s(params), ...i32s(results)]])),
    ...section(2, vec([[...name("env"), ...name("mem"), 0x02, ...limits]])),
    ...section(3, vec(functions.map(() => [0x00]))), // every function has type 0
    ...section(7, vec(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(functions.map((f) => [...uleb(f.code.length), ...f.code]))),
  ]);
}
