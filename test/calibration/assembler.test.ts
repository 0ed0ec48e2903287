// The assembler device matches sixteen module streams by train and sends one image per train, placed
// with the AGIPD-1M geometry; a train whose modules do not all come is sent after the match timeout,
// unless the modules it lacks have already sent a newer train (they skipped it): that one is counted,
// not sent.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AssemblerDevice } from "../../src/calibration/index.ts";
import { DetectorGeometry } from "../../src/detector/index.ts";
import { type NDArray, ndarray } from "../../src/core/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { type DataToken, InputChannel, OutputChannel } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";

const ASM = "TEST_DET_AGIPD1M/ASSEMBLER/1";
const PIXELS = 512 * 128;

/** A corrected-style module train: 2 frames, frame f of module m filled with 100·m + f. */
function moduleTrain(m: number): NDArray {
  const data = new Float32Array(2 * PIXELS);
  data.fill(100 * m, 0, PIXELS);
  data.fill(100 * m + 1, PIXELS);
  return ndarray(data, [2, 512, 128]);
}

test("assembles matched module trains into one image per train, incomplete ones after the timeout unless skipped", async () => {
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  const outputs = Array.from(
    { length: 16 },
    (_, m) => new OutputChannel(`TEST_DET_AGIPD1M/DET/${m}CH0:output`),
  );
  const got: DataToken[] = [];
  let sink: InputChannel | undefined;
  try {
    await facility.addDevice(AssemblerDevice, ASM, {
      frame: 1,
      matchTimeoutMs: 200,
      input: { connectedOutputChannels: outputs.map((o) => o.id), onSlowness: "wait" },
    });
    sink = new InputChannel("TEST/ASM_SINK/1:input", {
      connectedOutputChannels: [`${ASM}:output`],
      onSlowness: "wait",
    })
      .onData((t) => {
        got.push(t);
      })
      .connect();
    await until(() => outputs.every((o) => o.stats().connections > 0), "the assembler to connect");
    await until(() => sink!.stats().missingConnections.length === 0, "the sink to connect");

    // Train 1000: every module, in reverse order; train 1001: module 7 never comes.
    for (let m = 15; m >= 0; m--)
      await outputs[m]!.write({ image: { data: moduleTrain(m) } }, { trainId: 1000 });
    for (let m = 0; m < 16; m++) {
      if (m !== 7) await outputs[m]!.write({ image: { data: moduleTrain(m) } }, { trainId: 1001 });
    }
    await until(() => got.length === 2, "two assembled trains");

    const geometry = DetectorGeometry.agipd1mFromQuadPositions();
    const [h, w] = geometry.assembledShape;
    const [first, second] = got as [DataToken, DataToken];
    assert.equal(first.meta.timestamp.trainId, 1000);
    const image = first.data.get<NDArray>("image.data");
    assert.deepEqual(image.shape, [h, w]);
    assert.equal(first.data.get("image.modulesPresent"), 16);
    // Where module m's pixels land, the image holds frame 1 of module m: 100·m + 1.
    const dest = geometry.snapped().destination;
    for (const m of [0, 5, 15]) assert.equal(image.data[dest[m * PIXELS + 123]!], 100 * m + 1);
    assert.equal(second.meta.timestamp.trainId, 1001);
    assert.equal(second.data.get("image.modulesPresent"), 15);
    const partial = second.data.get<NDArray>("image.data").data as Float32Array;
    assert.ok(Number.isNaN(partial[dest[7 * PIXELS]!]!), "the missing module is NaN");
    assert.equal(partial[dest[8 * PIXELS]!], 801);
    assert.equal(await facility.client.get(ASM, "trainsIncomplete"), 1n);
    assert.equal(await facility.client.get(ASM, "trainsAssembled"), 2n);

    // Train 1002 without module 3, which then sends 1003 (it skipped 1002, say backed off): 1002 is
    // decided at once and not sent; 1003 is whole.
    for (let m = 0; m < 16; m++) {
      if (m !== 3) await outputs[m]!.write({ image: { data: moduleTrain(m) } }, { trainId: 1002 });
    }
    for (let m = 0; m < 16; m++)
      await outputs[m]!.write({ image: { data: moduleTrain(m) } }, { trainId: 1003 });
    await until(() => got.length === 3, "the third assembled train");
    assert.equal(got[2]!.meta.timestamp.trainId, 1003);
    assert.equal(got[2]!.data.get("image.modulesPresent"), 16);
    assert.equal(await facility.client.get(ASM, "trainsSkipped"), 1n);
    assert.equal(await facility.client.get(ASM, "trainsAssembled"), 3n);
  } finally {
    await sink?.close();
    for (const o of outputs) await o.close();
    await facility.stop();
  }
});
