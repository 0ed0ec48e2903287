// A correction device between a detector module and its consumers, over TCP as in the split facility:
// when the module ends its stream, the correction ends its own after the last corrected train, and
// every train is accounted for at both hops (sent = received + dropped + lost), the drops of the
// consumer's last moments included (over TCP they travel only with a token or an end of stream).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CorrectionDevice } from "../../src/calibration/index.ts";
import { AGIPD_1M_DETECTOR, DetectorControlDevice, DetectorModuleDevice } from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { InputChannel } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";

// Every connection over TCP, even between devices of this process.
process.env.SASE_NO_PIPELINE_SHORTCUT = "1";
const root = mkdtempSync(join(tmpdir(), "sase-corr-eos-"));
after(() => rmSync(root, { recursive: true, force: true }));
const CTRL = AGIPD_1M_DETECTOR.controlSource;
const RAW = "SPB_DET_AGIPD1M-1/DET/0CH0";
const CORR = "SPB_DET_AGIPD1M-1/CORR/0CH0";

test("a correction passes its module's end of stream on, and both hops account for every train", {
  timeout: 180_000,
}, async () => {
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  let sink: InputChannel | undefined;
  try {
    await facility.addDevice(DetectorControlDevice, CTRL, { "bunchStructure.nPulses": 2 });
    // Started once everything is connected: tokens written before an input attaches are no one's.
    await facility.addDevice(DetectorModuleDevice, RAW, {
      module: 0,
      rows: 8,
      rate: 10,
      control: CTRL,
      autoStart: false,
    });
    await facility.addDevice(CorrectionDevice, CORR, {
      rows: 8,
      module: 0,
      control: CTRL,
      constantsStore: join(root, "store"), // no constants: raw passes through, quick
      input: { connectedOutputChannels: [`${RAW}:xtdf`], onSlowness: "drop" },
    });
    const c = facility.client;
    // A consumer slower than the train rate: the correction's output drops trains for it.
    sink = new InputChannel("TEST/SINK/0:input", {
      connectedOutputChannels: [`${CORR}:output`],
      onSlowness: "drop",
    })
      .onData(() => new Promise<void>((r) => setTimeout(r, 250)))
      .connect();
    await sink.waitConnected(30_000);
    const s = sink;
    await until(
      async () => ((await c.get(CORR, "input.missingConnections")) as string[]).length === 0,
      "the correction connected to the module",
    );
    await until(async () => (await c.get(RAW, "state")) === "STOPPED", "the module ready");
    await c.execute(RAW, "start");
    await until(
      () => s.stats().tokens >= 3 && s.stats().dropped > 0,
      () => `drops at the consumer: ${JSON.stringify(s.stats().connections)}`,
    );
    await c.execute(RAW, "stop");
    await until(() => s.stats().endOfStreams >= 1, "the end of stream through the correction");

    const n = async (id: string, key: string) => Number(await c.get(id, key));
    let figures = "";
    // Module → correction: the figures are published a few times a second; wait for them to settle.
    await until(
      async () => {
        const sent = await n(RAW, "trainsSent");
        const [got, dropped, lost] = await Promise.all(
          ["input.tokens", "input.dropped", "input.lost"].map((k) => n(CORR, k)),
        );
        figures = `module sent ${sent}, correction received ${got}, dropped ${dropped}, lost ${lost}`;
        return sent > 0 && sent === got + dropped + lost;
      },
      () => figures,
    );
    // Correction → consumer, exact once the stream has ended.
    await until(
      async () => {
        const written = await n(CORR, "output.tokensWritten");
        const { tokens, dropped, lost } = s.stats();
        figures = `correction wrote ${written}, consumer received ${tokens}, dropped ${dropped}, lost ${lost}`;
        return written === tokens + dropped + lost;
      },
      () => figures,
    );
    assert.ok(s.stats().dropped > 0);
  } finally {
    await sink?.close();
    await facility.stop();
  }
});
