# An independent I(q): numpy's histogram over q computed per pixel from the geometry, photon energy and
# distance (arcsin-free: q = 4π/λ · sin(½·atan(r/d))). Reads a float32 image, prints I(q) as JSON.
import json, sys
import numpy as np

path, covered_path, width, height, cy, cx, pixel, dist, energy, bins, qmin, qmax = sys.argv[1:13]
width, height, bins = int(width), int(height), int(bins)
img = np.fromfile(path, dtype=np.float32).reshape(int(height), int(width)).astype(np.float64)
y = (np.arange(height) + 0.5 - float(cy)) * float(pixel)
x = (np.arange(width) + 0.5 - float(cx)) * float(pixel)
r = np.sqrt(y[:, None] ** 2 + x[None, :] ** 2)
wavelength = 12.398419843320026 / float(energy)
q = 4 * np.pi / wavelength * np.sin(np.arctan(r / float(dist)) / 2)
ok = np.isfinite(img)
# The automatic q range spans the pixels modules cover, masked or not (a mask must not move the axis).
covered = np.fromfile(covered_path, dtype=np.uint8).reshape(img.shape).astype(bool)
lo, hi = float(qmin), float(qmax)
if hi <= lo:
    lo, hi = q[covered].min(), q[covered].max()
s, edges = np.histogram(q[ok], bins=bins, range=(lo, hi), weights=img[ok])
n, _ = np.histogram(q[ok], bins=bins, range=(lo, hi))
with np.errstate(invalid="ignore", divide="ignore"):
    iq = s / n
centres = (edges[:-1] + edges[1:]) / 2
print(json.dumps({"q": centres.tolist(), "iq": [None if not np.isfinite(v) else v for v in iq.tolist()]}))
