// Radial (azimuthally integrated) profile of an assembled detector image: the first look at a
// diffraction or scattering pattern, and what the live view plots next to the image.
import { SaseError, showValue } from "../core/index.ts";

/** A radial profile: mean intensity per ring of `binWidth` pixels around the centre. */
export interface RadialProfile {
  /** Centre radius of each bin, in pixels. */
  readonly radius: Float64Array;
  /** Mean of the finite pixels in each bin (NaN where a bin has none). */
  readonly mean: Float64Array;
  /** Finite pixels that fell into each bin. */
  readonly count: Uint32Array;
}

/**
 * The radial profile of a row-major `image` of `shape` (height, width) around `centre` (y, x) in
 * pixels. NaN pixels (gaps, masked pixels) are skipped.
 */
export function radialProfile(
  image: ArrayLike<number>,
  shape: readonly [number, number],
  centre: readonly [number, number],
  binWidth = 1,
): RadialProfile {
  const [height, width] = shape;
  if (image.length !== height * width) {
    throw new SaseError(
      "BAD_IMAGE",
      `radialProfile: image has ${image.length} pixels, shape ${height}×${width} needs ${height * width}`,
    );
  }
  if (!(binWidth > 0))
    throw new SaseError("BAD_OPTION", `radialProfile: binWidth must be positive, got ${binWidth}`, {
      value: showValue(binWidth),
    });
  const [cy, cx] = centre;
  const corners = [
    [0, 0],
    [0, width],
    [height, 0],
    [height, width],
  ];
  const rMax = Math.max(...corners.map(([y, x]) => Math.hypot(y! - cy, x! - cx)));
  const nBins = Math.ceil(rMax / binWidth) + 1;
  const sum = new Float64Array(nBins);
  const count = new Uint32Array(nBins);
  for (let y = 0; y < height; y++) {
    const dy = y + 0.5 - cy;
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const v = image[row + x]!;
      if (Number.isNaN(v)) continue;
      const dx = x + 0.5 - cx;
      const bin = Math.floor(Math.sqrt(dy * dy + dx * dx) / binWidth);
      sum[bin]! += v;
      count[bin]! += 1;
    }
  }
  const radius = new Float64Array(nBins);
  const mean = new Float64Array(nBins);
  for (let b = 0; b < nBins; b++) {
    radius[b] = (b + 0.5) * binWidth;
    mean[b] = count[b] ? sum[b]! / count[b]! : Number.NaN;
  }
  return { radius, mean, count };
}
