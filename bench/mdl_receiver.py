"""What Karabo's middlelayer input costs per 16 MiB token on its own, whoever sends it.

Its own Channel.readBytes (the loop an InputChannel reads each message with) over a socket pair, then
decodeBinary of the data Hash as the input decodes it (a slice of the bytes first), timed apart in CPU
time of the reading thread; a thread sends the tokens. Run with the peer's environment:

  source ../shared/peers/karabo/env.sh && /usr/bin/python3 bench/mdl_receiver.py

This is the floor of the middlelayer receiver's CPU per token in bench/pipeline.ts's Karabo rows: no
sender can take it lower, since the reads come 256 KiB at a time (asyncio's transport) and the NDArray's
bytes arrive as a ByteArray, which the decoder copies.
"""
import asyncio
import socket
import threading
import time

import numpy as np
from karabo.middlelayer.pipeline import Channel
from karabo.native import Hash, decodeBinary, encodeBinary
from karabo.native.data import HashType

TOKENS = 40
WARMUP = 5

image = np.arange(64 * 2 * 512 * 128, dtype=np.uint16).reshape(64, 2, 512, 128)
ndarray = Hash("type", HashType.UInt16.value, "isBigEndian", False,
               "shape", np.array(image.shape, dtype=np.uint64), "data", bytearray(image.tobytes()))
token = encodeBinary(Hash("image", Hash("data", ndarray, "cellId", np.arange(64, dtype=np.uint16))))
message = len(token).to_bytes(4, "little") + token


def send(sock):
    for _ in range(TOKENS):
        sock.sendall(message)
    sock.close()


async def main():
    ours, theirs = socket.socketpair()
    threading.Thread(target=send, args=(theirs,), daemon=True).start()
    reader, writer = await asyncio.open_connection(sock=ours)
    channel = Channel(reader, writer)
    read_s = decode_s = 0.0
    for i in range(TOKENS):
        t0 = time.thread_time()
        data = await channel.readBytes()
        t1 = time.thread_time()
        decodeBinary(data[0:len(data)])
        t2 = time.thread_time()
        if i >= WARMUP:
            read_s += t1 - t0
            decode_s += t2 - t1
    n = TOKENS - WARMUP
    print(f"middlelayer receiver, CPU ms per {len(token) / 2**20:.1f} MiB token (reading thread): "
          f"readBytes {read_s / n * 1e3:.1f}, slice + decodeBinary {decode_s / n * 1e3:.1f}, "
          f"together {(read_s + decode_s) / n * 1e3:.1f}")


asyncio.run(main())
