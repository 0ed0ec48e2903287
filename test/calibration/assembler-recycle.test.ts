// The assembler writes each train's image into an image its readers handed back (core's recycle), never
// into one a reader still holds: the GUI's corrected view keeps a frame past its callback via hold().
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { addOnlineCorrection } from "../../src/calibration/index.ts";
import { AGIPD_1M_DETECTOR, DetectorControlDevice, DetectorModuleDevice } from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { AssembledImageFeed, findDetectorFeed, SelectableImageFeed } from "../../src/gui/index.ts";

const root = mkdtempSync(join(tmpdir(), "sase-assembler-recycle-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("an assembled image is not rewritten while a reader holds it, and is reused once released", {
  timeout: 90_000,
}, async () => {
  const det = AGIPD_1M_DETECTOR;
  const facility = await Facility.start({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  let feed: SelectableImageFeed | null = null;
  try {
    await facility.addDevice(DetectorControlDevice, det.controlSource, { "bunchStructure.nPulses": 2 });
    await facility.addDevice(DetectorModuleDevice, "SPB_DET_AGIPD1M-1/DET/3CH0", {
      module: 3,
      rate: 10,
      control: det.controlSource,
    });
    await addOnlineCorrection(facility, { storeRoot: join(root, "constants"), threaded: false });
    const found = findDetectorFeed();
    assert.ok(found instanceof SelectableImageFeed);
    feed = found;
    const corrected = feed.feeds.get("corrected");
    assert.ok(corrected instanceof AssembledImageFeed);
    const HELD = 5;
    const held: { trainId: number; data: Float32Array; values: Float32Array; release: () => void }[] = [];
    const released = new Set<Float32Array>();
    let trainsAfter = 0;
    const reused = await new Promise<Float32Array>((resolve, reject) => {
      const off = corrected.subscribe((f) => {
        try {
          const data = f.pixelsYUp;
          assert.ok(data, "the corrected view hands out the assembler's image");
          assert.ok(f.hold, "the assembler's image is offered for reuse");
          // Never the memory of an image still held.
          for (const h of held)
            assert.notEqual(data.buffer, h.data.buffer, `train ${f.trainId} written into held ${h.trainId}`);
          if (held.length < HELD && released.size === 0) {
            held.push({ trainId: f.trainId, data, values: data.slice(), release: f.hold() });
            return;
          }
          if (released.size === 0) {
            // Every held image still has the values it was assembled with.
            for (const h of held) assert.deepEqual(h.data, h.values, `train ${h.trainId}'s image changed`);
            for (const h of held.splice(0)) {
              released.add(h.data);
              h.release();
            }
            return;
          }
          trainsAfter++;
          if (released.has(data)) {
            off();
            resolve(data);
          }
        } catch (e) {
          reject(e);
        }
      });
    });
    assert.ok(released.has(reused));
    assert.ok(trainsAfter >= 1);
  } finally {
    await feed?.close();
    await facility.stop();
  }
});
