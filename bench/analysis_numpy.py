# Baseline of bench/analysis.ts: azimuthal integration with numpy's bincount and bin indices computed
# once, as one writes it in a notebook. Reads the frame and set-up from argv, prints JSON timings.
import json, sys, time
import numpy as np

frame_path, width, height, cy, cx, pixel, dist, energy, bins, frames = sys.argv[1:11]
width, height, bins, frames = int(width), int(height), int(bins), int(frames)
cy, cx, pixel, dist, energy = float(cy), float(cx), float(pixel), float(dist), float(energy)
img = np.fromfile(frame_path, dtype=np.float32).reshape(height, width)

# Once per geometry: q of every pixel, its bin, the covered (non-gap) pixels and the count per bin.
r, c = np.mgrid[:height, :width]
radius = np.hypot((r + 0.5 - cy) * pixel, (c + 0.5 - cx) * pixel)
q = 4 * np.pi * energy / 12.398419843320026 * np.sin(np.arctan2(radius, dist) / 2)
covered = np.isfinite(img).ravel()
qmin, qmax = q.ravel()[covered].min(), q.ravel()[covered].max()
idx = np.minimum(((q.ravel() - qmin) * (bins / (qmax - qmin))).astype(np.intp), bins - 1)
pix = np.nonzero(covered)[0]
idx_cov = idx[pix]
counts = np.bincount(idx_cov, minlength=bins)
# Variant without the gather: gaps go to an extra bin that is dropped.
idx_all = np.where(covered, idx, bins)
counts_all = np.bincount(idx_all, minlength=bins + 1)[:bins]

def gather():
    return np.bincount(idx_cov, weights=img.ravel()[pix], minlength=bins) / counts

def full():
    return np.bincount(idx_all, weights=img.ravel(), minlength=bins + 1)[:bins] / counts_all

out = {}
for name, fn in (("gather", gather), ("full", full)):
    for _ in range(3):
        fn()
    chunk = max(1, frames // 5)
    best = float("inf")
    for _ in range(5):  # best of 5 chunks, as the TypeScript side
        t = time.perf_counter()
        for _ in range(chunk):
            res = fn()
        best = min(best, (time.perf_counter() - t) / chunk * 1e3)
    out[name] = best
    out[name + "_first"] = float(res[bins // 2])
print(json.dumps(out))
