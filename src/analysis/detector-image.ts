// The detector image as the graph sees it, built the same way live and offline: modules assembled with
// the snapped geometry, rows flipped so row 0 is at the top (as the GUI shows it), the beam centre and
// the map of covered pixels in those coordinates.
import type { DetectorGeometry } from "../detector/index.ts";
import type { ImageGeometry, ImageValue } from "./types.ts";
import { SaseError, showValue } from "../core/index.ts";

const cache = new WeakMap<DetectorGeometry, ImageGeometry>();

/** A row-major image upside down (into `out` when given). */
export function flipRows(img: Float32Array, width: number, height: number, out?: Float32Array): Float32Array {
  const o = out ?? new Float32Array(img.length);
  for (let y = 0; y < height; y++) o.set(img.subarray(y * width, (y + 1) * width), (height - 1 - y) * width);
  return o;
}

/**
 * Where the assembled image's pixels are, in the graph's coordinates (row 0 at the top). One object per
 * geometry, so nodes that precompute from it (azimuthal integration) do so once.
 */
export function imageGeometry(geometry: DetectorGeometry): ImageGeometry {
  let g = cache.get(geometry);
  if (!g) {
    const snapped = geometry.snapped();
    const [height, width] = snapped.shape;
    const covered = new Uint8Array(height * width);
    for (const d of snapped.destination) if (d >= 0) covered[d] = 1;
    const flipped = new Uint8Array(covered.length);
    for (let y = 0; y < height; y++) {
      flipped.set(covered.subarray(y * width, (y + 1) * width), (height - 1 - y) * width);
    }
    const [cy, cx] = snapped.centre;
    g = { centre: [height - cy, cx], pixelSize: geometry.layout.pixelSize, covered: flipped };
    cache.set(geometry, g);
  }
  return g;
}

/** The assembled image of a (modules, ss, fs) stack, row 0 at the top; gaps and missing modules NaN. */
export function assembleImage(geometry: DetectorGeometry, stack: Float32Array): ImageValue {
  const [height, width] = geometry.assembledShape;
  const assembled = geometry.assemble(stack);
  return { width, height, data: flipRows(assembled, width, height) };
}

/** The (frames, …) module array of one train, as the pipeline and the files give it. */
export interface ModuleArray {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number | bigint>;
}

/**
 * Copies frame `frame` of a module's train data into `out` (ss × fs): 2D (one image), 3D (frames,
 * ss, fs) or raw 4D (frames, 2, ss, fs), whose plane 0 holds the data — the GUI's live feed reads
 * modules the same way, so live and offline images agree pixel for pixel.
 */
export function copyModuleFrame(a: ModuleArray, frame: number, out: Float32Array): void {
  const n = out.length;
  const shape = a.shape;
  let offset: number;
  if (shape.length === 2) offset = 0;
  else if (shape.length === 3) offset = frame * n;
  else if (shape.length === 4) offset = frame * shape[1]! * n;
  else
    throw new SaseError("BAD_IMAGE", `module data of shape [${shape.join(", ")}] is not an image stack`, {
      value: showValue(shape),
    });
  const frames = shape.length === 2 ? 1 : shape[0]!;
  if (frame >= frames)
    throw new SaseError("BAD_OPTION", `frame ${frame} asked for, the module has ${frames}`, {
      value: showValue(frame),
    });
  if (offset + n > a.data.length)
    throw new SaseError("BAD_IMAGE", `module data [${shape.join(", ")}] smaller than a module`);
  const d = a.data;
  for (let i = 0; i < n; i++) out[i] = Number(d[offset + i]!);
}

/** Per-pulse values without the padding (trailing zeros or NaN) of the facility's fixed-size vectors. */
export function trimPulses(values: ArrayLike<number>): Float64Array {
  let n = values.length;
  while (n > 0 && (values[n - 1] === 0 || Number.isNaN(values[n - 1]!))) n--;
  return Float64Array.from({ length: n }, (_, i) => values[i]!);
}
