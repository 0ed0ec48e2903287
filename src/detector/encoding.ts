// Raw frame encodings. Calibration works on (frames, 2, pixels) planes: analog, then digital (gain)
// value. Detectors that send the gain stage in the high bits of each value (LPD) are unpacked into
// those planes on the way in (digital = stage number), and packed on the way out of the simulator.
import type { DetectorDescription } from "./description.ts";
import { modulePixels } from "./description.ts";

/** Packs (frames, 2, pixels) planes into the detector's raw encoding (a no-op for digital planes). */
export function encodeRaw(det: DetectorDescription, planes: Uint16Array, frames: number): Uint16Array {
  const enc = det.rawEncoding;
  if (enc.kind === "digital-plane") return planes;
  const P = modulePixels(det);
  const max = (1 << enc.analogBits) - 1;
  const out = new Uint16Array(frames * P);
  for (let f = 0; f < frames; f++) {
    const a0 = 2 * f * P;
    for (let p = 0; p < P; p++) {
      const a = planes[a0 + p]!;
      out[f * P + p] = (planes[a0 + P + p]! << enc.analogBits) | Math.min(a, max);
    }
  }
  return out;
}

/** Unpacks raw frames into (frames, 2, pixels) planes (returns `raw` itself for digital planes). */
export function decodeRaw(det: DetectorDescription, raw: Uint16Array, frames: number): Uint16Array {
  const enc = det.rawEncoding;
  if (enc.kind === "digital-plane") return raw;
  const P = modulePixels(det);
  const bits = enc.analogBits;
  const low = (1 << bits) - 1;
  const out = new Uint16Array(frames * 2 * P);
  for (let f = 0; f < frames; f++) {
    const o0 = 2 * f * P;
    for (let p = 0; p < P; p++) {
      const v = raw[f * P + p]!;
      out[o0 + p] = v & low;
      out[o0 + P + p] = v >>> bits;
    }
  }
  return out;
}
