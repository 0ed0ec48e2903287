"""Baselines for bench/files.ts with Debian's h5py (HDF5 1.10, C).

  files_h5py.py write <dir> <modules> <trains> <cells> <chunk_rows> <trains_per_file> [default|never|direct] [module]
                                                                      write image.data like sase does, a new sequence file
                                                                      every trains_per_file trains (also CPU seconds);
                                                                      never: fill time "never" (HDF5 then writes a chunk
                                                                      bigger than its cache straight from the array, as
                                                                      sase's writer does); direct: each train written as
                                                                      whole chunks with write_direct_chunk (no HDF5 work
                                                                      on the data at all: the fastest h5py can write);
                                                                      with [module], that module alone, timed from a
                                                                      line on stdin (several processes at once)
  files_h5py.py read <dir> [reuse|fresh] [module]                     read every image.data back (into one reused array);
                                                                      with [module], that module's files alone, timed from
                                                                      a line on stdin (several processes at once)
  files_h5py.py open <run dir>                                        open every file, read its INDEX, list keys

Each prints one JSON line with the seconds taken and the bytes moved.
"""
import json
import os
import sys
import time

import h5py
import numpy as np

FRAME = (2, 512, 128)


def image_dataset(f, name, chunk_rows, mode):
    """An empty, extendable image.data dataset: h5py's defaults, or with fill time "never"."""
    if mode == "default":
        return f.create_dataset(name, shape=(0,) + FRAME, maxshape=(None,) + FRAME,
                                chunks=(chunk_rows,) + FRAME, dtype="u2")
    # h5py 3.7 has no fill_time argument: the low-level API sets it.
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((chunk_rows,) + FRAME)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    lcpl = h5py.h5p.create(h5py.h5p.LINK_CREATE)
    lcpl.set_create_intermediate_group(True)
    space = h5py.h5s.create_simple((0,) + FRAME, (h5py.h5s.UNLIMITED,) + FRAME)
    return h5py.Dataset(h5py.h5d.create(f.id, name.encode(), h5py.h5t.STD_U16LE, space, dcpl=dcpl, lcpl=lcpl))


def write(d, modules, trains, cells, chunk_rows, trains_per_file, mode="default", only=None):
    if mode == "direct" and cells % chunk_rows:
        raise SystemExit(f"direct: a train ({cells} rows) must be whole chunks of {chunk_rows} rows")
    # The source array is made once, before the timing (sase's bench reuses one array too).
    img = (np.arange(cells * np.prod(FRAME), dtype=np.uint32) % 65521).astype(np.uint16).reshape((cells,) + FRAME)
    chunks = [np.ascontiguousarray(img[r:r + chunk_rows]) for r in range(0, cells, chunk_rows)]
    # Memory the VM's host took back is backed again right before the timing, as bench/lib/memory.ts
    # does for sase just before its writes (this process's start took longer than the host waits).
    backed = np.ones(int(1.5e9), dtype=np.uint8)
    del backed
    if only is not None:
        # One of several processes writing a module each: all start at once when told (a line on stdin).
        print("ready", flush=True)
        sys.stdin.readline()
    t0 = time.perf_counter()
    c0 = os.times()
    nbytes = 0
    mods = range(modules) if only is None else [only]
    for m, s in ((m, s) for m in mods for s in range(0, trains, trains_per_file)):
        src = f"SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf"
        name = f"H5PY-R0001-AGIPD{m:02d}-S{s // trains_per_file:05d}.h5"
        with h5py.File(os.path.join(d, name), "w", libver=("earliest", "v110")) as f:
            ds = image_dataset(f, f"INSTRUMENT/{src}/image/data", chunk_rows, mode)
            tid = f.create_dataset("INDEX/trainId", shape=(0,), maxshape=(None,), chunks=(256,), dtype="u8")
            first = f.create_dataset(f"INDEX/{src}/image/first", shape=(0,), maxshape=(None,), chunks=(256,), dtype="u8")
            count = f.create_dataset(f"INDEX/{src}/image/count", shape=(0,), maxshape=(None,), chunks=(256,), dtype="u8")
            for t in range(min(trains_per_file, trains - s)):
                n = ds.shape[0]
                ds.resize(n + cells, axis=0)
                if mode == "direct":
                    for i, chunk in enumerate(chunks):
                        ds.id.write_direct_chunk((n + i * chunk_rows, 0, 0, 0), chunk)
                else:
                    ds[n:] = img
                for x, v in ((tid, 10000 + s + t), (first, n), (count, cells)):
                    x.resize(t + 1, axis=0)
                    x[t] = v
                f.flush()
                nbytes += img.nbytes
    c1 = os.times()
    return time.perf_counter() - t0, nbytes, c1.user - c0.user, c1.system - c0.system, time.time()


def read(d, reuse=False, only=None):
    """Reads every image.data: into fresh arrays ([:]), or into one reused array (read_direct); with
    `only`, that module's files alone, timed from a line on stdin (several processes at once)."""
    paths = []
    for name in sorted(os.listdir(d)):
        if name.startswith("H5PY-") and (only is None or f"-AGIPD{only:02d}-" in name):
            paths.append(os.path.join(d, name))
    buf = None
    if reuse:
        with h5py.File(paths[0], "r") as f:
            shape = max((f[p].shape for p in walk(f)), key=lambda s: s[0])
        buf = np.ones(shape, dtype=np.uint16)  # touched once, outside the timing
    if only is not None:
        print("ready", flush=True)
        sys.stdin.readline()
    t0 = time.perf_counter()
    nbytes = 0
    for path in paths:
        with h5py.File(path, "r") as f:
            for p in walk(f):
                ds = f[p]
                if reuse:
                    out = buf[: ds.shape[0]]
                    ds.read_direct(out)
                    nbytes += out.nbytes
                else:
                    nbytes += ds[:].nbytes
    return time.perf_counter() - t0, nbytes, time.time()


def walk(f):
    found = []
    f.visititems(lambda p, o: found.append(p) if isinstance(o, h5py.Dataset) and p.endswith("image/data") else None)
    return found


def open_run(d):
    t0 = time.perf_counter()
    keys = set()
    ntrains = 0
    for name in sorted(os.listdir(d)):
        if not name.endswith(".h5"):
            continue
        with h5py.File(os.path.join(d, name), "r") as f:
            ntrains += len(f["INDEX/trainId"][:])
            for sid in f["METADATA/dataSources/dataSourceId"][:]:
                if not sid:
                    continue
                sid = sid.decode()
                section, _, rest = sid.partition("/")
                f[f"INDEX/{rest}/first"][:]
                f[f"INDEX/{rest}/count"][:]
                f[sid].visititems(lambda p, o: keys.add(rest + "/" + p) if isinstance(o, h5py.Dataset) else None)
    return time.perf_counter() - t0, len(keys)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "write":
        only = int(sys.argv[9]) if len(sys.argv) > 9 else None
        s, n, user, system, end = write(sys.argv[2], *map(int, sys.argv[3:8]), *sys.argv[8:9], only=only)
        print(json.dumps({"seconds": s, "n": n, "user": user, "system": system, "end": end}))
        sys.exit(0)
    elif cmd == "read":
        only = int(sys.argv[4]) if len(sys.argv) > 4 else None
        s, n, end = read(sys.argv[2], reuse=len(sys.argv) > 3 and sys.argv[3] == "reuse", only=only)
        print(json.dumps({"seconds": s, "n": n, "end": end}))
        sys.exit(0)
    else:
        s, n = open_run(sys.argv[2])
    print(json.dumps({"seconds": s, "n": n}))
