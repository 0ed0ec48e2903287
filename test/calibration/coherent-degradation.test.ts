// A detector chain short of capacity degrades coherently: modules → corrections → assembler → viewer,
// every hop over TCP as in the split facility. One correction takes its trains slowly (Karabo's
// delayOnInput: its module's output drops whatever train comes while it waits, different trains than
// the other correction gets). The assembler must not pass such half trains on as images: every image
// that reaches the viewer holds every module, the trains some module skipped are counted, and every
// hop still accounts for every train (sent = received + dropped + lost).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AssemblerDevice, CorrectionDevice } from "../../src/calibration/index.ts";
import { AGIPD_1M_DETECTOR, DetectorControlDevice, DetectorModuleDevice } from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { InputChannel } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";

// Every connection over TCP, even between devices of this process.
process.env.SASE_NO_PIPELINE_SHORTCUT = "1";
const root = mkdtempSync(join(tmpdir(), "sase-coherent-"));
after(() => rmSync(root, { recursive: true, force: true }));
const CTRL = AGIPD_1M_DETECTOR.controlSource;
const ASM = "SPB_DET_AGIPD1M-1/CAL/ASSEMBLER";
const raw = (m: number) => `SPB_DET_AGIPD1M-1/DET/${m}CH0`;
const corr = (m: number) => `SPB_DET_AGIPD1M-1/CORR/${m}CH0`;

/** Control, two modules (8 rows, 2 cells) and their corrections; `input(m)` adds to correction m's input. */
async function chain(
  facility: Facility,
  input: (m: number) => Record<string, unknown>,
  assembler: Record<string, unknown>,
): Promise<void> {
  await facility.addDevice(DetectorControlDevice, CTRL, { "bunchStructure.nPulses": 2 });
  for (const m of [0, 1]) {
    // Started once everything is connected: tokens written before an input attaches are no one's.
    await facility.addDevice(DetectorModuleDevice, raw(m), {
      module: m,
      rows: 8,
      rate: 10,
      control: CTRL,
      autoStart: false,
    });
    await facility.addDevice(CorrectionDevice, corr(m), {
      rows: 8,
      module: m,
      control: CTRL,
      constantsStore: join(root, "store"), // no constants: raw passes through, quick
      input: { connectedOutputChannels: [`${raw(m)}:xtdf`], onSlowness: "drop", ...input(m) },
    });
  }
  await facility.addDevice(AssemblerDevice, ASM, {
    ...assembler,
    input: { connectedOutputChannels: [0, 1].map((m) => `${corr(m)}:output`), onSlowness: "wait" },
  });
}

/** Waits for every input of the chain to connect, then starts both modules. */
async function start(facility: Facility): Promise<void> {
  const c = facility.client;
  await until(
    async () =>
      (
        await Promise.all([
          ...[0, 1].map((m) => c.get(corr(m), "input.missingConnections")),
          c.get(ASM, "input.missingConnections"),
        ])
      ).every((missing) => (missing as string[]).length === 0),
    "the corrections and the assembler connected",
    90_000,
  );
  for (const m of [0, 1])
    await until(
      async () => (await c.get(raw(m), "state")) === "STOPPED",
      () => `module ${m} ready`,
      90_000,
    );
  // Together: a module that starts seconds after the other (a loaded machine) is silent meanwhile, and
  // the trains of the other then go on without it after the match timeout, as they should.
  await Promise.all([0, 1].map((m) => c.execute(raw(m), "start")));
}

test("with a slow correction, every assembled image that reaches the viewer is whole and the rest is counted", {
  timeout: 240_000,
}, async () => {
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  let viewer: InputChannel | undefined;
  try {
    // Module 1's correction asks for its next train only 250 ms after taking one. A long match
    // timeout: a half train waiting it out would hold the whole ones behind it too.
    await chain(facility, (m) => (m === 1 ? { delayOnInput: 250 } : {}), { matchTimeoutMs: 10_000 });
    const present: number[] = [];
    viewer = new InputChannel("TEST/VIEWER/0:input", { connectedOutputChannels: [`${ASM}:output`] })
      .onData((t) => {
        present.push(Number(t.data.get("image.modulesPresent")));
      })
      .connect();
    await viewer.waitConnected(30_000);
    const c = facility.client;
    const n = async (id: string, key: string) => Number(await c.get(id, key));
    await start(facility);
    let figures = "";
    await until(
      async () => {
        figures = `viewer got ${present.length}, assembler skipped ${await n(ASM, "trainsSkipped")}`;
        return present.length >= 5 && (await n(ASM, "trainsSkipped")) >= 5;
      },
      () => figures,
      90_000,
    );
    for (const m of [0, 1]) await c.execute(raw(m), "stop");
    // The stream ends through both corrections and the assembler's matcher hands on what it held.
    await until(async () => (await n(ASM, "input.endOfStreams")) >= 1, "the end of stream", 90_000);

    assert.ok(
      present.every((p) => p === 2),
      `modules present in the images the viewer got: ${present.join(",")}`,
    );
    assert.equal(await n(ASM, "trainsIncomplete"), 0);
    // The slow correction's trains were dropped by its module's output, and counted there.
    assert.ok((await n(corr(1), "input.dropped")) > 0, "the slow correction's input dropped trains");
    // Every hop accounts for every train, and every train the matcher decided is assembled or skipped.
    await until(
      async () => {
        const rows: string[] = [];
        let ok = true;
        let written = 0;
        for (const m of [0, 1]) {
          const [sent, got, dropped, lost, skipped, corrected, passed, wrote] = await Promise.all([
            n(raw(m), "trainsSent"),
            ...[
              "input.tokens",
              "input.dropped",
              "input.lost",
              "trainsSkipped",
              "trainsCorrected",
              "trainsPassedRaw",
              "output.tokensWritten",
            ].map((k) => n(corr(m), k)),
          ]);
          written += wrote;
          rows.push(
            `module ${m}: sent ${sent} = ${got} + ${dropped} + ${lost}; taken ${got} = ${corrected} + ${passed} + ${skipped}, wrote ${wrote}`,
          );
          ok &&= sent > 0 && sent === got + dropped + lost && got === corrected + passed + skipped;
          ok &&= wrote === corrected + passed;
        }
        const [asmGot, asmDropped, asmLost, trains, assembled, skipped, late] = await Promise.all(
          [
            "input.tokens",
            "input.dropped",
            "input.lost",
            "matching.trains",
            "trainsAssembled",
            "trainsSkipped",
            "matching.late",
          ].map((k) => n(ASM, k)),
        );
        rows.push(
          `corrections wrote ${written} = ${asmGot} + ${asmDropped} + ${asmLost}; assembler matched ${trains} = ${assembled} + ${skipped} (late ${late}); viewer ${present.length}`,
        );
        figures = rows.join("; ");
        return (
          ok &&
          written === asmGot + asmDropped + asmLost &&
          trains === assembled + skipped &&
          assembled >= present.length
        );
      },
      () => figures,
      90_000,
    );
  } finally {
    await viewer?.close();
    await facility.stop();
  }
});

test("corrections held up by a slow consumer back off on one train grid and the viewer gets whole trains", {
  timeout: 240_000,
}, async () => {
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  let viewer: InputChannel | undefined;
  try {
    await chain(facility, () => ({}), { matchTimeoutMs: 10_000 });
    const ids: number[] = [];
    const present: number[] = [];
    // A viewer that takes 300 ms per image and asks to be waited for: the assembler waits for it,
    // the corrections wait for the assembler, and so they are too slow for every train.
    viewer = new InputChannel("TEST/VIEWER/1:input", {
      connectedOutputChannels: [`${ASM}:output`],
      onSlowness: "wait",
    })
      .onData(async (t) => {
        ids.push(t.meta.timestamp.trainId);
        present.push(Number(t.data.get("image.modulesPresent")));
        await new Promise((r) => setTimeout(r, 300));
      })
      .connect();
    await viewer.waitConnected(30_000);
    const c = facility.client;
    const n = async (id: string, key: string) => Number(await c.get(id, key));
    await start(facility);
    let figures = "";
    await until(
      async () => {
        const strides = await Promise.all([0, 1].map((m) => n(corr(m), "trainStride")));
        const skipped = await Promise.all([0, 1].map((m) => n(corr(m), "trainsSkipped")));
        figures = `strides ${strides}, skipped ${skipped}, viewer got ${ids.length}`;
        return strides.every((s) => s >= 2) && skipped.every((k) => k > 0) && ids.length >= 5;
      },
      () => figures,
      90_000,
    );
    for (const m of [0, 1]) await c.execute(raw(m), "stop");
    assert.ok(
      present.every((p) => p === 2),
      `modules present in the images the viewer got: ${present.join(",")}`,
    );
    assert.equal(await n(ASM, "trainsIncomplete"), 0);
  } finally {
    await viewer?.close();
    await facility.stop();
  }
});
