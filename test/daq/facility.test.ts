import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { addFacilityDaq, Catalogue, DAQ_DEVICE_ID } from "../../src/daq/index.ts";
import { FACILITY_IDS, Facility } from "../../src/devices/index.ts";
import { validateRun } from "../../src/files/index.ts";
import { tempRoots, waitForTrains } from "./helpers.ts";

test("the facility's DAQ records motors, the XGM and the simulated detector; h5py reads the run", async () => {
  const roots = tempRoots();
  const facility = await Facility.standard({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  try {
    await addFacilityDaq(facility, {
      modules: 2,
      cells: 2,
      rows: 16,
      onlineRoot: roots.online,
      cataloguePath: roots.catalogue,
    });
    const c = facility.client;
    const sources = (await c.get(DAQ_DEVICE_ID, "dataSources")) as string[];
    assert.deepEqual(sources, [
      FACILITY_IDS.motorX,
      FACILITY_IDS.motorY,
      "SA1_XTD2_XGM/DOOCS/MAIN",
      "SA1_XTD2_XGM/DOOCS/MAIN:output",
      "SPB_IRU_AGIPD1M1/MDL/FPGA_COMP",
      "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf",
      "SPB_DET_AGIPD1M-1/DET/1CH0:xtdf",
    ]);
    // The modules simulate in worker threads: wait for their first trains (threads start in seconds).
    for (const m of [0, 1]) {
      await c.waitFor(`SPB_DET_AGIPD1M-1/DET/${m}CH0`, "trainsSent", (n) => Number(n) > 0, 60_000);
    }
    const { directory } = (await c.execute(DAQ_DEVICE_ID, "record")) as { directory: string };
    await waitForTrains(c, DAQ_DEVICE_ID, 3);
    const { trains } = (await c.execute(DAQ_DEVICE_ID, "stopRecording")) as { trains: number };
    assert.ok(trains >= 3);
    assert.deepEqual(await validateRun(directory), []);
    const py = execFileSync(
      "/usr/bin/python3",
      [
        "-c",
        `import h5py,sys
f=h5py.File(sys.argv[1]+"/RAW-R0001-AGIPD01-S00000.h5","r")
g=h5py.File(sys.argv[1]+"/RAW-R0001-DA01-S00000.h5","r")
print(f["INSTRUMENT/SPB_DET_AGIPD1M-1/DET/1CH0:xtdf/image/data"].shape[1:], len(g["CONTROL/${FACILITY_IDS.motorX}/position/value"]), int((g["CONTROL/SA1_XTD2_XGM/DOOCS/MAIN/pulseEnergy/photonFlux/value"][:] > 0).sum()), int(g["CONTROL/SPB_IRU_AGIPD1M1/MDL/FPGA_COMP/bunchStructure/nPulses/value"][0]))`,
        directory,
      ],
      { encoding: "utf8" },
    );
    const [, shape, motorTrains, xgmTrains, nPulses] = /^(\(.*\)) (\d+) (\d+) (\d+)$/.exec(py.trim()) ?? [];
    // The operating conditions are recorded where calibration reads them (the control device).
    assert.equal(nPulses, "2", py);
    assert.equal(`${shape} ${motorTrains}`, `(2, 16, 128) ${trains}`, py);
    // The XGM's mean pulse energy is recorded per train (the first may predate its first reading).
    assert.ok(Number(xgmTrains) >= trains - 1, `XGM energy in ${xgmTrains} of ${trains} trains`);
    const cat = Catalogue.open(roots.catalogue);
    assert.equal(cat.findRun(900001, 1)!.trains, trains);
    cat.close();
  } finally {
    await facility.stop();
    roots.done();
  }
});
