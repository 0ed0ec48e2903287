"""Opens a run with EXtra-data (when importable) and prints its manifest as JSON, in the shape of the
reference fixtures' manifest.json, plus the problems EXtra-data's validator finds. Exit code 3 when
EXtra-data cannot be imported (it is not a Debian package: set PYTHONPATH to a checkout to use it).
"""
import json
import sys

try:
    from extra_data import RunDirectory
    from extra_data.validation import RunValidator
except ImportError:
    sys.exit(3)

import numpy as np


def main(run_dir):
    run = RunDirectory(run_dir, parallelize=False)
    sources = {}
    for src in sorted(run.all_sources):
        keys = {}
        for key in sorted(run[src].keys()):
            kd = run[src, key]
            entry = {"dtype": str(kd.dtype), "entry_shape": list(kd.entry_shape), "total": int(kd.data_counts().sum())}
            if kd.dtype.kind in "biuf" and len(kd.entry_shape) <= 1 and entry["total"] > 0:
                arr = kd.ndarray()
                entry["first"] = arr[0].tolist()
                entry["sum"] = float(arr.sum(dtype=np.float64))
            keys[key] = entry
        sources[src] = {"section": "CONTROL" if src in run.control_sources else "INSTRUMENT", "keys": keys}
    problems = RunValidator(run_dir).run_checks()
    out = {
        "manifest": {
            "files": sorted(f.filename.rsplit("/", 1)[-1] for f in run.files),
            "train_ids": [int(t) for t in run.train_ids],
            "run_metadata": {k: (v.item() if hasattr(v, "item") else v) for k, v in run.run_metadata().items()},
            "sources": sources,
        },
        "problems": [str(p.get("msg")) for p in problems],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
