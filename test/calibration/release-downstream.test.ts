// A correction hands its whole input token back (InputChannel.release) once it has read it: a maker in
// this process then writes later trains into every array it offered. Nothing of the token may go on
// downstream by reference: a train a downstream reader still holds must keep the values it was sent.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CorrectionDevice } from "../../src/calibration/index.ts";
import { Hash, type NDArray, ndarray } from "../../src/core/index.ts";
import { AGIPD_1M_DETECTOR, modulePixels, reducedDetector } from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { type DataToken, InputChannel, OutputChannel } from "../../src/pipeline/index.ts";

const root = mkdtempSync(join(tmpdir(), "sase-release-downstream-"));
after(() => rmSync(root, { recursive: true, force: true }));
const ROWS = 8;
const FRAMES = 4;
const P = modulePixels(reducedDetector(AGIPD_1M_DETECTOR, { rows: ROWS }));
const RAW = "TEST/RAWMAKER/0CH0:xtdf";
const CORR = "SPB_DET_AGIPD1M-1/CORR/0CH0";

/** Train `t`'s values, as the maker writes them and as a held corrected train must still show them. */
const analog = (t: number, f: number, p: number) => (t * 31 + f * 7 + p) % 4096;
const cell = (t: number, f: number) => (t + f) % 352;
const pulse = (t: number, f: number) => BigInt(t * 1000 + f);

interface RawArrays {
  data: Uint16Array;
  cellId: Uint16Array;
  pulseId: BigUint64Array;
}

test("a train held downstream of a correction keeps its values while the maker reuses every raw array", {
  timeout: 120_000,
}, async () => {
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  const maker = new OutputChannel(RAW);
  let held: InputChannel | undefined;
  try {
    await facility.addDevice(CorrectionDevice, CORR, {
      rows: ROWS,
      module: 0,
      threaded: false,
      constantsStore: join(root, "store"), // no constants: the raw signal passes through
      input: { connectedOutputChannels: [RAW], onSlowness: "wait" },
    });
    // A downstream reader that keeps every corrected train and never hands one back.
    const kept: DataToken[] = [];
    held = new InputChannel("TEST/HOLD/0:input", {
      connectedOutputChannels: [`${CORR}:output`],
      onSlowness: "wait",
    });
    held.onData((token) => {
      kept.push(token);
    });
    held.connect();
    await held.waitConnected(10_000);

    // The maker writes each train into arrays its readers handed back when it has some, else fresh.
    const free: RawArrays[] = [];
    let reused = 0;
    const TRAINS = 30;
    for (let t = 1; t <= TRAINS; t++) {
      const back = free.pop();
      if (back) reused++;
      const a = back ?? {
        data: new Uint16Array(FRAMES * 2 * P),
        cellId: new Uint16Array(FRAMES),
        pulseId: new BigUint64Array(FRAMES),
      };
      for (let f = 0; f < FRAMES; f++) {
        for (let p = 0; p < P; p++) {
          a.data[f * 2 * P + p] = analog(t, f, p);
          a.data[f * 2 * P + P + p] = 0;
        }
        a.cellId[f] = cell(t, f);
        a.pulseId[f] = pulse(t, f);
      }
      let arraysBack = 0;
      const giveBack = () => {
        if (++arraysBack === 3) free.push(a);
      };
      for (const view of [a.data, a.cellId, a.pulseId]) maker.offerToLocalReaders(view, giveBack);
      await maker.write(
        new Hash({
          image: {
            data: ndarray(a.data, [FRAMES, 2, ROWS, P / ROWS]),
            cellId: ndarray(a.cellId, [FRAMES]),
            pulseId: ndarray(a.pulseId, [FRAMES]),
          },
        }),
        { trainId: t },
      );
    }
    const end = performance.now() + 60_000;
    while (Number(await facility.client.get(CORR, "input.tokens")) < TRAINS) {
      if (performance.now() > end) assert.fail("the correction did not take every train");
      await new Promise((r) => setTimeout(r, 20));
    }
    while (kept.length < Number(await facility.client.get(CORR, "trainsPassedRaw"))) {
      if (performance.now() > end) assert.fail("the corrected trains did not all arrive");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(reused >= 5, `the maker got its arrays back and wrote later trains into them (${reused})`);
    assert.ok(kept.length >= 5, `corrected trains held: ${kept.length}`);
    console.log(
      `${reused} of ${TRAINS} trains written into arrays given back; ${kept.length} corrected trains held`,
    );
    for (const token of kept) {
      const t = token.meta.timestamp.trainId;
      const data = token.data.get<NDArray>("image.data").data as Float32Array;
      const cellId = token.data.get<NDArray>("image.cellId").data as Uint16Array;
      const pulseId = token.data.get<NDArray>("image.pulseId").data as BigUint64Array;
      for (let f = 0; f < FRAMES; f++) {
        assert.equal(cellId[f], cell(t, f), `train ${t} frame ${f}: cellId rewritten`);
        assert.equal(pulseId[f], pulse(t, f), `train ${t} frame ${f}: pulseId rewritten`);
        for (let p = 0; p < P; p += 97)
          assert.equal(data[f * P + p], analog(t, f, p), `train ${t} frame ${f} pixel ${p}: image rewritten`);
      }
    }
  } finally {
    await held?.close();
    await maker.close();
    await facility.stop();
  }
});
