// Azimuthal integration of the assembled image into I(q), with everything that depends only on the
// geometry, photon energy and distance computed once: the bin of every covered pixel, the chunks of
// neighbouring pixels sharing a bin (bin-sum.ts) and the pixel count of every bin. A frame is then one
// SIMD step per chunk; only NaN pixels (masked or bad) are counted per frame, as they are few. Binning follows numpy's histogram (equal-width bins, the last one closed) so an independent
// numpy implementation gives the same I(q).
import { BinSum, binChunks } from "./bin-sum.ts";
import type { NodeKind } from "./node.ts";
import type { ImageGeometry, ImageValue, VectorValue } from "./types.ts";
import { SaseError, showValue } from "../core/index.ts";

/** hc in keV·Å: λ[Å] = HC_KEV_ANGSTROM / E[keV]. */
export const HC_KEV_ANGSTROM = 12.398419843320026;

/** What an integration depends on besides the image values. */
export interface AzimuthalSetup {
  readonly width: number;
  readonly height: number;
  readonly geometry: ImageGeometry;
  /** Sample–detector distance, metres. */
  readonly distance: number;
  /** Photon energy, keV. */
  readonly energy: number;
  readonly bins: number;
  /** q range in 1/Å; with qMax ≤ qMin, the range of the covered pixels. */
  readonly qMin?: number;
  readonly qMax?: number;
  /** false: the scalar path even where WebAssembly SIMD runs (tests compare the two). */
  readonly simd?: boolean;
}

/** Momentum transfer q (1/Å) of every pixel centre of a `width`×`height` image. */
export function pixelQ(s: Omit<AzimuthalSetup, "bins" | "simd">): Float64Array {
  const { width, height, geometry, distance, energy } = s;
  const [cr, cc] = geometry.centre;
  const k = (4 * Math.PI * energy) / HC_KEV_ANGSTROM;
  const q = new Float64Array(width * height);
  for (let r = 0; r < height; r++) {
    const dy = (r + 0.5 - cr) * geometry.pixelSize;
    for (let c = 0; c < width; c++) {
      const dx = (c + 0.5 - cc) * geometry.pixelSize;
      // 2θ is the scattering angle; q = 4π sin θ / λ.
      q[r * width + c] = k * Math.sin(Math.atan2(Math.hypot(dx, dy), distance) / 2);
    }
  }
  return q;
}

/** An azimuthal integrator for one image size, geometry, distance and energy. */
export class AzimuthalIntegrator {
  /** Bin centres, 1/Å. */
  readonly q: Float64Array;
  /** Covered pixels per bin. */
  readonly pixelsPerBin: Float64Array;
  readonly qMin: number;
  readonly qMax: number;
  /** Per-bin sums over chunks of neighbouring pixels sharing a bin (SIMD where available). */
  readonly #binSum: BinSum;
  readonly #sums: Float64Array;
  readonly #nan: Float64Array;
  readonly setup: AzimuthalSetup;

  constructor(setup: AzimuthalSetup) {
    const { width, height, geometry, bins } = setup;
    if (!(bins >= 1 && bins <= 65535 && Number.isInteger(bins))) {
      throw new SaseError(
        "BAD_OPTION",
        `azimuthal integration: bins must be an integer in 1..65535, got ${bins}`,
        { value: showValue(bins) },
      );
    }
    if (!(setup.distance > 0))
      throw new SaseError("BAD_OPTION", `azimuthal integration: distance must be > 0 m`, {
        value: showValue(setup.distance),
      });
    if (!(setup.energy > 0))
      throw new SaseError("BAD_OPTION", `azimuthal integration: photon energy must be > 0 keV`, {
        value: showValue(setup.energy),
      });
    this.setup = setup;
    const q = pixelQ(setup);
    const covered = geometry.covered;
    if (covered && covered.length !== q.length) {
      throw new SaseError(
        "BAD_GEOMETRY",
        `azimuthal integration: coverage map of ${covered.length} pixels for ${width}×${height}`,
      );
    }
    let qMin = setup.qMin ?? 0;
    let qMax = setup.qMax ?? 0;
    if (!(qMax > qMin)) {
      qMin = Number.POSITIVE_INFINITY;
      qMax = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < q.length; i++) {
        if (covered && !covered[i]) continue;
        if (q[i]! < qMin) qMin = q[i]!;
        if (q[i]! > qMax) qMax = q[i]!;
      }
    }
    this.qMin = qMin;
    this.qMax = qMax;
    const norm = bins / (qMax - qMin);
    const bin = new Int32Array(q.length).fill(-1);
    this.pixelsPerBin = new Float64Array(bins);
    for (let i = 0; i < q.length; i++) {
      const v = q[i]!;
      if ((covered && covered[i] !== 1) || !(v >= qMin && v <= qMax)) continue;
      let b = Math.floor((v - qMin) * norm);
      if (b >= bins) b = bins - 1; // q == qMax belongs to the last bin, as in numpy
      bin[i] = b;
      this.pixelsPerBin[b]! += 1;
    }
    this.#binSum = new BinSum(binChunks(bin, width), q.length, bins, { simd: setup.simd });
    this.#sums = new Float64Array(bins);
    this.#nan = new Float64Array(bins);
    this.q = Float64Array.from({ length: bins }, (_, b) => qMin + ((b + 0.5) * (qMax - qMin)) / bins);
  }

  /** Pixels integrated per frame. */
  get pixels(): number {
    let n = 0;
    for (const c of this.pixelsPerBin) n += c;
    return n;
  }

  /** True when frames go through the WebAssembly SIMD kernel. */
  get simd(): boolean {
    return this.#binSum.simd;
  }

  /** Mean intensity per q bin of `image` (NaN pixels skipped; NaN where a bin has none). */
  integrate(image: Float32Array, out: Float64Array = new Float64Array(this.q.length)): Float64Array {
    const { width, height } = this.setup;
    if (image.length !== width * height) {
      throw new SaseError(
        "BAD_IMAGE",
        `azimuthal integration: image of ${image.length} pixels, set up for ${width}×${height}`,
      );
    }
    const sums = this.#sums;
    const nan = this.#nan;
    this.#binSum.sum(image, sums, nan);
    const count = this.pixelsPerBin;
    for (let b = 0; b < out.length; b++) {
      const n = count[b]! - nan[b]!;
      out[b] = n > 0 ? sums[b]! / n : Number.NaN;
    }
    return out;
  }
}

export const azimuthalNode: NodeKind = {
  kind: "azimuthal",
  group: "image",
  doc: "Azimuthal integration to I(q) with the detector geometry, photon energy and sample distance",
  inputs: {
    image: { type: "image", doc: "Assembled image" },
    energy: { type: "scalar", optional: true, doc: "Photon energy, keV (default: the parameter)" },
    distance: { type: "scalar", optional: true, doc: "Sample distance, m (default: the parameter)" },
  },
  outputs: { iq: "vector" },
  params: {
    bins: { type: "integer", default: 512, min: 1, max: 65535, doc: "Number of q bins" },
    energy: { type: "number", default: 9.3, min: 0.1, max: 100, doc: "Photon energy, keV" },
    distance: { type: "number", default: 0.2, min: 0.001, max: 100, doc: "Sample–detector distance, m" },
    qMin: { type: "number", default: 0, min: 0, doc: "Lowest q, 1/Å (qMax ≤ qMin: the detector's range)" },
    qMax: { type: "number", default: 0, min: 0, doc: "Highest q, 1/Å" },
  },
  accumulates: false,
  create(p) {
    let integrator: AzimuthalIntegrator | null = null;
    return {
      run(inputs, train) {
        const img = inputs.image as ImageValue;
        const energy = (inputs.energy as number | undefined) ?? (p.energy as number);
        const distance = (inputs.distance as number | undefined) ?? (p.distance as number);
        const s = integrator?.setup;
        // Everything precomputed depends on these; a moving detector or a new energy recomputes once.
        if (
          !s ||
          s.width !== img.width ||
          s.height !== img.height ||
          s.energy !== energy ||
          s.distance !== distance ||
          s.geometry !== train.geometry
        ) {
          integrator = new AzimuthalIntegrator({
            width: img.width,
            height: img.height,
            geometry: train.geometry,
            distance,
            energy,
            bins: p.bins as number,
            qMin: p.qMin as number,
            qMax: p.qMax as number,
          });
        }
        const integ = integrator as AzimuthalIntegrator;
        const iq: VectorValue = { x: integ.q, y: integ.integrate(img.data) };
        return { iq };
      },
    };
  },
};
