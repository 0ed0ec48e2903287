#!/usr/bin/python3
"""A pyzmq REP server for the ZMTP client tests: binds tcp://127.0.0.1:*, prints its endpoint, then
answers each request with frames of the sizes given on the command line, frame i filled with the
bytes (i + j) % 251, and ends after COUNT replies.

Usage: zmtp_rep_server.py COUNT SIZE [SIZE ...]
"""
import sys

import zmq

count = int(sys.argv[1])
sizes = [int(s) for s in sys.argv[2:]]
frames = [bytes((i + j) % 251 for j in range(n)) for i, n in enumerate(sizes)]
ctx = zmq.Context()
sock = ctx.socket(zmq.REP)
sock.linger = 1000
port = sock.bind_to_random_port("tcp://127.0.0.1")
print(f"tcp://127.0.0.1:{port}", flush=True)
for _ in range(count):
    request = sock.recv_multipart()
    if request != [b"next"]:
        sock.send_multipart([b"Error: bad request " + repr(request).encode()])
        continue
    sock.send_multipart(frames)
sock.close()
ctx.term()
