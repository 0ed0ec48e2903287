// In the split facility every hop is TCP: a correction and the assembler hand each token's memory back
// to their input once they no longer read it (InputChannel.release), so later trains are received into
// memory already mapped instead of fresh pages (a page fault per 4 KB on some hosts).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AssemblerDevice, CorrectionDevice } from "../../src/calibration/index.ts";
import { Hash, ndarray } from "../../src/core/index.ts";
import { AGIPD_1M_DETECTOR, DetectorControlDevice, DetectorModuleDevice } from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { OutputChannel } from "../../src/pipeline/index.ts";

// Every connection over TCP, even between devices of this process.
process.env.SASE_NO_PIPELINE_SHORTCUT = "1";
const root = mkdtempSync(join(tmpdir(), "sase-release-"));
after(() => rmSync(root, { recursive: true, force: true }));
const CTRL = AGIPD_1M_DETECTOR.controlSource;
const RAW = "SPB_DET_AGIPD1M-1/DET/0CH0";
const CORR = "SPB_DET_AGIPD1M-1/CORR/0CH0";
const ASM = "SPB_DET_AGIPD1M-1/ASM/TEST";

test("a correction and the assembler receive later trains over TCP into memory their earlier ones gave back", {
  timeout: 180_000,
}, async () => {
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  try {
    await facility.addDevice(DetectorControlDevice, CTRL, { "bunchStructure.nPulses": 2 });
    await facility.addDevice(DetectorModuleDevice, RAW, { module: 0, rows: 8, rate: 10, control: CTRL });
    await facility.addDevice(CorrectionDevice, CORR, {
      rows: 8,
      module: 0,
      control: CTRL,
      constantsStore: join(root, "store"), // no constants: raw passes through, quick
      input: { connectedOutputChannels: [`${RAW}:xtdf`], onSlowness: "wait" },
    });
    await facility.addDevice(AssemblerDevice, ASM, {
      input: { connectedOutputChannels: [`${CORR}:output`], onSlowness: "wait" },
    });
    const c = facility.client;
    const n = async (id: string, key: string) => Number(await c.get(id, key));
    const end = performance.now() + 60_000;
    let figures = "";
    for (;;) {
      const [corrTokens, corrReused, asmTokens, asmReused, assembled] = await Promise.all([
        n(CORR, "input.tokens"),
        n(CORR, "input.reusedMemory"),
        n(ASM, "input.tokens"),
        n(ASM, "input.reusedMemory"),
        n(ASM, "trainsAssembled"),
      ]);
      figures = `correction received ${corrTokens} (${corrReused} into reused memory), assembler ${asmTokens} (${asmReused}), assembled ${assembled}`;
      if (corrReused >= 5 && asmReused >= 5 && assembled >= 5) break;
      if (performance.now() > end) assert.fail(`tokens never received into released memory: ${figures}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Nearly every token after the first few lands in memory given back (one or two are in flight).
    const [corrTokens, corrReused] = await Promise.all([
      n(CORR, "input.tokens"),
      n(CORR, "input.reusedMemory"),
    ]);
    assert.ok(corrReused >= corrTokens - 4, figures);
  } finally {
    await facility.stop();
  }
});

test("the assembler hands back the memory of pieces its matcher drops (a second piece of a train)", {
  timeout: 120_000,
}, async () => {
  const SRC = "TEST/ASMDUP/0CH0:output";
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  const maker = new OutputChannel(SRC);
  try {
    await maker.listen();
    await facility.addDevice(AssemblerDevice, "TEST/ASMDUP/ASM", {
      input: { connectedOutputChannels: [SRC], onSlowness: "wait" },
    });
    const c = facility.client;
    const n = async (key: string) => Number(await c.get("TEST/ASMDUP/ASM", key));
    let end = performance.now() + 30_000;
    while (maker.stats().connections === 0) {
      if (performance.now() > end) assert.fail("the assembler never connected");
      await new Promise((r) => setTimeout(r, 50));
    }
    // Each train twice: the first piece is assembled, the second comes after its train (late).
    const TRAINS = 20;
    for (let t = 1; t <= TRAINS; t++) {
      for (let copy = 0; copy < 2; copy++) {
        const image = new Float32Array(8 * 128).fill(t);
        await maker.write(new Hash({ image: { data: ndarray(image, [1, 8, 128]) } }), { trainId: t });
      }
    }
    end = performance.now() + 60_000;
    let figures = "";
    for (;;) {
      const [tokens, reused, late, assembled] = await Promise.all([
        n("input.tokens"),
        n("input.reusedMemory"),
        n("matching.late"),
        n("trainsAssembled"),
      ]);
      figures = `received ${tokens} (${reused} into reused memory), ${assembled} assembled, ${late} late`;
      if (tokens >= 2 * TRAINS && late >= TRAINS - 1 && assembled >= TRAINS - 1) break;
      if (performance.now() > end) assert.fail(`the pieces did not all arrive: ${figures}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Without the dropped pieces handed back, only about every second token lands in reused memory.
    const [tokens, reused] = await Promise.all([n("input.tokens"), n("input.reusedMemory")]);
    assert.ok(reused >= tokens - 4, figures);
  } finally {
    await maker.close();
    await facility.stop();
  }
});
