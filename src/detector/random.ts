// Fast seeded randomness for the simulator: a 32-bit hash for fixed per-pixel properties and a
// xorshift stream with a Gaussian lookup table for per-frame noise (tens of millions of draws per
// train, so no Box-Muller and no allocation per draw).

/** A well-mixed 32-bit hash of two integers (murmur3 finaliser). */
export function hash32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Standard normal quantiles at (i + 0.5) / 65536: index with 16 random bits for a Gaussian draw. */
export const GAUSS_TABLE: Float32Array = buildGaussTable(65536);

function buildGaussTable(n: number): Float32Array {
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) t[i] = inverseNormal((i + 0.5) / n);
  return t;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function inverseNormal(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628274631,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - lo) return -inverseNormal(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** A seeded xorshift32 stream; `next()` gives 32 random bits, `normal()` a standard normal draw. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = hash32(seed, 0x5eed) || 0x2545f491;
  }
  /** The generator's state (hot loops copy it into a local and write it back). */
  get state(): number {
    return this.#s;
  }
  set state(s: number) {
    this.#s = s | 0 || 0x2545f491;
  }

  /** 32 random bits as an unsigned integer. */
  next(): number {
    let s = this.#s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#s = s;
    return s >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    return this.next() / 4294967296;
  }
  /** Standard normal (table-based, 16-bit resolution in probability). */
  normal(): number {
    return GAUSS_TABLE[this.next() >>> 16]!;
  }
  /** A Poisson draw with mean `lambda` (Knuth below 30, normal approximation above). */
  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda < 30) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = this.uniform();
      while (p > limit) {
        k++;
        p *= this.uniform();
      }
      return k;
    }
    const v = Math.round(lambda + Math.sqrt(lambda) * this.normal());
    return Math.max(v, 0);
  }
}
