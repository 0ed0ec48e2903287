// The DAQ hands a token's memory back to its input once the train is in the run's files, never before:
// later trains are received over TCP into it, and every train reads back as it was sent.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Hash, ndarray } from "../../src/core/index.ts";
import { Acquisition } from "../../src/daq/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { openRun } from "../../src/files/index.ts";
import { OutputChannel } from "../../src/pipeline/index.ts";

process.env.SASE_NO_PIPELINE_SHORTCUT = "1";
const SOURCE = "TEST/DAQREL/0:output";
const TRAINS = 24;
const FIRST = 5001;

test("the DAQ receives later trains into memory of trains already written, and records every value", {
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "sase-daq-release-"));
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  const out = new OutputChannel(SOURCE);
  let acq: Acquisition | undefined;
  try {
    await out.listen();
    acq = await Acquisition.start({
      client: facility.client,
      sources: [SOURCE],
      daqId: "TEST/DAQREL/DAQ",
      currentTrain: () => 0,
    });
    const input = acq.instrument[0]!.input;
    await input.waitConnected(30_000);
    const runDir = join(dir, "r0001");
    mkdirSync(runDir);
    const rec = acq.startRecording({ dir: runDir, proposal: 900002, run: 1 });
    for (let i = 0; i < TRAINS; i++) {
      const data = new Uint16Array(4 * 8192).fill(i + 1);
      await out.write(new Hash({ image: { data: ndarray(data, [4, 8192]) } }), { trainId: FIRST + i });
      // One train at a time: a train received while the last is still written gets fresh memory.
      const end = performance.now() + 30_000;
      while (rec.trainsWritten < i + 1) {
        if (performance.now() > end)
          assert.fail(
            `train ${FIRST + i} was not recorded: ${acq.error?.message ?? JSON.stringify(input.stats())}`,
          );
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const reused = input.stats().reusedMemory;
    await acq.stopRecording();
    assert.ok(reused >= TRAINS - 4, `${reused} of ${TRAINS} trains received into memory given back`);
    const run = await openRun(runDir);
    assert.deepEqual(
      [...run.trainIds],
      Array.from({ length: TRAINS }, (_, i) => FIRST + i),
    );
    const values = run.keyData(SOURCE, "image.data").ndarray();
    const per = values.data.length / TRAINS;
    for (let i = 0; i < TRAINS; i++) {
      const train = values.data.subarray(i * per, (i + 1) * per) as Uint16Array;
      assert.ok(
        train.every((v) => v === i + 1),
        `train ${FIRST + i} reads back as sent`,
      );
    }
  } finally {
    await acq?.stop().catch(() => undefined);
    await out.close();
    await facility.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
