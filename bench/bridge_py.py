#!/usr/bin/python3
"""The Python side of bench/bridge.ts: a Karabo bridge server and client in pyzmq + msgpack + numpy
following the protocol as karabo-bridge-py implements it (serialize 2.2 per train, arrays sent as
memoryviews without copy; deserialize with np.frombuffer), and a raw pyzmq REQ/REP transfer of the
same frames (serialized once) as the transport baseline.

It also runs karabo-bridge-py's own code (its Client, and its Sender: the server behind
karabo-bridge-serve-files and ServerInThread), loaded from the directory in $KARABO_BRIDGE_PY that holds
the karabo_bridge package; bench/bridge.ts sets it.

  bridge_py.py server ENDPOINT CASE MODE COUNT [WARMUP]
                                                 # MODE: protocol | raw | tcp | kb (karabo-bridge-py's Sender);
                                                 # prints the endpoint, and at the end {"cpu": [user, sys]}: its
                                                 # CPU seconds over the trains after WARMUP
  bridge_py.py client ENDPOINT MODE COUNT WARMUP # MODE: protocol | raw | tcp | kb (karabo-bridge-py's Client);
                                                 # prints {"trains", "bytes", "seconds", "maxrss", "cpu"} as JSON
CASE: agipd | agipd16 | control
"""
import json
import os
import resource
import socket
import struct
import sys
import time

import msgpack
import numpy as np
import zmq
from kb_standins import stand_in_msgpack_numpy


def make_train(case):
    data, meta = {}, {}
    if case in ("agipd", "agipd16"):
        for m in range(1 if case == "agipd" else 16):
            src = f"SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf"
            data[src] = {
                "image.data": np.full((64, 2, 512, 128), m, dtype=np.uint16),
                "image.cellId": np.arange(64, dtype=np.uint16).reshape(64, 1),
                "image.pulseId": np.arange(64, dtype=np.uint64).reshape(64, 1),
                "image.trainId": np.zeros((64, 1), dtype=np.uint64),
                "image.length": np.zeros((64, 1), dtype=np.uint32),
                "image.status": np.zeros((64, 1), dtype=np.uint16),
            }
            meta[src] = {"source": src, "timestamp.tid": 0}
    else:
        for s in range(50):
            src = f"SA1_CTRL/DEVICE/D{s:02d}"
            values = {}
            for k in range(40):
                values[f"group{k % 5}.key{k}.value"] = k * 0.5 if k % 2 else k
            data[src] = values
            meta[src] = {"source": src, "timestamp.tid": 0}
    return data, meta


def serialize(data, meta):
    # Protocol 2.2 as karabo_bridge.serializer.serialize writes it.
    pack = msgpack.Packer(use_bin_type=True).pack
    msg = []
    for src, props in sorted(data.items()):
        main, arrays = {}, []
        for key, value in props.items():
            if isinstance(value, np.ndarray):
                arrays.append((key, value))
            else:
                main[key] = value
        msg.append(pack({"source": src, "content": "msgpack", "metadata": meta[src]}))
        msg.append(pack(main))
        for key, array in arrays:
            msg.append(pack({"source": src, "content": "array", "path": key,
                             "dtype": str(array.dtype), "shape": array.shape}))
            msg.append(array.data)
    return msg


def deserialize(frames):
    data, meta = {}, {}
    for header, payload in zip(frames[::2], frames[1::2]):
        md = msgpack.unpackb(header.bytes, raw=False)
        src = md["source"]
        if md["content"] == "msgpack":
            data[src] = msgpack.unpackb(payload.bytes, raw=False)
            meta[src] = md.get("metadata", {})
        else:
            data[src][md["path"]] = np.frombuffer(payload.buffer, dtype=md["dtype"]).reshape(md["shape"])
    return data, meta


def karabo_bridge():
    """karabo-bridge-py from $KARABO_BRIDGE_PY. Its serializer imports msgpack_numpy, used only for
    protocol 1.0 (not in Debian): protocol 2.2 runs without it, so a placeholder stands in."""
    sys.path.insert(0, os.environ["KARABO_BRIDGE_PY"])
    stand_in_msgpack_numpy()
    import karabo_bridge.client
    import karabo_bridge.server

    return karabo_bridge


def kb_server(endpoint, case, count, warmup):
    sender = karabo_bridge().server.Sender(endpoint)
    print(sender.server_socket.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    data, meta = make_train(case)
    cpu = CpuWindow()
    for tid in range(count):
        if tid == warmup:
            cpu.start()
        for src in data:
            meta[src]["timestamp.tid"] = tid
            if case == "control":
                data[src]["group0.key0.value"] = tid
        sender.send(data, meta)
    sender.zmq_context.destroy(linger=60000)
    print_server_cpu(cpu)


def kb_client(endpoint, count, warmup):
    client = karabo_bridge().client.Client(endpoint)
    t0 = None
    cpu = CpuWindow()
    for i in range(warmup + count):
        if i == warmup:
            t0 = time.perf_counter()
            cpu.start()
        client.next()
    seconds = time.perf_counter() - t0
    result = {"trains": count, "bytes": 0, "seconds": seconds, "maxrss": maxrss(), "cpu": cpu.stop()}
    print(json.dumps(result), flush=True)
    client._context.destroy(linger=0)


class CpuWindow:
    """CPU seconds (user, system) of this process, all threads, from `start()` to `stop()`."""

    def __init__(self):
        self.begin = None

    def start(self):
        self.begin = resource.getrusage(resource.RUSAGE_SELF)

    def stop(self):
        end = resource.getrusage(resource.RUSAGE_SELF)
        begin = self.begin or end
        return [end.ru_utime - begin.ru_utime, end.ru_stime - begin.ru_stime]


def print_server_cpu(window):
    print(json.dumps({"cpu": window.stop()}), flush=True)


def maxrss():
    """Peak resident memory of this process in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def server(endpoint, case, mode, count, warmup):
    if mode == "tcp":
        return tcp_server(case, count, warmup)
    if mode == "kb":
        return kb_server(endpoint, case, count, warmup)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    print(sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    data, meta = make_train(case)
    fixed = serialize(data, meta) if mode == "raw" else None
    cpu = CpuWindow()
    for tid in range(count):
        if tid == warmup:
            cpu.start()
        sock.recv()
        if fixed is not None:
            sock.send_multipart(fixed, copy=False)
            continue
        for src in data:
            meta[src]["timestamp.tid"] = tid
            if case == "control":
                data[src]["group0.key0.value"] = tid
        sock.send_multipart(serialize(data, meta), copy=False)
    ctx.destroy(linger=60000)  # let the last reply leave before the process ends
    print_server_cpu(cpu)


def tcp_server(case, count, warmup):
    """The transport's ceiling: the train's frames joined once into one buffer and sent over a plain
    TCP socket, one length-prefixed message per one-byte request."""
    data, meta = make_train(case)
    payload = b"".join(bytes(f) for f in serialize(data, meta))
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"tcp://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    header = struct.pack("<Q", len(payload))
    view = memoryview(payload)
    cpu = CpuWindow()
    for i in range(count):
        if i == warmup:
            cpu.start()
        if not conn.recv(1):
            break
        conn.sendall(header)
        conn.sendall(view)
    conn.close()
    print_server_cpu(cpu)


# Requests a raw client keeps on the wire, as many as the sase client's requestsInFlight: with one, the
# raw rows would pay a round trip per train that sase's client does not, and be no ceiling.
IN_FLIGHT = max(1, int(os.environ.get("BRIDGE_BENCH_IN_FLIGHT", "2")))


def tcp_client(endpoint, count, warmup):
    """Reads each message into one reused buffer (recv_into, waiting for all of it): a warm plain read
    of the network."""
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    conn = socket.create_connection((host, int(port)))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(0)
    head = bytearray(8)
    nbytes = 0
    t0 = None
    cpu = CpuWindow()
    total = warmup + count
    # Asked ahead; one more before each train is read, so IN_FLIGHT are on the wire while it arrives.
    asked = min(IN_FLIGHT - 1, total)
    conn.sendall(b"n" * asked)
    for i in range(total):
        if i == warmup:
            t0 = time.perf_counter()
            cpu.start()
            nbytes = 0
        if asked < total:
            conn.sendall(b"n")
            asked += 1
        recv_exactly(conn, memoryview(head))
        size = struct.unpack("<Q", head)[0]
        if len(buf) < size:
            buf = bytearray(size)
        recv_exactly(conn, memoryview(buf)[:size])
        nbytes += size
    seconds = time.perf_counter() - t0
    result = {"trains": count, "bytes": nbytes, "seconds": seconds, "maxrss": maxrss(), "cpu": cpu.stop()}
    print(json.dumps(result), flush=True)
    conn.close()


def recv_exactly(conn, view):
    # MSG_WAITALL: the kernel fills the whole view before the call returns, one system call and one
    # wake-up per message instead of one per socket buffer's worth; 10-20 % more trains/s in (a) here.
    while len(view):
        got = conn.recv_into(view, len(view), socket.MSG_WAITALL)
        if got == 0:
            raise ConnectionError("server closed the connection")
        view = view[got:]


def client(endpoint, mode, count, warmup):
    if mode == "kb":
        return kb_client(endpoint, count, warmup)
    if mode == "tcp":
        return tcp_client(endpoint, count, warmup)
    ctx = zmq.Context()
    # raw: a DEALER keeping IN_FLIGHT requests queued at the REP server (an empty delimiter frame
    # first, as REQ sends), so that it never waits a round trip; the Python pair stays on REQ, as
    # karabo-bridge-py's client is.
    dealer = mode == "raw"
    sock = ctx.socket(zmq.DEALER if dealer else zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    nbytes = 0
    t0 = None
    cpu = CpuWindow()
    total = warmup + count
    asked = 0

    def ask():
        nonlocal asked
        if dealer:
            sock.send_multipart([b"", b"next"])
        else:
            sock.send(b"next")
        asked += 1

    while dealer and asked < min(IN_FLIGHT - 1, total):
        ask()
    for i in range(total):
        if i == warmup:
            t0 = time.perf_counter()
            cpu.start()
            nbytes = 0
        if asked < total:
            ask()
        frames = sock.recv_multipart(copy=False)
        if dealer:
            frames = frames[1:]
        nbytes += sum(len(f.buffer) for f in frames)
        if mode == "protocol":
            deserialize(frames)
    seconds = time.perf_counter() - t0
    result = {"trains": count, "bytes": nbytes, "seconds": seconds, "maxrss": maxrss(), "cpu": cpu.stop()}
    print(json.dumps(result), flush=True)
    ctx.destroy(linger=0)


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "server":
        warmup = int(sys.argv[6]) if len(sys.argv) > 6 else 0
        server(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), warmup)
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
