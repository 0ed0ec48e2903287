"""Writes one EXDF 1.2 file holding every HDF5 type EXDF files hold, with h5py (as the facility's
tools write them), and prints what h5py reads back as JSON: for each key, numpy's dtype text and the
values, for sase's reader to reproduce. Usage: exdf_types.py <out.h5>"""
import json
import sys

import h5py
import numpy as np

REMI = "SQS_REMI_DLD6/DET/TOP:output"
CTRL = "SQS_REMI_DLD6/DET/TOP"
TRAINS = [5000, 5001, 5002]
HITS_PER_TRAIN = 4

hit = np.dtype([("x", "<f8"), ("y", "<f8"), ("t", "<f8"), ("m", "<i4")])
peak = np.dtype([("channel", "u1"), ("amp", "<f4", (2,)), ("name", "S6"), ("ok", "?")])
state = h5py.enum_dtype({"OFF": 0, "ON": 1, "ERROR": 7}, basetype="i2")

path = sys.argv[1]
with h5py.File(path, "w") as f:
    n = len(TRAINS)
    f["METADATA/dataFormatVersion"] = [b"1.2"]
    f["METADATA/dataSources/dataSourceId"] = [
        f"CONTROL/{CTRL}".encode(),
        f"INSTRUMENT/{REMI}/rec".encode(),
        f"INSTRUMENT/{REMI}/digitizer".encode(),
    ]
    f["METADATA/dataSources/root"] = [b"CONTROL", b"INSTRUMENT", b"INSTRUMENT"]
    f["METADATA/dataSources/deviceId"] = [CTRL.encode(), f"{REMI}/rec".encode(), f"{REMI}/digitizer".encode()]
    f["INDEX/trainId"] = np.array(TRAINS, "u8")
    f["INDEX/timestamp"] = np.zeros(n, "u8")
    f["INDEX/flag"] = np.ones(n, "i4")
    f["INDEX/origin"] = np.zeros(n, "i4")
    f[f"INDEX/{CTRL}/first"] = np.arange(n, dtype="u8")
    f[f"INDEX/{CTRL}/count"] = np.ones(n, "u8")
    f[f"INDEX/{REMI}/rec/first"] = np.arange(n, dtype="u8") * HITS_PER_TRAIN
    f[f"INDEX/{REMI}/rec/count"] = np.full(n, HITS_PER_TRAIN, "u8")
    f[f"INDEX/{REMI}/digitizer/first"] = np.arange(n, dtype="u8")
    f[f"INDEX/{REMI}/digitizer/count"] = np.ones(n, "u8")

    hits = np.zeros(n * HITS_PER_TRAIN, hit)
    hits["x"] = np.arange(hits.size) * 0.5
    hits["y"] = -np.arange(hits.size) * 0.25
    hits["t"] = np.arange(hits.size) + 1000.0
    hits["m"] = np.arange(hits.size) % 3
    f[f"INSTRUMENT/{REMI}/rec/hits"] = hits
    f[f"INSTRUMENT/{REMI}/rec/nhits"] = np.full(n * HITS_PER_TRAIN, 1, "i4")
    peaks = np.zeros((n, 2), peak)
    peaks["channel"] = np.arange(2 * n).reshape(n, 2)
    peaks["amp"] = np.arange(4 * n, dtype="f4").reshape(n, 2, 2)
    peaks["name"] = [[b"A%d" % i, b"B%d" % i] for i in range(n)]
    peaks["ok"] = [[True, False]] * n
    f[f"INSTRUMENT/{REMI}/digitizer/peaks"] = peaks
    f[f"INSTRUMENT/{REMI}/digitizer/label"] = np.array(["first", "zweite ä", ""], dtype=h5py.string_dtype())
    f[f"INSTRUMENT/{REMI}/digitizer/unit"] = np.array([b"ns", b"mm", b"ps"], dtype="S4")
    # A type sase does not decode (variable-length integer sequences): listed as skipped.
    ragged = f.create_dataset(f"INSTRUMENT/{REMI}/digitizer/ragged", (n,), dtype=h5py.vlen_dtype("i4"))
    for i in range(n):
        ragged[i] = np.arange(i + 1, dtype="i4")

    f[f"CONTROL/{CTRL}/state/value"] = np.array([0, 1, 7], "i2").astype(state)
    f[f"CONTROL/{CTRL}/state/timestamp"] = np.zeros(n, "u8")
    f[f"CONTROL/{CTRL}/enabled/value"] = np.array([True, False, True])
    f[f"CONTROL/{CTRL}/enabled/timestamp"] = np.zeros(n, "u8")
    f[f"RUN/{CTRL}/state/value"] = np.array([1], "i2").astype(state)
    f[f"RUN/{CTRL}/state/timestamp"] = np.zeros(1, "u8")
    f[f"RUN/{CTRL}/enabled/value"] = np.array([True])
    f[f"RUN/{CTRL}/enabled/timestamp"] = np.zeros(1, "u8")


def values(ds):
    a = ds[()]
    if a.dtype.names:
        return {name: values_of(a[name]) for name in a.dtype.names}
    return values_of(a)


def values_of(a):
    if a.dtype.kind == "S":
        return [s.decode() for s in a.ravel()]
    if a.dtype.kind == "O":
        return [s.decode() if isinstance(s, bytes) else s for s in a.ravel()]
    return {"shape": list(a.shape), "data": a.ravel().tolist()}


out = {}
with h5py.File(path, "r") as f:

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.startswith(("INSTRUMENT/", "CONTROL/")) and "ragged" not in name:
            out[name] = {"dtype": str(obj.dtype), "values": values(obj)}

    f.visititems(visit)
print(json.dumps(out))
