// A graph run offline reads only the frame it shows of each module's train (KeyData.entriesInFile):
// the image must be the one assembled from the whole train, for any frame, and a frame past the
// train's says so.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runTrains } from "../../src/analysis/index.ts";
import { assembleImage, copyModuleFrame } from "../../src/analysis/detector-image.ts";
import { isNDArray } from "../../src/core/index.ts";
import { AGIPD_1M_DETECTOR, agipdQuadrantGeometry } from "../../src/detector/index.ts";
import { openRun } from "../../src/files/index.ts";
import { AGIPD, CELLS, FRAME, tempDir, useTempCache, writeSampleRun } from "../files/helpers.ts";

describe("offline analysis reads one frame per module and train", () => {
  useTempCache();

  test("the image of frame 0, 5 and the last equals the one from the whole train; past it: BAD_OPTION", async () => {
    const tmp = tempDir();
    try {
      await writeSampleRun(tmp.dir, 4); // module 0 only; train 10002 without it
      const run = await openRun(tmp.dir);
      const geometry = agipdQuadrantGeometry(AGIPD_1M_DETECTOR);
      const [nss, nfs] = geometry.layout.moduleShape;
      const pixels = nss * nfs;
      for (const frame of [0, 5, CELLS - 1]) {
        const seen: number[] = [];
        for await (const t of runTrains(run, { frame })) {
          seen.push(t.trainId);
          const stack = new Float32Array(geometry.layout.nModules * pixels).fill(Number.NaN);
          const whole = run.keyData(AGIPD, "image.data").trainData(t.trainId);
          if (isNDArray(whole) && whole.shape[0] !== 0)
            copyModuleFrame(whole, frame, stack.subarray(0, pixels));
          const expected = assembleImage(geometry, stack);
          assert.equal(t.image.data.length, expected.data.length);
          assert.deepEqual(
            new Uint8Array(t.image.data.buffer),
            new Uint8Array(expected.data.buffer),
            `frame ${frame} train ${t.trainId}`,
          );
          if (t.trainId !== 10002)
            assert.ok(
              t.image.data.some((v) => !Number.isNaN(v)),
              "module 0 is drawn",
            );
        }
        assert.deepEqual(seen, run.trainIds);
      }
      await assert.rejects(async () => {
        for await (const _ of runTrains(run, { frame: CELLS })) break;
      }, /frame 64 asked for, the module has 64/);
      // The reader's part: a train's entries left in the file, read in part.
      const kd = run.keyData(AGIPD, "image.data");
      assert.equal(kd.entriesInFile(10002), null, "no data for that train");
      const there = kd.entriesInFile(10003);
      const whole = kd.trainData(10003);
      assert.ok(there && isNDArray(whole));
      assert.deepEqual(there.shape, [CELLS, ...FRAME]);
      const frame = FRAME[0] * FRAME[1] * FRAME[2];
      const two = new Uint16Array(2 * frame);
      assert.equal(there.read(5 * frame * 2, new Uint8Array(two.buffer)), true);
      assert.deepEqual(two, whole.data.subarray(5 * frame, 7 * frame));
      assert.throws(
        () => there.read((CELLS - 1) * frame * 2, new Uint8Array(two.buffer)),
        /past the entries/,
      );
      assert.throws(() => kd.entriesInFile(1), /train 1 not in this data/);
      run.close();
    } finally {
      tmp.cleanup();
    }
  });
});
