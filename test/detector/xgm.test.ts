// The simulated XGM sends the pulse energies of each train on its output and their mean as a property,
// the same energies the simulated detector scales its photons by.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { NDArray } from "../../src/core/index.ts";
import { AGIPD_1M_DETECTOR, SimulatedDetector, XGM_OUTPUT, XgmDevice } from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { type DataToken, InputChannel } from "../../src/pipeline/index.ts";

test("the XGM sends each train's pulse energies and publishes their mean", async () => {
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  const got: DataToken[] = [];
  let input: InputChannel | undefined;
  try {
    await facility.addDevice(XgmDevice, XGM_OUTPUT.split(":")[0]!, { pulses: 8, seed: 3, rate: 20 });
    input = new InputChannel("TEST/XGM_SINK/1:input", {
      connectedOutputChannels: [XGM_OUTPUT],
      onSlowness: "wait",
    })
      .onData((t) => {
        got.push(t);
      })
      .connect();
    const end = performance.now() + 5000;
    while (got.length < 3 && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.ok(got.length >= 3, `only ${got.length} trains`);

    const sim = new SimulatedDetector(AGIPD_1M_DETECTOR, { seed: 3, cells: 8, modules: 1 });
    for (const t of got) {
      const energies = t.data.get<NDArray>("data.intensityTD");
      assert.deepEqual(energies.shape, [8]);
      assert.deepEqual(energies.data, sim.pulseEnergies(BigInt(t.meta.timestamp.trainId)));
    }
    const mean = (await facility.client.get(XGM_OUTPUT.split(":")[0]!, "pulseEnergy.photonFlux")) as number;
    assert.ok(mean > 0, `mean pulse energy ${mean}`);
    assert.equal(await facility.client.get(XGM_OUTPUT.split(":")[0]!, "state"), "ACQUIRING");
  } finally {
    await input?.close();
    await facility.stop();
  }
});
