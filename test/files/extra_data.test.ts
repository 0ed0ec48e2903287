// EXtra-data itself opens a run written by sase, validates it clean and reports the same manifest as
// the sase reader. EXtra-data is not a Debian package, so this runs only where it can be imported
// (PYTHONPATH pointing at an EXtra-data checkout, or installed); otherwise it is skipped.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { openRun, type RunManifest, runManifest } from "../../src/files/index.ts";
import { jsonDiffs, repoRoot, tempDir, writeSampleRun } from "./helpers.ts";

const script = join(repoRoot, "test/files/extra_data_manifest.py");
const available = spawnSync("/usr/bin/python3", ["-c", "import extra_data"]).status === 0;

test("EXtra-data reads and validates a sase run", {
  skip: available ? false : "EXtra-data not importable",
}, async () => {
  const t = tempDir();
  try {
    await writeSampleRun(t.dir, 5);
    const r = spawnSync("/usr/bin/python3", [script, t.dir], { maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr.toString());
    const theirs = JSON.parse(r.stdout.toString()) as { manifest: RunManifest; problems: string[] };
    assert.deepEqual(theirs.problems, []);
    const run = await openRun(t.dir);
    const ours = runManifest(run);
    run.close();
    assert.deepEqual(jsonDiffs(ours, theirs.manifest), []);
  } finally {
    t.cleanup();
  }
});
