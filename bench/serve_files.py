"""EXtra-data's serve_files (what karabo-bridge-serve-files runs) on one run, for bench/serve.ts.

Usage: serve_files.py RUN_DIR ENDPOINT. Needs EXtra-data's extra_data package and karabo-bridge-py's
karabo_bridge package on PYTHONPATH. karabo_bridge's serializer imports msgpack_numpy, used only for
protocol 1.0 (not in Debian): protocol 2.2 runs without it, so a placeholder stands in.
"""

import sys
import types

try:
    import msgpack_numpy  # noqa: F401
except ImportError:
    placeholder = types.ModuleType("msgpack_numpy")

    def protocol_1_only(*_args, **_kwargs):
        raise RuntimeError("msgpack_numpy is needed for protocol 1.0 only")

    placeholder.encode = placeholder.decode = protocol_1_only
    sys.modules["msgpack_numpy"] = placeholder

from extra_data.export import serve_files  # noqa: E402

serve_files(sys.argv[1], sys.argv[2])
