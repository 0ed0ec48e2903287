"""Reads a run directory with Debian's h5py (no sase code) and prints its layout and data as JSON.

Used by the round-trip test: sase writes a run, this script reads it the way EXtra-data does (per
sequence file: INDEX/trainId, INDEX/<source>/<group>/first|count, then the CONTROL/INSTRUMENT data).
"""
import hashlib
import json
import os
import sys

import h5py
import numpy as np


def jsonable(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def main(run_dir):
    out = {"files": {}, "sources": {}}
    names = sorted(n for n in os.listdir(run_dir) if n.endswith(".h5"))
    per_source = {}
    for name in names:
        with h5py.File(os.path.join(run_dir, name), "r") as f:
            layout = {}

            def visit(path, obj):
                if isinstance(obj, h5py.Dataset):
                    layout[path] = {
                        "dtype": str(obj.dtype),
                        "shape": list(obj.shape),
                        "maxshape": [m if m is not None else -1 for m in obj.maxshape],
                        "chunks": list(obj.chunks) if obj.chunks else None,
                        "compression": obj.compression,
                        # 0 at allocation, 1 never, 2 if set (HDF5's default).
                        "fill_time": obj.id.get_create_plist().get_fill_time(),
                        # Space allocation time: 1 early, 2 late, 3 incremental (chunked: HDF5's default).
                        "alloc_time": obj.id.get_create_plist().get_alloc_time(),
                        "sha256": hashlib.sha256(obj[()].tobytes()).hexdigest() if obj.dtype.kind in "iuf" else None,
                        # Where each stored chunk sits in the file and its size (bytes).
                        "chunk_places": [
                            [obj.id.get_chunk_info(i).byte_offset, obj.id.get_chunk_info(i).size]
                            for i in range(obj.id.get_num_chunks())
                        ]
                        if obj.chunks
                        else [],
                    }

            f.visititems(visit)
            md = {k: jsonable(f["METADATA"][k][0]) for k in f["METADATA"] if isinstance(f["METADATA"][k], h5py.Dataset)}
            tids = f["INDEX/trainId"][:]
            sources = [s.decode() for s in f["METADATA/dataSources/dataSourceId"][:] if s]
            out["files"][name] = {
                "layout": layout,
                "metadata": md,
                "train_ids": tids.tolist(),
                "flag": f["INDEX/flag"][:].tolist(),
                "data_sources": sources,
                "root": [s.decode() for s in f["METADATA/dataSources/root"][:] if s],
                "device_id": [s.decode() for s in f["METADATA/dataSources/deviceId"][:] if s],
                "run": {p: jsonable(f[p][0]) for p in layout if p.startswith("RUN/") and f[p].ndim == 1},
            }
            for sid in sources:
                section, _, rest = sid.partition("/")
                if section == "CONTROL":
                    source, group, index = rest, "", "INDEX/" + rest
                else:
                    dev, _, chan_group = rest.partition(":")
                    chan, _, group = chan_group.partition("/")
                    source, index = dev + ":" + chan, "INDEX/" + rest
                first = f[index + "/first"][:]
                count = f[index + "/count"][:]
                root = f[section + "/" + source + ("/" + group if group else "")]
                keys = []
                root.visititems(lambda p, o: keys.append(p) if isinstance(o, h5py.Dataset) else None)
                for k in keys:
                    ds = root[k]
                    key = ((group + ".") if group else "") + k.replace("/", ".")
                    entry = per_source.setdefault(source, {}).setdefault(key, {"counts": {}, "sum": 0.0, "total": 0, "first": None})
                    for t, a, c in zip(tids, first, count):
                        if c == 0:
                            continue
                        rows = ds[a : a + c]
                        entry["counts"][str(int(t))] = int(c)
                        entry["total"] += int(c)
                        entry["sum"] += float(rows.sum(dtype=np.float64))
                        if entry["first"] is None:
                            entry["first"] = rows[0].ravel()[:8].tolist()
    out["sources"] = per_source
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
