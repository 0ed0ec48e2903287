// Replaying an EXDF run must produce what EXtra-data's own bridge server produced from the same run:
// the fixture captures files_xgm_* and files_agipd_v2.2 were served from spb_r0238_v1.2.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  bridgeTrainsFromRun,
  decodeTrain,
  encodeTrain,
  type ProtocolVersion,
} from "../../src/bridge/index.ts";
import { openRun } from "../../src/files/index.ts";
import { type ExpectedMessage, assertTrainMatches } from "./helpers.ts";

const fixtures = new URL("../../../shared/fixtures/", import.meta.url).pathname;
const runDir = join(fixtures, "exdf/spb_r0238_v1.2");

function expected(capture: string): ExpectedMessage[] {
  return (
    JSON.parse(readFileSync(join(fixtures, "bridge", capture, "index.json"), "utf8")) as {
      expected: ExpectedMessage[];
    }
  ).expected;
}

const cases: [string, ProtocolVersion, string, string][] = [
  ["files_xgm_v2.2", "2.2", "*XGM*", "*"],
  ["files_xgm_v1.0", "1.0", "*XGM*", "*"],
  ["files_agipd_v2.2", "2.2", "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf", "image.*"],
];

for (const [capture, protocol, sources, keys] of cases) {
  test(`replaying spb_r0238_v1.2 (${sources} ${keys}) in ${protocol} matches EXtra-data's ${capture}`, async () => {
    const run = await openRun(runDir);
    try {
      const want = expected(capture);
      let i = 0;
      for await (const train of bridgeTrainsFromRun(run.select(sources, keys))) {
        // Through the wire format and back, as a client would see it.
        assertTrainMatches(
          decodeTrain(encodeTrain(train, protocol)),
          want[i] as ExpectedMessage,
          `${capture} train ${i}`,
        );
        if (++i === want.length) break;
      }
      assert.equal(i, want.length);
    } finally {
      run.close();
    }
  });
}

test("looping starts over after the last train; dummy timestamps fill the metadata", async () => {
  const run = await openRun(runDir);
  try {
    const sel = run.select("SA1_XTD2_XGM/DOOCS/MAIN", "pulseEnergy.*").selectTrains({ indexRange: [0, 3] });
    const ids: unknown[] = [];
    for await (const train of bridgeTrainsFromRun(sel, { loop: true, dummyTimestamps: true })) {
      const meta = train.metadata["SA1_XTD2_XGM/DOOCS/MAIN"];
      ids.push(meta?.["timestamp.tid"]);
      assert.match(meta?.["timestamp.frac"] ?? "", /^\d{18}$/);
      assert.ok(Math.abs((meta?.timestamp ?? 0) - Date.now() / 1000) < 60);
      if (ids.length === 7) break;
    }
    assert.deepEqual(ids, [10000, 10001, 10002, 10000, 10001, 10002, 10000]);
  } finally {
    run.close();
  }
});
