import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Hash, ndarray } from "../../src/core/index.ts";
import { type RecorderOptions, recordTrains, type TrainToRecord } from "../../src/daq/index.ts";
import { openRun } from "../../src/files/index.ts";

const CELLS = 3;
const MOD = (m: number) => `SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`;
const XGM = "SA1_XTD2_XGM/XGM/DOOCS";

function moduleToken(m: number, trainId: number, width = 8): Hash {
  const data = new Uint16Array(CELLS * 2 * 4 * width);
  for (let i = 0; i < data.length; i++) data[i] = (trainId * 7 + m * 100 + i) & 0xffff;
  const h = new Hash();
  h.set("image.data", ndarray(data, [CELLS, 2, 4, width]));
  h.set(
    "image.cellId",
    Uint16Array.from({ length: CELLS }, (_, i) => i),
  );
  return h;
}

async function* trains(): AsyncGenerator<TrainToRecord> {
  for (let id = 1001; id <= 1007; id++) {
    const instrument = new Map<string, Hash>();
    // Module 0 sends a malformed frame size in train 1006: left out of that train, not fatal.
    instrument.set(MOD(0), moduleToken(0, id, id === 1006 ? 9 : 8));
    if (id !== 1003) instrument.set(MOD(1), moduleToken(1, id)); // module 1 misses train 1003
    yield {
      trainId: id,
      control: new Map([[XGM, { "pulseEnergy.photonFlux": id / 10, "beamPosition.ixPos": 0.5 }]]),
      instrument,
    };
  }
}

test("matched trains are written as EXDF: one aggregator per module + slow data, rolling sequences", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sase-rec-"));
  try {
    const runDir = join(dir, "r0005");
    mkdirSync(runDir);
    const opts: RecorderOptions = {
      dir: runDir,
      proposal: 900001,
      run: 5,
      runType: "test",
      sample: "lysozyme",
      trainsPerSequence: 3,
      control: [
        {
          name: XGM,
          properties: {
            "pulseEnergy.photonFlux": { dtype: "float64" },
            "beamPosition.ixPos": { dtype: "float32" },
          },
          runValues: { "pulseEnergy.photonFlux": 100.1, "beamPosition.ixPos": 0.5 },
        },
      ],
      instrument: [
        { name: MOD(0), aggregator: "AGIPD00" },
        { name: MOD(1), aggregator: "AGIPD01" },
      ],
      provenance: { devices: { [XGM]: { pulseEnergy: { photonFlux: 100.1 } } } },
    };
    const summary = await recordTrains(opts, trains());
    assert.equal(summary.trains, 7);
    assert.equal(summary.firstTrain, 1001);
    assert.equal(summary.lastTrain, 1007);
    assert.deepEqual(summary.unrecorded, []);
    assert.equal(summary.rejected[MOD(0)]!.count, 1);
    assert.match(summary.rejected[MOD(0)]!.last, /image.data is uint16 \[3,2,4,9\]/);
    // 7 trains at 3 per sequence: S00000..S00002 for each of the three aggregators.
    assert.equal(summary.files.length, 9);
    assert.ok(summary.files.includes("RAW-R0005-AGIPD01-S00002.h5"));
    assert.ok(summary.files.includes("RAW-R0005-DA01-S00000.h5"));

    const run = await openRun(runDir);
    assert.deepEqual([...run.trainIds], [1001, 1002, 1003, 1004, 1005, 1006, 1007]);
    assert.deepEqual(run.instrumentSources.sort(), [MOD(0), MOD(1)]);
    const counts = run.keyData(MOD(1), "image.data").dataCounts().counts;
    assert.deepEqual([...counts], [3, 3, 0, 3, 3, 3, 3]);
    assert.deepEqual([...run.keyData(MOD(0), "image.data").dataCounts().counts], [3, 3, 3, 3, 3, 0, 3]);
    const flux = run.keyData(XGM, "pulseEnergy.photonFlux").ndarray();
    assert.deepEqual([...(flux.data as Float64Array)], [100.1, 100.2, 100.3, 100.4, 100.5, 100.6, 100.7]);
    assert.equal(run.runValues(XGM)["pulseEnergy.photonFlux.value"], 100.1);
    run.close();
    const prov = JSON.parse(readFileSync(join(runDir, "provenance.json"), "utf8"));
    // The version recorded is the package's (one constant, read from package.json).
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    assert.equal(prov.sase, pkg.version);
    assert.equal(prov.devices[XGM].pulseEnergy.photonFlux, 100.1);

    // The Python tools read the same thing.
    const py = execFileSync(
      "/usr/bin/python3",
      [
        "-c",
        `import h5py,glob,sys
f=h5py.File(sys.argv[1]+"/RAW-R0005-AGIPD00-S00001.h5","r")
d=f["INSTRUMENT/${MOD(0)}/image/data"]
print(d.shape, d.dtype, list(f["INDEX/trainId"][:]), list(f["INDEX/${MOD(0)}/image/count"][:]), int(d[0,0,0,0]))`,
        runDir,
      ],
      { encoding: "utf8" },
    );
    assert.equal(py.trim(), `(6, 2, 4, 8) uint16 [1004, 1005, 1006] [3, 3, 0] ${(1004 * 7) & 0xffff}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
