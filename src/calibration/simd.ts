// The hot correction case (adaptive gain, three stages, relative gain, no common mode) as a
// WebAssembly SIMD function, four pixels per step. The module is assembled here, at run time, for one
// module size: the stride between gain-stage planes is then a constant load offset. It works on a
// shared WebAssembly memory (an Arena), so worker threads can run it on the same constants and
// frames. Arithmetic is IEEE float32 subtract and multiply, as in the JavaScript kernel and numpy,
// so results are bit-identical.

import {
  kernelModuleBytes,
  localGet as get,
  localSet as set,
  localTee as tee,
  memarg as mem,
  simd,
} from "../core/wasm-asm.ts";
import type { ModuleConstants } from "./constants.ts";
import { SaseError, showValue } from "../core/index.ts";

/** A shared WebAssembly memory with a bump allocator; typed-array views on it work everywhere. */
export class Arena {
  readonly memory: WebAssembly.Memory;
  #top = 64;

  /** Reserves `bytes` (rounded up to 64 KiB pages; the memory cannot grow later), or wraps `memory`. */
  constructor(bytes: number, memory?: WebAssembly.Memory) {
    const pages = Math.ceil((bytes + 65536) / 65536);
    if (pages > 65536)
      throw new SaseError("BAD_OPTION", `an Arena holds at most 4 GiB, ${bytes} bytes asked`, {
        value: showValue(bytes),
      });
    this.memory = memory ?? new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    // A wrapped memory belongs to another thread's allocator: this side only reads and writes views.
    if (memory) this.#top = memory.buffer.byteLength;
  }

  /** This arena's memory as seen by another thread (views made there with `view`). */
  static wrap(memory: WebAssembly.Memory): Arena {
    return new Arena(0, memory);
  }

  /** The same elements as `a` (a view on this memory made in another thread), viewed from here. */
  view<T extends Uint8Array | Uint16Array | Uint32Array | Float32Array>(a: T): T {
    const Ctor = a.constructor as new (b: ArrayBufferLike, offset: number, length: number) => T;
    return new Ctor(this.memory.buffer, a.byteOffset, a.length);
  }

  /** Byte offset of a fresh 64-byte-aligned block of `bytes`. */
  alloc(bytes: number): number {
    const at = this.#top;
    const end = at + Math.ceil(bytes / 64) * 64;
    if (end > this.memory.buffer.byteLength)
      throw new SaseError("NO_ROOM", `Arena full: ${bytes} more bytes do not fit`, {
        value: showValue(bytes),
      });
    this.#top = end;
    return at;
  }

  floats(n: number): Float32Array {
    return new Float32Array(this.memory.buffer, this.alloc(n * 4), n);
  }
  uint32(n: number): Uint32Array {
    return new Uint32Array(this.memory.buffer, this.alloc(n * 4), n);
  }
  uint16(n: number): Uint16Array {
    return new Uint16Array(this.memory.buffer, this.alloc(n * 2), n);
  }
  uint8(n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, this.alloc(n), n);
  }

  /** True when `a` is a view on this arena's memory. */
  holds(a: ArrayBufferView): boolean {
    return a.buffer === this.memory.buffer;
  }
}

// Function parameters, in order (all i32): pointers are byte offsets into the memory.
const A = 0; // analog plane (u16)
const D = 1; // digital plane (u16)
const T = 2; // thresholds of the cell (f32): T0 plane, T1 plane at +P·4
const O = 3; // offsets of the cell (f32): plane per stage, P·4 apart
const R = 4; // relative gains of the cell (f32)
const B = 5; // bad pixels of the cell (u32)
const OUT = 6; // float32 output
const GAIN = 7; // uint8 output
const MASK = 8; // uint32 output
const N = 9; // pixels (multiple of 4)
const SAT = 10; // saturation (raw value flagged from here on)
const I = 11; // local: pixel index
const I2 = 12; // local: i·2
const I4 = 13; // local: i·4
const AV = 14; // local v128: analog as i32
const DV = 15; // local v128: digital as i32
const M0 = 16; // local v128: above threshold 0
const M1 = 17; // local v128: above threshold 1 (and 0)
const DF = 18; // local v128: digital as f32
const OFF = 19; // local v128: offsets of the pixels' stages
const RG = 20; // local v128: relative gains of the pixels' stages
const BP = 21; // local v128: bad-pixel bits of the pixels' stages

/** Assembles the kernel for modules of `pixels` pixels. */
function kernelModule(pixels: number, maxPages: number): Uint8Array<ArrayBuffer> {
  const plane = pixels * 4;
  const at = (ptr: number, idx: number) => [...get(ptr), ...get(idx), 0x6a]; // ptr + idx
  const load = (ptr: number, offset: number) => [...at(ptr, I4), ...simd(0x00), ...mem(4, offset)];
  const splat4 = (v: number) => [
    ...simd(0x0c),
    ...Array.from({ length: 4 }, () => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]).flat(),
  ];
  // The stage's plane of a constant: m1 ? stage2 : (m0 ? stage1 : stage0).
  const select = (ptr: number) => [
    ...load(ptr, 2 * plane),
    ...load(ptr, plane),
    ...load(ptr, 0),
    ...get(M0),
    ...simd(0x52), // v128.bitselect
    ...get(M1),
    ...simd(0x52),
  ];
  const flag = (v: number, bit: number) => [
    ...get(v),
    ...get(SAT),
    ...simd(0x11),
    ...simd(0x40),
    ...splat4(bit),
    ...simd(0x4e),
  ];
  const code = [
    ...[0x02, 0x03, 0x7f, 0x08, 0x7b], // locals: 3 × i32, 8 × v128
    ...[0x02, 0x40, 0x03, 0x40], // block, loop
    ...get(I),
    ...get(N),
    ...[0x4f, 0x0d, 0x01], // i32.ge_u; br_if 1
    ...get(I),
    ...[0x41, 0x01, 0x74],
    ...set(I2),
    ...get(I),
    ...[0x41, 0x02, 0x74],
    ...set(I4),
    ...at(A, I2),
    ...simd(0x04), // v128.load16x4_u
    ...mem(1, 0),
    ...set(AV),
    ...at(D, I2),
    ...simd(0x04),
    ...mem(1, 0),
    ...set(DV),
    ...get(DV),
    ...simd(0xfb), // f32x4.convert_i32x4_u
    ...tee(DF),
    ...load(T, 0),
    ...simd(0x44), // f32x4.gt
    ...tee(M0),
    // Most pixels stay in high gain: only when one of the four switched are the other stages'
    // planes read at all (the kernel is bound by memory traffic, so this is the speed-up).
    ...simd(0x53), // v128.any_true
    ...[0x04, 0x40], // if
    ...get(DF),
    ...load(T, plane),
    ...simd(0x44),
    ...get(M0),
    ...simd(0x4e), // v128.and
    ...set(M1),
    ...select(O),
    ...set(OFF),
    ...select(R),
    ...set(RG),
    ...select(B),
    ...set(BP),
    0x05, // else
    ...splat4(0),
    ...set(M1),
    ...load(O, 0),
    ...set(OFF),
    ...load(R, 0),
    ...set(RG),
    ...load(B, 0),
    ...set(BP),
    0x0b, // end if
    // data = (float(analog) − offset) · relative gain
    ...at(OUT, I4),
    ...get(AV),
    ...simd(0xfb),
    ...get(OFF),
    ...simd(0xe5), // f32x4.sub
    ...get(RG),
    ...simd(0xe6), // f32x4.mul
    ...simd(0x0b), // v128.store
    ...mem(4, 0),
    // mask = bad pixels | VALUE_OUT_OF_RANGE where analog ≥ sat | WRONG_GAIN_VALUE where digital ≥ sat
    ...at(MASK, I4),
    ...get(BP),
    ...flag(AV, 0x1000),
    ...simd(0x50), // v128.or
    ...flag(DV, 0x200000),
    ...simd(0x50),
    ...simd(0x0b),
    ...mem(4, 0),
    // gain = 0 − m0 − m1 (0, 1, 2), narrowed to four bytes
    ...at(GAIN, I),
    ...splat4(0),
    ...get(M0),
    ...simd(0xb1), // i32x4.sub
    ...get(M1),
    ...simd(0xb1),
    ...tee(M0),
    ...get(M0),
    ...simd(0x86), // i16x8.narrow_i32x4_u
    ...tee(M0),
    ...get(M0),
    ...simd(0x66), // i8x16.narrow_i16x8_u
    ...simd(0x5a), // v128.store32_lane
    ...mem(0, 0),
    0x00,
    ...get(I),
    ...[0x41, 0x04, 0x6a],
    ...set(I), // i += 4
    ...[0x0c, 0x00, 0x0b, 0x0b, 0x0b], // br 0; end loop; end block; end function
  ];
  // The memory is an Arena's: shared, so its import has a maximum (any size from one page up).
  return kernelModuleBytes({
    params: 11,
    results: 0,
    memory: { min: 1, max: maxPages, shared: true },
    functions: [{ name: "k", code }],
  });
}

/** A copy of `c` whose arrays live in `arena`, where the SIMD kernel and the frame workers read them. */
export function constantsInArena(arena: Arena, c: ModuleConstants): ModuleConstants {
  const copy = <T extends Float32Array | Uint32Array>(a: T, make: (n: number) => T): T => {
    const b = make(a.length);
    b.set(a);
    return b;
  };
  return {
    ...c,
    thresholds: copy(c.thresholds, (n) => arena.floats(n)),
    offset: copy(c.offset, (n) => arena.floats(n)),
    relativeGain: copy(c.relativeGain, (n) => arena.floats(n)),
    badPixels: copy(c.badPixels, (n) => arena.uint32(n)),
  };
}

/** True when this engine runs WebAssembly SIMD with shared memory. */
export function simdAvailable(): boolean {
  try {
    return WebAssembly.validate(kernelModule(4, 2));
  } catch {
    return false;
  }
}

type KernelFn = (...args: number[]) => void;

/** The SIMD kernel bound to an arena, for modules of `pixels` pixels. */
export class SimdKernel {
  readonly #fn: KernelFn;

  private constructor(
    readonly arena: Arena,
    readonly pixels: number,
    fn: KernelFn,
  ) {
    this.#fn = fn;
  }

  /** Compiles the kernel for `pixels` (a multiple of 4) on `arena`'s memory. */
  static create(arena: Arena, pixels: number): SimdKernel {
    if (pixels % 4 !== 0)
      throw new SaseError("BAD_OPTION", `SIMD kernel needs a multiple of 4 pixels, got ${pixels}`, {
        value: showValue(pixels),
      });
    const pages = arena.memory.buffer.byteLength / 65536;
    const module = new WebAssembly.Module(kernelModule(pixels, pages));
    const instance = new WebAssembly.Instance(module, { env: { mem: arena.memory } });
    return new SimdKernel(arena, pixels, instance.exports.k as KernelFn);
  }

  /**
   * One frame: stage from the digital value, offset, relative gain, mask. Pointers are byte offsets
   * of the frame's analog and digital planes and of the cell's constant blocks.
   */
  frame(
    analog: number,
    digital: number,
    thresholds: number,
    offset: number,
    gain: number,
    badPixels: number,
    outData: number,
    outGain: number,
    outMask: number,
    saturation: number,
  ): void {
    this.#fn(
      analog,
      digital,
      thresholds,
      offset,
      gain,
      badPixels,
      outData,
      outGain,
      outMask,
      this.pixels,
      saturation,
    );
  }
}
