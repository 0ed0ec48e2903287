#!/usr/bin/python3
"""A Karabo bridge client in plain pyzmq + msgpack + numpy (what Debian ships), decoding messages the
way karabo-bridge-py does, used to check that what sase serves reads back in Python.

Usage: bridge_client.py ENDPOINT [--sock REQ|SUB|PULL] [--count N] [--timeout S] [--send TEXT]

Prints one JSON list: per train {source: {"data": {key: summary}, "meta": {...}}}, where an array's
summary is {"ndarray": true, "dtype", "shape", "sum"} and any other value is {"value": v} (bytes as
hex, numpy scalars as str()), the same form as the fixtures' index.json "expected" lists.
With --send, sends TEXT instead of b"next" once and prints the raw reply frames.
"""
import argparse
import json
import sys

import msgpack
import numpy as np
import zmq


def numpy_hook(obj):
    # msgpack-numpy's dict form of arrays and numpy scalars (protocol 1.0).
    if b"nd" in obj:
        dtype = np.dtype(obj[b"type"] if isinstance(obj[b"type"], str) else obj[b"type"].decode())
        if obj[b"nd"] is True:
            return np.frombuffer(obj[b"data"], dtype=dtype).reshape(obj[b"shape"])
        return np.frombuffer(obj[b"data"], dtype=dtype)[0]
    return obj


def deserialize(frames):
    if len(frames) == 1:
        data = msgpack.unpackb(frames[0], raw=False, object_hook=numpy_hook, strict_map_key=False)
        return data, {src: v.get("metadata", {}) for src, v in data.items()}
    if len(frames) % 2:
        raise ValueError(f"odd number of frames: {len(frames)}")
    data, meta = {}, {}
    for header, payload in zip(frames[::2], frames[1::2]):
        md = msgpack.unpackb(header, raw=False)
        src = md["source"]
        if md["content"] == "msgpack":
            data[src] = msgpack.unpackb(payload, raw=False)
            meta[src] = md.get("metadata", {})
        elif md["content"] == "array":
            data[src][md["path"]] = np.frombuffer(payload, dtype=md["dtype"]).reshape(md["shape"])
        else:
            raise ValueError(f"unknown content {md['content']!r}")
    return data, meta


def summary(value):
    if isinstance(value, np.ndarray):
        return {"ndarray": True, "dtype": str(value.dtype), "shape": list(value.shape),
                "sum": float(value.astype(np.float64).sum())}
    return {"value": plain(value)}


def plain(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, np.generic):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("--sock", default="REQ", choices=["REQ", "SUB", "PULL"])
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--send")
    args = ap.parse_args()

    ctx = zmq.Context()
    sock = ctx.socket(getattr(zmq, args.sock))
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, int(args.timeout * 1000))
    if args.sock == "SUB":
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(args.endpoint)

    if args.send is not None:
        sock.send(args.send.encode())
        reply = sock.recv_multipart()
        print(json.dumps([f.decode("latin1") for f in reply]))
        return

    out = []
    for _ in range(args.count):
        if args.sock == "REQ":
            sock.send(b"next")
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            sys.exit(f"no train from {args.endpoint} within {args.timeout} s")
        data, meta = deserialize(frames)
        out.append({src: {"data": {k: summary(v) for k, v in d.items()}, "meta": plain(meta[src])}
                    for src, d in data.items()})
    print(json.dumps(out))
    ctx.destroy(linger=0)


if __name__ == "__main__":
    main()
