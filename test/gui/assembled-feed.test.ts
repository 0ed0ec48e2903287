// The live chain as `sase start` builds it: detector module → correction device → assembler device →
// the GUI's corrected view, which shows the assembler's image (with the time the train left the
// detector), and the raw view beside it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { addOnlineCorrection, assemblerId } from "../../src/calibration/index.ts";
import { AGIPD_1M_DETECTOR, DetectorControlDevice, DetectorModuleDevice } from "../../src/detector/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { AssembledImageFeed, findDetectorFeed, SelectableImageFeed } from "../../src/gui/index.ts";
import type { LiveFrame } from "../../src/gui/server/backend.ts";

const root = mkdtempSync(join(tmpdir(), "sase-assembled-feed-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("the corrected view shows the assembler device's image of the corrected modules", {
  timeout: 60_000,
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
    // On the event loop: the threads are the correction tests' subject, here they only cost start-up.
    const added = await addOnlineCorrection(facility, {
      storeRoot: join(root, "constants"),
      threaded: false,
    });
    assert.deepEqual(added, ["SPB_DET_AGIPD1M-1/CORR/3CH0", assemblerId(det)]);
    const found = findDetectorFeed();
    assert.ok(found instanceof SelectableImageFeed, "corrected and raw views");
    feed = found;
    assert.deepEqual(feed.views, ["corrected", "raw"]);
    assert.ok(feed.feeds.get("corrected") instanceof AssembledImageFeed);
    assert.match(feed.source, /corrected, 1 of 16 modules, assembled by SPB_DET_AGIPD1M-1\/CAL\/ASSEMBLER/);
    const frame = await new Promise<LiveFrame>((resolve) => {
      const off = feed!.subscribe((f) => {
        off();
        resolve(f);
      });
    });
    assert.deepEqual([frame.height, frame.width], [1256, 1092]);
    // Module 3's pixels (passed through raw without constants) and NaN elsewhere.
    const finite = frame.pixels.filter((v) => Number.isFinite(v));
    assert.equal(finite.length, 512 * 128);
    assert.equal(frame.matching?.missing, 0);
    // The image carries the time the train left the detector, not when it was assembled.
    const assembledAt = Number(await facility.client.get(assemblerId(det), "lastTrainId"));
    assert.ok(assembledAt >= frame.trainId);
    assert.ok(frame.sentMs <= Date.now() && frame.sentMs > Date.now() - 30_000);
  } finally {
    await feed?.close();
    await facility.stop();
  }
});
