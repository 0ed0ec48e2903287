// The pulse-capacitor scan procedure of run control: after darks, one call puts the detector in scan
// mode, records a scan run, characterises it in a job into RelativeGain and BadPixelsPC, and returns
// the detector to photons; refused while dark runs are taken.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConstantStore } from "../../src/calibration/index.ts";
import { Catalogue, DAQ_DEVICE_ID } from "../../src/daq/index.ts";
import { AGIPD_1M_DETECTOR, pulseCapacitorLadder } from "../../src/detector/index.ts";
import { openRun } from "../../src/files/index.ts";
import { procedureEnd, procedureFacility, tempRoots } from "./helpers.ts";

const DET = "SPB_DET_AGIPD1M-1/DET";

test("takePcScan records a scan run and stores RelativeGain and BadPixelsPC from it in a job", {
  timeout: 400_000,
}, async () => {
  const roots = tempRoots();
  process.env.SASE_CONSTANTS_STORE = roots.constants;
  const facility = await procedureFacility(roots);
  try {
    const c = facility.client;
    const ctrl = AGIPD_1M_DETECTOR.controlSource;
    const done = (key: string, deadline: number) => procedureEnd(c, key, deadline);
    await c.set(DAQ_DEVICE_ID, "darkTrains", 3);
    await c.execute(DAQ_DEVICE_ID, "takeDarks");
    await assert.rejects(c.execute(DAQ_DEVICE_ID, "takePcScan"), /dark runs are being taken/);
    const darks = await done("darkState", 280_000);
    assert.match(darks.final, /^done/, darks.seen.join("\n"));

    // Every charge of the ladder (18) twice.
    await c.set(DAQ_DEVICE_ID, "pcTrains", 36);
    const reply = (await c.execute(DAQ_DEVICE_ID, "takePcScan")) as { started: string };
    assert.match(reply.started, /36 trains/);
    await assert.rejects(c.execute(DAQ_DEVICE_ID, "takePcScan"), /being taken already/);
    const pc = await done("pcState", 300_000);
    assert.match(pc.final, /^done: RelativeGain and BadPixelsPC from scan run 4 stored/, pc.seen.join("\n"));
    assert.ok(
      pc.seen.some((s) => /recording scan run 4/.test(s)),
      pc.seen.join("\n"),
    );
    assert.equal(await c.get(DAQ_DEVICE_ID, "pcProgress"), 1);
    assert.equal(await c.get(DAQ_DEVICE_ID, "pcRun"), 4);
    assert.equal(await c.get(ctrl, "pcScan"), false, "back to photons");
    const modules = (await c.get(DAQ_DEVICE_ID, "dataSources")) as string[];
    const module = modules.find((s) => s.startsWith(DET))!.split(":")[0]!;
    await c.waitFor(module, "lastTrainScan", (v) => v === false, 30_000);

    const cat = Catalogue.open(roots.catalogue);
    const run = cat.findRun(900001, 4)!;
    cat.close();
    assert.equal(`${run.runType}/${run.sample}`, "pc/pulse-capacitor scan");
    assert.ok(run.trains >= 36, `${run.trains} trains`);
    // The run holds at least 3 different charges of every gain stage for the module (it records on
    // until it does, even when the module skips trains).
    const scan = await openRun(run.onlinePath);
    const { trainIds, counts } = scan.keyData(`${module}:xtdf`, "image.data").dataCounts();
    scan.close();
    const steps = pulseCapacitorLadder(AGIPD_1M_DETECTOR).charges.length;
    const perStage = steps / AGIPD_1M_DETECTOR.gainStages;
    const charges = new Set(trainIds.filter((_, i) => counts[i]! > 0).map((t) => t % steps));
    for (let stage = 0; stage < AGIPD_1M_DETECTOR.gainStages; stage++) {
      const inStage = [...charges].filter((c) => Math.floor(c / perStage) === stage);
      assert.ok(
        inStage.length >= 3,
        `stage ${stage}: charges ${inStage} of ${[...charges].sort((a, b) => a - b)}`,
      );
    }
    const store = await ConstantStore.open(roots.constants);
    const recs = store.list();
    store.close();
    const pcRecs = recs.filter((r) => r.calibration === "RelativeGain" || r.calibration === "BadPixelsPC");
    assert.deepEqual(pcRecs.map((r) => r.calibration).sort(), ["BadPixelsPC", "RelativeGain"]);
    assert.equal(pcRecs[0]!.origin, "pulse-capacitor scan r0004");
    assert.equal(pcRecs[0]!.conditions["Memory cells"], 2);
  } finally {
    delete process.env.SASE_CONSTANTS_STORE;
    await facility.stop();
    roots.done();
  }
});
