#!/usr/bin/python3
"""Karabo's own middlelayer on RabbitMQ, the baseline of bench/broker.ts (run by it, not alone).

    broker_mdl.py PEER_DIR server TOPIC          MDL server with BenchDevice BENCH/MDL/1; prints READY
    broker_mdl.py PEER_DIR client TOPIC N UPDATES  Karabo client: awaited calls, 100 in flight, updates
Prints one JSON line with the client's figures.
"""
import asyncio
import json
import sys
import time
from asyncio import set_event_loop, sleep

sys.path.insert(0, sys.argv[1])
from karabo.middlelayer import (  # noqa: E402
    AccessMode, Device, Double, EventLoop, Int32, MiddleLayerDeviceServer,
    Slot, State, get_connector, slot)
from client_mdl import PeerClient  # noqa: E402

MODE, TOPIC = sys.argv[2], sys.argv[3]
DEV = "BENCH/MDL/1"


class BenchDevice(Device):
    value = Double(defaultValue=0.0, accessMode=AccessMode.READONLY)
    burstSize = Int32(defaultValue=1000, accessMode=AccessMode.RECONFIGURABLE)

    @Slot()
    async def ping(self):
        return 1

    @Slot()
    async def burst(self):
        # MDL sends the changes of one event-loop turn as one signalChanged: yield so each set is sent.
        for i in range(self.burstSize.value):
            self.value = float(i)
            await sleep(0)

    async def onInitialization(self):
        self.state = State.ON


class BenchServer(MiddleLayerDeviceServer):
    async def scanPluginsOnce(self):
        self.plugins = {"BenchDevice": BenchDevice}


class BenchClient(PeerClient):
    seen = 0

    @slot
    def slotChanged(self, configuration, deviceId):
        if "value" in configuration:
            BenchClient.seen += 1


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def measure(client, n, updates):
    call = client._sigslot.request
    for _ in range(200):
        await call(DEV, "ping")
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        a = time.perf_counter()
        await call(DEV, "ping")
        lat.append((time.perf_counter() - a) * 1000)
    seq = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(0, n, 100):
        await asyncio.gather(*(call(DEV, "ping") for _ in range(100)))
    conc = n / (time.perf_counter() - t0)
    await client._sigslot.async_connect(DEV, "signalChanged", client.slotChanged)
    await sleep(0.3)
    await call(DEV, "slotReconfigure", __import__("karabo.native", fromlist=["Hash"]).Hash("burstSize", updates))
    BenchClient.seen = 0
    t0 = time.perf_counter()
    await call(DEV, "burst")
    while BenchClient.seen < updates and time.perf_counter() - t0 < 60:
        await sleep(0.001)
    upd = BenchClient.seen / (time.perf_counter() - t0)
    return {"seq": seq, "conc": conc, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "updates": upd,
            "seen": BenchClient.seen}


def main():
    get_connector().set_parameters(topic=TOPIC)
    loop = EventLoop()
    set_event_loop(loop)
    if MODE == "server":
        server = BenchServer({"serverId": "BENCH_MDL_SRV"})
        server._device_initializer = {DEV: {"classId": "BenchDevice"}}
        server.is_server = True
        loop.run_until_complete(server.startInstance(broadcast=True, discover=True))
        print("READY", flush=True)
        loop.run_forever()
        return
    n, updates = int(sys.argv[4]), int(sys.argv[5])
    real, sys.stdout = sys.stdout, sys.stderr
    client = BenchClient({"_deviceId_": f"bench-mdl-client-{TOPIC}"})
    loop.run_until_complete(client.startInstance())
    handler = loop.instance
    loop.instance = (lambda self: handler() or client).__get__(loop)
    result = loop.run_until_complete(loop.create_task(measure(client, n, updates), instance=client))
    sys.stdout = real
    print(json.dumps(result), flush=True)
    import os
    os._exit(0)


if __name__ == "__main__":
    main()
