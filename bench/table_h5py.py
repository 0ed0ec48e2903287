# The run table's baseline: what EXtra-data does to compute the same two variables, with h5py
# (EXtra-data is not packaged in Debian). RunDirectory opens every file of the run and reads its
# INDEX/trainId and METADATA (source list) to map trains to files; then the XGM's
# pulseEnergy.photonFlux is concatenated over the DA01 files and averaged, and the detector ROI is
# read as a hyperslab of image.data per module file and summed. Prints JSON.
import glob, json, os, resource, sys, time
import h5py
import numpy as np

run_dir, xgm_src, det_src = sys.argv[1], sys.argv[2], sys.argv[3]
r0, r1, c0, c1 = (int(v) for v in sys.argv[4:8])
t0 = time.perf_counter()
files = {}
for path in sorted(glob.glob(os.path.join(run_dir, "*.h5"))):
    f = h5py.File(path, "r")
    train_ids = f["INDEX/trainId"][:]
    sources = [s.decode() if isinstance(s, bytes) else s for s in f["METADATA/dataSources/dataSourceId"][:]]
    files[path] = (f, train_ids, sources)
t_open = time.perf_counter() - t0

t1 = time.perf_counter()
flux = []
for f, _, sources in files.values():
    if "CONTROL/" + xgm_src in sources:
        flux.append(f["CONTROL/" + xgm_src + "/pulseEnergy/photonFlux/value"][:])
xgm = float(np.concatenate(flux).astype(np.float64).mean())
t_xgm = time.perf_counter() - t1

t2 = time.perf_counter()
roi = 0.0
for f, _, sources in files.values():
    if "INSTRUMENT/" + det_src + "/image" in sources:
        ds = f["INSTRUMENT/" + det_src + "/image/data"]
        if ds.shape[0]:
            roi += float(ds[:, 0, r0:r1, c0:c1].astype(np.float64).sum())
t_roi = time.perf_counter() - t2
for f, _, _ in files.values():
    f.close()
print(json.dumps({
    "files": len(files), "open": t_open, "xgm_s": t_xgm, "roi_s": t_roi,
    "seconds": time.perf_counter() - t0, "xgm": xgm, "roi": roi,
    "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
