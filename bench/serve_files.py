"""EXtra-data's serve_files (what karabo-bridge-serve-files runs) on one run, for bench/serve.ts.

Usage: serve_files.py RUN_DIR ENDPOINT. Needs EXtra-data's extra_data package and karabo-bridge-py's
karabo_bridge package on PYTHONPATH. karabo_bridge's serializer imports msgpack_numpy, used only for
protocol 1.0 (not in Debian): protocol 2.2 runs without it, so a placeholder stands in. EXtra-data
opens the files of a run without a cached file map in a loky process pool; loky is not in Debian
either, so the standard library's process pool stands in for it.
"""

import sys
import types

from kb_standins import stand_in_msgpack_numpy

stand_in_msgpack_numpy()

try:
    import loky  # noqa: F401
except ImportError:
    import concurrent.futures
    import os

    loky = types.ModuleType("loky")

    class ProcessPoolExecutor(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, max_workers=None, initializer=None, env=None):
            os.environ.update(env or {})
            super().__init__(max_workers=max_workers, initializer=initializer)

    loky.ProcessPoolExecutor = ProcessPoolExecutor
    sys.modules["loky"] = loky

from extra_data.export import serve_files  # noqa: E402

serve_files(sys.argv[1], sys.argv[2])
