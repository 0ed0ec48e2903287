// The dark-run procedure of run control: one call switches the detector to fixed high, medium and low
// gain, records a dark run each, characterises them in a job, stores the constants and returns the
// detector to adaptive gain; the live correction then finds the constants.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConstantStore } from "../../src/calibration/index.ts";
import { Catalogue, DAQ_DEVICE_ID } from "../../src/daq/index.ts";
import { AGIPD_1M_DETECTOR } from "../../src/detector/index.ts";
import { procedureEnd, procedureFacility, tempRoots } from "./helpers.ts";

test("takeDarks records three fixed-gain dark runs, stores constants from them, returns to adaptive gain", {
  timeout: 300_000,
}, async () => {
  const roots = tempRoots();
  process.env.SASE_CONSTANTS_STORE = roots.constants;
  const facility = await procedureFacility(roots);
  try {
    const c = facility.client;
    const ctrl = AGIPD_1M_DETECTOR.controlSource;
    assert.equal(await c.get(DAQ_DEVICE_ID, "detectorControl"), ctrl);
    await c.set(DAQ_DEVICE_ID, "darkTrains", 3);
    const reply = (await c.execute(DAQ_DEVICE_ID, "takeDarks")) as { started: string };
    assert.match(reply.started, /3 trains each/);
    // A second call while the first runs is refused, naming what runs.
    await assert.rejects(c.execute(DAQ_DEVICE_ID, "takeDarks"), /being taken already/);
    const { final, seen: states } = await procedureEnd(c, "darkState", 280_000);
    assert.match(final, /^done: constants from dark runs 1, 2, 3 stored/, states.join("\n"));
    assert.ok(
      states.some((s) => /medium gain: recording dark run 2/.test(s)),
      states.join("\n"),
    );
    assert.equal(await c.get(DAQ_DEVICE_ID, "darkProgress"), 1);
    assert.equal(await c.get(ctrl, "gainModeIndex"), 0, "back to adaptive gain");
    const cat = Catalogue.open(roots.catalogue);
    const runs = [1, 2, 3].map((n) => cat.findRun(900001, n)!);
    cat.close();
    assert.deepEqual(
      runs.map((r) => `${r.runType}/${r.sample}`),
      ["dark/dark, fixed high gain", "dark/dark, fixed medium gain", "dark/dark, fixed low gain"],
    );
    const store = await ConstantStore.open(roots.constants);
    const recs = store.list();
    store.close();
    assert.deepEqual(recs.map((r) => r.calibration).sort(), [
      "BadPixelsDark",
      "Noise",
      "Offset",
      "ThresholdsDark",
    ]);
    // Stored for adaptive operation with the detector's conditions, and where they came from.
    assert.equal(recs[0]!.conditions["Memory cells"], 2, "the runs' own count");
    assert.equal(recs[0]!.conditions["Gain mode"], undefined);
    assert.equal(recs[0]!.origin, "dark runs r0001, r0002, r0003");
  } finally {
    delete process.env.SASE_CONSTANTS_STORE;
    await facility.stop();
    roots.done();
  }
});
