#!/usr/bin/python3
"""numpy reference of sase's AGIPD correction (src/calibration/kernel.ts), same math in float32.

Usage: correct_reference.py DIR [--repeat N]
DIR holds meta.json and raw little-endian arrays written by the caller (test or bench):
  raw.u16 (frames, 2, P), cellid.u16 (frames), thresholds.f32 (cells, stages-1, P),
  offset.f32 / relgain.f32 (cells, stages, P), badpix.u32 (cells, stages, P).
Writes data.f32, gain.u8, mask.u32 (frames, P) into DIR and prints {"seconds": ..., "cpu_seconds": ...}
(best of N; CPU time is what a busy machine cannot inflate).
"""
import json
import sys
import time

import numpy as np

VALUE_OUT_OF_RANGE = np.uint32(1 << 12)
WRONG_GAIN_VALUE = np.uint32(1 << 21)
FIXED = {"adaptive": -1, "fixed-high": 0, "fixed-medium": 1, "fixed-low": 2}


def load(d, name, dtype, shape):
    return np.fromfile(f"{d}/{name}", dtype=dtype).reshape(shape)


def correct(raw, cellid, thr, off, rg, bp, m, out_data, out_gain, out_mask, chunk=16):
    frames, _, P = raw.shape
    stages = off.shape[1]
    nf = m["fs"]
    opt = m["options"]
    fixed = FIXED[opt["gainMode"]]
    sat = opt["saturation"]
    px = np.arange(P)
    for f0 in range(0, frames, chunk):
        f1 = min(frames, f0 + chunk)
        a = raw[f0:f1, 0].astype(np.float32)
        d = raw[f0:f1, 1]
        cells = cellid[f0:f1].astype(np.int64)
        if fixed < 0:
            # stage = number of thresholds exceeded in order (stop at the first one not exceeded)
            g = np.zeros(d.shape, np.uint8)
            still = np.ones(d.shape, bool)
            for s in range(stages - 1):
                still &= d > thr[cells, s]
                g += still
        else:
            g = np.full(d.shape, fixed, np.uint8)
        k = (cells[:, None] * stages + g) * P + px[None, :]
        v = a - off.ravel()[k]
        mask = bp.ravel()[k] | np.where(a >= sat, VALUE_OUT_OF_RANGE, 0).astype(np.uint32)
        mask |= np.where(d >= sat, WRONG_GAIN_VALUE, 0).astype(np.uint32)
        if opt["commonMode"]:
            lo, hi = opt["commonModeRange"]
            v3 = v.reshape(f1 - f0, -1, nf)
            g3 = g.reshape(v3.shape)
            m3 = mask.reshape(v3.shape)
            for i in range(f1 - f0):
                for r in m["asics"]:
                    sl = (i, slice(r["ssStart"], r["ssStop"]), slice(r["fsStart"], r["fsStop"]))
                    block = v3[sl]
                    sel = (g3[sl] == 0) & (m3[sl] == 0) & (block >= lo) & (block <= hi)
                    n = int(sel.sum())
                    if n > 0 and n >= opt["commonModeMinFraction"] * block.size:
                        cm = np.float32(block[sel].astype(np.float64).sum() / n)
                        v3[sl] = block - cm
        if opt["relativeGain"]:
            v = v * rg.ravel()[k]
        if opt["maskedValue"] is not None:
            v[mask != 0] = np.float32(float(opt["maskedValue"]))
        out_data[f0:f1] = v
        out_gain[f0:f1] = g
        out_mask[f0:f1] = mask


def main():
    d = sys.argv[1]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    m = json.load(open(f"{d}/meta.json"))
    F, P, C, G = m["frames"], m["ss"] * m["fs"], m["cells"], m["stages"]
    raw = load(d, "raw.u16", np.uint16, (F, 2, P))
    cellid = load(d, "cellid.u16", np.uint16, (F,))
    thr = load(d, "thresholds.f32", np.float32, (C, G - 1, P))
    off = load(d, "offset.f32", np.float32, (C, G, P))
    rg = load(d, "relgain.f32", np.float32, (C, G, P))
    bp = load(d, "badpix.u32", np.uint32, (C, G, P))
    out_data = np.empty((F, P), np.float32)
    out_gain = np.empty((F, P), np.uint8)
    out_mask = np.empty((F, P), np.uint32)
    best = float("inf")
    best_cpu = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        c = time.process_time()
        correct(raw, cellid, thr, off, rg, bp, m, out_data, out_gain, out_mask)
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    out_data.tofile(f"{d}/data.f32")
    out_gain.tofile(f"{d}/gain.u8")
    out_mask.tofile(f"{d}/mask.u32")
    print(json.dumps({"seconds": best, "cpu_seconds": best_cpu}))


if __name__ == "__main__":
    main()
