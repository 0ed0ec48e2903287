// The online correction chain as the facility runs it: a module following the detector's control
// device, its correction device following the same conditions. Without constants the raw signal passes
// through with a warning; constants stored while it runs are picked up without a restart; a changed
// condition on the detector makes it look again and say that none exist.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  BadPixels,
  CorrectionDevice,
  characteriseModule,
  readRunConditions,
} from "../../src/calibration/index.ts";
import type { NDArray } from "../../src/core/index.ts";
import {
  AGIPD_1M_DETECTOR,
  DetectorControlDevice,
  DetectorModuleDevice,
  GAIN_STAGE_NAMES,
  reducedDetector,
  writeSimulatedRun,
} from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { openRun } from "../../src/files/index.ts";
import { InputChannel } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";

const ROWS = 16;
const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: ROWS });
const root = mkdtempSync(join(tmpdir(), "sase-online-corr-"));
after(() => rmSync(root, { recursive: true, force: true }));
const CTRL = AGIPD_1M_DETECTOR.controlSource;
const RAW = "SPB_DET_AGIPD1M-1/DET/0CH0";
const CORR = "SPB_DET_AGIPD1M-1/CORR/0CH0";

test("online correction: raw passes through without constants, new constants are picked up, conditions select them", {
  timeout: 120_000,
}, async () => {
  const store = join(root, "store");
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  let input: InputChannel | undefined;
  try {
    await facility.addDevice(DetectorControlDevice, CTRL, { "bunchStructure.nPulses": 2 });
    await facility.addDevice(DetectorModuleDevice, RAW, { module: 0, rows: ROWS, rate: 10, control: CTRL });
    await facility.addDevice(CorrectionDevice, CORR, {
      rows: ROWS,
      module: 0,
      control: CTRL,
      constantsStore: store,
      constantsPollMs: 200,
      input: { connectedOutputChannels: [`${RAW}:xtdf`], onSlowness: "drop" },
    });
    const c = facility.client;
    let last: { mask: Uint32Array; data: Float32Array } | null = null;
    input = new InputChannel("TEST/COLLECT/0:input", {
      connectedOutputChannels: [`${CORR}:output`],
      onSlowness: "drop",
    }).onData((t) => {
      const get = (k: string) => (t.data.get(k) as NDArray).data;
      last = { mask: get("image.mask") as Uint32Array, data: get("image.data") as Float32Array };
    });
    input.connect();

    // No constants yet: raw data flows on, flagged, and the device says why.
    assert.equal(await c.get(CORR, "passThrough"), true);
    assert.match(String(await c.get(CORR, "warning")), /no Offset constant .*"Memory cells":2/);
    await until(() => last !== null, "a passed-through train");
    assert.ok(last!.mask.every((m) => m === BadPixels.NO_DARK_DATA));
    assert.ok(
      last!.data.some((v) => v > 1000),
      "raw analog values pass through",
    );

    // Darks characterised while the chain runs (same conditions as the live detector: 2 cells).
    const dirs = GAIN_STAGE_NAMES.map((g) => join(root, `r000${GAIN_STAGE_NAMES.indexOf(g) + 1}`));
    for (const [i, g] of GAIN_STAGE_NAMES.entries()) {
      mkdirSync(dirs[i]!);
      await writeSimulatedRun(dirs[i]!, {
        detector: det,
        run: i + 1,
        trains: 3,
        modules: 1,
        cells: 2,
        seed: 1,
        dark: g,
      });
    }
    const dc = await openRun(dirs[0]!);
    const { conditions } = readRunConditions(dc, det);
    dc.close();
    await characteriseModule({
      runDirs: dirs,
      detector: det,
      module: 0,
      storeRoot: store,
      conditions,
      beginValidity: "2020-01-01T00:00:00Z",
    });
    await until(async () => (await c.get(CORR, "passThrough")) === false, "the new constants to be used");
    const used = (await c.get(CORR, "constants")) as {
      calibration: string;
      origin: string;
      createdAt: string;
    }[];
    assert.deepEqual(
      used.map((u) => u.calibration),
      ["Offset", "ThresholdsDark", "BadPixelsDark"],
    );
    assert.equal(used[0]!.origin, "dark runs r0001, r0002, r0003");
    assert.ok(Date.parse(used[0]!.createdAt) > Date.now() - 600_000);
    last = null;
    await until(
      () => last !== null && !last.mask.every((m) => m === BadPixels.NO_DARK_DATA),
      "corrected trains",
    );
    const corrected = last! as { data: Float32Array };
    const median = [...corrected.data].sort((a, b) => a - b)[corrected.data.length >> 1]!;
    assert.ok(Math.abs(median) < 200, `corrected median ${median} ADU (raw offsets are ~5000)`);

    // Another gain setting on the detector: those constants do not apply, and the device says so.
    await c.set(CTRL, "gain", 1);
    await until(async () => (await c.get(CORR, "passThrough")) === true, "the device to drop the constants");
    assert.match(String(await c.get(CORR, "warning")), /"Gain setting":1/);
  } finally {
    await input?.close();
    await facility.stop();
  }
});
