// The KaraboBridge device in a running facility: pipeline producers feed it, analysis clients get one
// bridge message per train with every source of that train.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BridgeClient, type BridgeTrain, KaraboBridge, trainIdOf } from "../../src/bridge/index.ts";
import { State, isNDArray } from "../../src/core/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { StreamProducer } from "../../src/pipeline/index.ts";
import { within } from "./helpers.ts";

async function endpointOf(bridge: KaraboBridge): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const ep = bridge.get("endpoint");
    if (ep) return ep;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`bridge device never listened (state ${bridge.state}: ${bridge.status})`);
}

test("a KaraboBridge device forwards pipeline data, one message per train with all its sources", async () => {
  const facility = await Facility.start({ trainRate: 20 });
  try {
    await facility.addDevice(StreamProducer, "TEST/CAM/A", { rows: 8, columns: 16, rate: 20 });
    await facility.addDevice(StreamProducer, "TEST/CAM/B", { rows: 4, columns: 4, rate: 20 });
    const bridge = (await facility.addDevice(KaraboBridge, "TEST/BRIDGE/1", {
      port: 0,
      input: { connectedOutputChannels: ["TEST/CAM/A:output", "TEST/CAM/B:output"] },
    })) as KaraboBridge;
    const client = new BridgeClient(await endpointOf(bridge), { timeoutMs: 10_000 });
    try {
      assert.equal(bridge.state, State.ON);
      let both: BridgeTrain | undefined;
      for (let i = 0; i < 30 && !both; i++) {
        const train = await within(15_000, "bridge train", client.next());
        const sources = Object.keys(train.data).sort();
        for (const s of sources) {
          const image = train.data[s]?.["image.data"];
          assert.ok(isNDArray(image), `${s} image.data is an array`);
          assert.equal(image.dtype, "uint16");
          assert.deepEqual(image.shape, s === "TEST/CAM/A:output" ? [8, 16] : [4, 4]);
          assert.equal(train.metadata[s]?.["timestamp.tid"], train.data[s]?.trainId);
          assert.match(train.metadata[s]?.["timestamp.frac"] ?? "", /^\d{18}$/);
        }
        if (sources.length === 2) both = train;
      }
      assert.ok(both, "no train carried both sources");
      assert.deepEqual(Object.keys(both.data).sort(), ["TEST/CAM/A:output", "TEST/CAM/B:output"]);
      const tids = Object.values(both.metadata).map((m) => m["timestamp.tid"]);
      assert.equal(tids[0], tids[1], "the two sources of one message belong to one train");
      assert.ok(typeof trainIdOf(both) === "number");
      await new Promise((r) => setTimeout(r, 400));
      assert.ok(bridge.get("trainsSent") > 0n);
      assert.equal(bridge.get("clients"), 1);
    } finally {
      client.close();
    }
  } finally {
    await facility.stop();
  }
});

test("a KaraboBridge device whose port is taken goes to ERROR and says why", async () => {
  const facility = await Facility.start();
  try {
    const first = (await facility.addDevice(KaraboBridge, "TEST/BRIDGE/A", { port: 0 })) as KaraboBridge;
    const port = Number((await endpointOf(first)).split(":").at(-1));
    const second = (await facility.addDevice(KaraboBridge, "TEST/BRIDGE/B", { port })) as KaraboBridge;
    for (let i = 0; i < 60 && second.state !== State.ERROR; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(second.state, State.ERROR);
    assert.match(second.status, new RegExp(`cannot bind tcp://127\\.0\\.0\\.1:${port}`));
  } finally {
    await facility.stop();
  }
});
