"""Stand-ins for Python packages that karabo-bridge-py imports but Debian does not ship, shared by the
bench scripts that run karabo-bridge-py's own code (bridge_py.py, serve_files.py)."""

import sys
import types


def stand_in_msgpack_numpy():
    """karabo_bridge's serializer imports msgpack_numpy, used only for protocol 1.0: protocol 2.2 runs
    without it, so where it is missing a placeholder that refuses protocol 1.0 stands in."""
    if "msgpack_numpy" in sys.modules:
        return
    try:
        import msgpack_numpy  # noqa: F401
    except ImportError:
        placeholder = types.ModuleType("msgpack_numpy")

        def protocol_1_only(*_args, **_kwargs):
            raise RuntimeError("msgpack_numpy is needed for protocol 1.0 only")

        placeholder.encode = placeholder.decode = protocol_1_only
        sys.modules["msgpack_numpy"] = placeholder
