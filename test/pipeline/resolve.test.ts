// Finding an output of another process by `deviceId:channelName`: the input asks the output's device,
// over the broker, for the address its channel listens on (Karabo's slotGetOutputChannelInformation).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Hash, InProcessBroker } from "../../src/core/index.ts";
import { InputChannel, OutputChannel, resolveOutputsThrough } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";
import { collect, smallData } from "./helpers.ts";

test("an input finds a remote output through the broker by its channel id", async () => {
  const broker = new InProcessBroker();
  // The output is not in this process's registry: it stands for an output of another process.
  const out = new OutputChannel("TEST/REMOTE/DEV:output", undefined, { registry: null });
  const address = await out.listen();
  let asked = 0;
  const handle = await broker.register(
    "TEST/REMOTE/DEV",
    { type: "device", host: "elsewhere", pid: 1, heartbeatIntervalMs: 60_000 },
    async (req) => {
      asked++;
      assert.equal(req.slot, "slotGetOutputChannelInformation");
      assert.deepEqual(req.args, { channelId: "output" });
      const [host, port] = address.replace("tcp://", "").split(":");
      const info = new Hash({ connectionType: "tcp", hostname: host, memoryLocation: "remote" });
      info.set("port", Number(port), "UINT32");
      return new Hash({ success: true, info });
    },
  );
  resolveOutputsThrough(broker);
  const inp = new InputChannel("TEST/SINK/b:input", {
    connectedOutputChannels: ["TEST/REMOTE/DEV:output"],
    onSlowness: "wait",
  }).connect();
  await inp.waitConnected();
  assert.ok(asked >= 1);
  assert.equal(inp.stats().connections[0].memoryLocation, "remote");
  const got = collect(inp);
  await out.write(smallData(5));
  await out.endOfStream();
  await until(() => got.eos === 1, "end of stream");
  assert.deepEqual(got.trains, [5]);
  await inp.close();
  await out.close();
  await handle.unregister();
  await broker.close();
});
