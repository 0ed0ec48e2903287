// Colour maps as 256-entry RGBA lookup tables (little-endian Uint32, as ImageData wants them).

const STOPS: Record<string, string[]> = {
  viridis: [
    "440154",
    "482475",
    "414487",
    "355f8d",
    "2a788e",
    "21918c",
    "22a884",
    "44bf70",
    "7ad151",
    "bddf26",
    "fde725",
  ],
  inferno: [
    "000004",
    "160b39",
    "420a68",
    "6a176e",
    "932667",
    "bc3754",
    "dd513a",
    "f37819",
    "fca50a",
    "f6d746",
    "fcffa4",
  ],
  grey: ["000000", "ffffff"],
};

/** Names of the colour maps on offer. */
export const COLORMAPS = Object.keys(STOPS);

/** A 256-entry lookup table for a colour map, interpolating its stops linearly. */
export function colormapLut(name: string): Uint32Array {
  const stops = (STOPS[name] ?? STOPS.viridis) as string[];
  const rgb = stops.map(
    (s) => [0, 2, 4].map((i) => Number.parseInt(s.slice(i, i + 2), 16)) as [number, number, number],
  );
  const lut = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (rgb.length - 1);
    const k = Math.min(rgb.length - 2, Math.floor(t));
    const f = t - k;
    const a = rgb[k] as [number, number, number];
    const b = rgb[k + 1] as [number, number, number];
    const r = Math.round(a[0] + (b[0] - a[0]) * f);
    const g = Math.round(a[1] + (b[1] - a[1]) * f);
    const bl = Math.round(a[2] + (b[2] - a[2]) * f);
    lut[i] = (255 << 24) | (bl << 16) | (g << 8) | r;
  }
  return lut;
}

/** CSS colour of a LUT entry. */
export function lutCss(lut: Uint32Array, i: number): string {
  const c = lut[Math.max(0, Math.min(255, i))] as number;
  return `rgb(${c & 255},${(c >> 8) & 255},${(c >> 16) & 255})`;
}

/**
 * Colour-maps `pixels` into `out` (RGBA as Uint32) between `lo` and `hi`, linear or logarithmic.
 * NaN (gaps between modules) becomes `gap`. One pass, no allocation: it runs on every train.
 */
export function applyColormap(
  pixels: Float32Array,
  out: Uint32Array,
  lut: Uint32Array,
  lo: number,
  hi: number,
  log: boolean,
  gap: number,
): void {
  const n = pixels.length;
  const span = hi > lo ? hi - lo : 1;
  if (log) {
    const k = 255 / Math.log1p(span);
    for (let i = 0; i < n; i++) {
      const v = pixels[i] as number;
      if (Number.isNaN(v)) {
        out[i] = gap;
        continue;
      }
      const d = v - lo;
      const idx = d <= 0 ? 0 : Math.min(255, (Math.log1p(d) * k) | 0);
      out[i] = lut[idx] as number;
    }
  } else {
    const k = 255 / span;
    for (let i = 0; i < n; i++) {
      const v = pixels[i] as number;
      if (Number.isNaN(v)) {
        out[i] = gap;
        continue;
      }
      const t = (v - lo) * k;
      out[i] = lut[t <= 0 ? 0 : t >= 255 ? 255 : t | 0] as number;
    }
  }
}

/** The values at fractions `pLo` and `pHi` of the finite pixels (histogram over a sample). */
export function percentiles(
  pixels: Float32Array,
  min: number,
  max: number,
  pLo: number,
  pHi: number,
): [number, number] {
  if (!(max > min)) return [min, max];
  const bins = 2048;
  const hist = new Uint32Array(bins);
  const k = (bins - 1) / (max - min);
  const step = pixels.length > 262144 ? 7 : 1; // a sample is plenty for a colour scale
  let total = 0;
  for (let i = 0; i < pixels.length; i += step) {
    const v = pixels[i] as number;
    if (Number.isNaN(v)) continue;
    hist[((v - min) * k) | 0]++;
    total++;
  }
  const find = (p: number) => {
    const want = p * total;
    let acc = 0;
    for (let b = 0; b < bins; b++) {
      acc += hist[b] as number;
      if (acc >= want) return min + b / k;
    }
    return max;
  };
  return [find(pLo), find(pHi)];
}
