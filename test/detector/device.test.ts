// The simulated detector online: module devices simulate in worker threads and follow the detector's
// control device (memory cells, fixed gain), as the real modules follow FPGA_COMP.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { NDArray } from "../../src/core/index.ts";
import {
  AGIPD_1M_DETECTOR,
  DetectorControlDevice,
  DetectorModuleDevice,
  rawSourceName,
} from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { InputChannel } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";

test("module devices simulate off the event loop and follow the control device's cells and gain mode", async () => {
  const facility = await Facility.standard({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  const det = AGIPD_1M_DETECTOR;
  let input: InputChannel | undefined;
  try {
    await facility.addDevice(DetectorControlDevice, det.controlSource, { "bunchStructure.nPulses": 2 });
    await facility.addDevice(DetectorModuleDevice, rawSourceName(det, 3).split(":")[0]!, {
      module: 3,
      rows: 8,
      rate: 10,
      control: det.controlSource,
    });
    const c = facility.client;
    const dev = rawSourceName(det, 3).split(":")[0]!;
    assert.equal(await c.get(dev, "cells"), 2);
    assert.equal(await c.get(dev, "threaded"), true);
    const trains: { frames: number; digitalMean: number }[] = [];
    input = new InputChannel("TEST/DET/sink:input", {
      connectedOutputChannels: [rawSourceName(det, 3)],
      onSlowness: "drop",
    });
    input.onData((t) => {
      const a = t.data.get("image.data") as NDArray;
      const [frames, , ss, fs] = a.shape as number[];
      const px = ss! * fs!;
      // Mean digital value of the first frame: tells the gain stage the pixels sit in.
      let sum = 0;
      for (let i = px; i < 2 * px; i++) sum += (a.data as Uint16Array)[i]!;
      trains.push({ frames: frames!, digitalMean: sum / px });
    });
    input.connect();
    await input.waitConnected();
    await until(() => trains.some((t) => t.frames === 2), "trains of 2 frames");
    await c.reconfigure(det.controlSource, { "bunchStructure.nPulses": 3, gainModeIndex: 3 });
    assert.equal(await c.get(dev, "cells"), 3);
    assert.equal(await c.get(dev, "dark"), "low");
    trains.length = 0;
    await until(() => trains.some((t) => t.frames === 3), "trains of 3 frames");
    // Fixed low gain: the digital plane sits at the low-gain level (8000 ADU) in every pixel.
    const last = trains.at(-1)!;
    assert.ok(Math.abs(last.digitalMean - det.sensor.digitalLevel[2]!) < 100, `digital ${last.digitalMean}`);
    // The source's own figures: what it sent last, how long simulating took, what it could not send.
    assert.ok(Number(await c.get(dev, "lastTrainId")) > 0);
    assert.ok(Number(await c.get(dev, "simulationMs")) > 0);
    assert.equal(typeof (await c.get(dev, "trainsSkipped")), "bigint");
    assert.ok(Number(await c.get(dev, "trainStride")) >= 1);
  } finally {
    await input?.close();
    await facility.stop();
  }
});
