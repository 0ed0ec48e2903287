// One code path: a live module (detector device) corrected by two correction devices sharing its
// output, and the same raw trains recorded to EXDF and corrected offline, give identical bits.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  characteriseModule,
  CorrectionDevice,
  correctRun,
  readRunConditions,
} from "../../src/calibration/index.ts";
import type { NDArray } from "../../src/core/index.ts";
import type { RawModuleTrain } from "../../src/detector/index.ts";
import {
  AGIPD_1M_DETECTOR,
  DetectorModuleDevice,
  GAIN_STAGE_NAMES,
  RawRunWriter,
  reducedDetector,
  writeSimulatedRun,
} from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { openRun } from "../../src/files/index.ts";
import { InputChannel } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";

const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: 32 });
const root = mkdtempSync(join(tmpdir(), "sase-online-"));
after(() => rmSync(root, { recursive: true, force: true }));
const RAW = "SPB_DET_AGIPD1M-1/DET/0CH0";
const WORKERS = ["SPB_DET_AGIPD1M-1/CORR/0CH0", "SPB_DET_AGIPD1M-1/CORR/0CH0_W2"];

test("live correction by two shared-input devices equals offline correction of the recorded run", {
  timeout: 180_000,
}, async () => {
  // Dark constants for module 0, characterised in process.
  const darkDirs = GAIN_STAGE_NAMES.map((g) => join(root, `dark-${g}`));
  for (const [i, g] of GAIN_STAGE_NAMES.entries()) {
    mkdirSync(darkDirs[i]!);
    await writeSimulatedRun(darkDirs[i]!, {
      detector: det,
      run: 1 + i,
      trains: 5,
      modules: 1,
      cells: 4,
      seed: 5,
      dark: g,
    });
  }
  const dc = await openRun(darkDirs[0]!);
  const { conditions } = readRunConditions(dc, det);
  dc.close();
  const store = join(root, "store");
  await characteriseModule({
    runDirs: darkDirs,
    detector: det,
    module: 0,
    storeRoot: store,
    conditions,
    beginValidity: "2020-01-01T00:00:00Z",
  });

  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  const raw = new Map<number, RawModuleTrain>();
  const live = new Map<number, { by: string; data: Float32Array; gain: Uint8Array; mask: Uint32Array }>();
  const inputs: InputChannel[] = [];
  try {
    for (const id of WORKERS) {
      await facility.addDevice(CorrectionDevice, id, {
        rows: 32,
        module: 0,
        memoryCells: 4,
        constantsStore: store,
        // One device corrects in a correction thread, the other in the event loop: same bits.
        threaded: inputs.length === 0,
        input: { connectedOutputChannels: [`${RAW}:xtdf`], dataDistribution: "shared", onSlowness: "wait" },
      });
      const inp = new InputChannel(`TEST/COLLECT/${inputs.length}:input`, {
        connectedOutputChannels: [`${id}:output`],
        onSlowness: "wait",
      }).onData((t) => {
        const get = (k: string) => (t.data.get(k) as NDArray).data;
        live.set(t.meta.timestamp.trainId, {
          by: id,
          data: get("image.data") as Float32Array,
          gain: get("image.gain") as Uint8Array,
          mask: get("image.mask") as Uint32Array,
        });
      });
      inputs.push(inp.connect());
    }
    const rawIn = new InputChannel("TEST/COLLECT/RAW:input", {
      connectedOutputChannels: [`${RAW}:xtdf`],
      onSlowness: "wait",
    })
      .onData((t) => {
        const get = (k: string) => (t.data.get(k) as NDArray).data;
        const data = get("image.data") as Uint16Array;
        const frames = (get("image.cellId") as Uint16Array).length;
        raw.set(t.meta.timestamp.trainId, {
          trainId: BigInt(t.meta.timestamp.trainId),
          frames,
          data,
          cellId: get("image.cellId") as Uint16Array,
          pulseId: get("image.pulseId") as BigUint64Array,
          length: get("image.length") as Uint32Array,
          status: get("image.status") as Uint16Array,
        });
      })
      .connect();
    inputs.push(rawIn);
    await facility.addDevice(DetectorModuleDevice, RAW, {
      rows: 32,
      module: 0,
      cells: 4,
      seed: 11,
      rate: 20,
      xtdf: { sharedSelection: "roundRobin" },
    });
    await until(() => live.size >= 8, "8 corrected trains");
    await facility.client.request(RAW, "stop");
    await until(() => [...live.keys()].every((t) => raw.has(t)), "raw copies of the corrected trains");
  } finally {
    for (const i of inputs) await i.close();
    await facility.stop();
  }
  const byWorker = WORKERS.map((w) => [...live.values()].filter((v) => v.by === w).length);
  assert.ok(
    byWorker.every((n) => n > 0),
    `both workers corrected trains: ${byWorker}`,
  );

  // Record the raw trains as the DAQ would, then correct the run offline.
  const ids = [...live.keys()].sort((a, b) => a - b);
  const runDir = join(root, "r0042");
  mkdirSync(runDir);
  const w = await RawRunWriter.create(runDir, { detector: det, run: 42, modules: 1, cells: 4 });
  for (const id of ids) w.writeTrain(id, [raw.get(id)!], null);
  await w.close();
  const out = join(root, "corr");
  await correctRun(runDir, out, { detector: det, storeRoot: store, workers: 1 });
  const corr = await openRun(out);
  const src = "SPB_DET_AGIPD1M-1/CORR/0CH0:output";
  const read = (key: string, id: number) => (corr.keyData(src, key).trainData(id) as NDArray).data;
  for (const id of ids) {
    const mine = live.get(id)!;
    assert.deepEqual(read("image.data", id), mine.data, `train ${id} data`);
    assert.deepEqual(read("image.gain", id), mine.gain, `train ${id} gain`);
    assert.deepEqual(read("image.mask", id), mine.mask, `train ${id} mask`);
  }
  corr.close();
});
