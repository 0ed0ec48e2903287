// The whole data path on real parts: simulated AGIPD modules stream over pipelines → the DAQ records
// a run → flagged good → `sase migrate` (in process) copies and verifies it and runs the real
// `sase calibrate correct` as a job → corrected files appear in proc/ and the catalogue says done.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { characteriseDarkRuns } from "../../src/calibration/index.ts";
import { Catalogue, DaqController } from "../../src/daq/index.ts";
import {
  AGIPD_1M_DETECTOR,
  DetectorModuleDevice,
  GAIN_STAGE_NAMES,
  rawSourceName,
  reducedDetector,
  writeSimulatedRun,
} from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { openRun } from "../../src/files/index.ts";
import { saseInProcess, tempRoots, waitForTrains } from "./helpers.ts";

const ROWS = 16;
const CELLS = 2;
const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: ROWS });

test("record → flag → migrate → calibrate, end to end", async () => {
  const roots = tempRoots();
  const store = join(roots.dataDir, "constants");
  try {
    // Dark constants for two modules (simulated dark runs, characterised by the calibration layer).
    const darks = GAIN_STAGE_NAMES.map((g) => join(roots.dataDir, "darks", g));
    for (const [i, g] of GAIN_STAGE_NAMES.entries()) {
      mkdirSync(darks[i]!, { recursive: true });
      await writeSimulatedRun(darks[i]!, {
        detector: det,
        run: 90 + i,
        trains: 4,
        modules: 2,
        cells: CELLS,
        seed: 3,
        dark: g,
      });
    }
    await characteriseDarkRuns(darks as [string, string, string], {
      detector: det,
      storeRoot: store,
      workers: 1,
    });

    // Record a run from two module devices.
    const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
    let runDir: string;
    try {
      for (const m of [0, 1]) {
        await facility.addDevice(DetectorModuleDevice, `SPB_DET_AGIPD1M-1/DET/${m}CH0`, {
          module: m,
          rows: ROWS,
          cells: CELLS,
          seed: 3,
        });
      }
      await facility.addDevice(DaqController, "SPB_DAQ/RUN/CONTROL", {
        dataSources: [rawSourceName(det, 0), rawSourceName(det, 1)],
        onlineRoot: roots.online,
        cataloguePath: roots.catalogue,
        proposal: 900042,
        trainTimeoutMs: 400,
      });
      const c = facility.client;
      ({ directory: runDir } = (await c.execute("SPB_DAQ/RUN/CONTROL", "record")) as { directory: string });
      await waitForTrains(c, "SPB_DAQ/RUN/CONTROL", 4);
      await c.execute("SPB_DAQ/RUN/CONTROL", "stop");
    } finally {
      await facility.stop();
    }
    const raw = await openRun(runDir);
    const trains = raw.trainIds.length;
    assert.ok(trains >= 4, `${trains} trains recorded`);
    assert.deepEqual(raw.keyData(rawSourceName(det, 1), "image.data").ndarray().shape.slice(1), [
      2,
      ROWS,
      128,
    ]);
    raw.close();

    // Flag through the API (the CLI's flag command has its own test; each CLI start costs seconds).
    const flagging = Catalogue.open(roots.catalogue);
    flagging.flagRun(flagging.resolveRun(1, 900042).id, "good", "e2e");
    flagging.close();
    // `sase migrate` in this process; the correction it submits runs as a real child process.
    const { out, err, code } = await saseInProcess(
      "migrate",
      "--store",
      store,
      "--correct-args",
      `--rows ${ROWS} --workers 1`,
      "--data-dir",
      roots.dataDir,
    );
    assert.equal(code, 0, `${err}${out}`);
    assert.match(out, /proposal 900042 run 1: migrated/);
    assert.match(out, /job \d+ correct done local:\d+ exit=0/);

    const cat = Catalogue.open(roots.catalogue);
    const run = cat.findRun(900042, 1)!;
    assert.equal(run.migration, "migrated");
    assert.equal(run.calibration, "done");
    assert.ok(cat.runFiles(run.id).every((f) => f.state === "verified" && f.sourceSha256 === f.copySha256));
    cat.close();
    const procDir = join(roots.offline, "p900042", "proc", "r0001");
    const corr = readdirSync(procDir).filter((f) => f.startsWith("CORR-"));
    assert.ok(
      corr.some((f) => f.includes("AGIPD01")),
      corr.join(" "),
    );
    // Lineage beside the corrected files: the raw run and every file's checksum that went in.
    const lineage = JSON.parse(readFileSync(join(procDir, "lineage.json"), "utf8"));
    assert.equal(lineage.inputs[0].run, 1);
    assert.ok(
      lineage.inputs[0].files.some(
        (f: { path: string; sha256: string }) => /AGIPD01/.test(f.path) && /^[0-9a-f]{64}$/.test(f.sha256),
      ),
    );
    assert.equal(lineage.producedBy.kind, "correct");
    const proc = await openRun(procDir);
    assert.equal(proc.trainIds.length, trains);
    proc.close();
  } finally {
    roots.done();
  }
});
