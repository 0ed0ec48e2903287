import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Catalogue, migratePending, migrateRun, sha256File } from "../../src/daq/index.ts";
import { fakeRun, tempRoots } from "./helpers.ts";

const FILES = {
  "RAW-R0001-DA01-S00000.h5": 3_000_000,
  "RAW-R0001-AGIPD00-S00000.h5": 1000,
  "RAW-R0001-AGIPD01-S00000.h5": 0,
};

test("a good run is copied, every file verified by SHA-256, then marked migrated", async () => {
  const roots = tempRoots();
  try {
    const cat = Catalogue.open(roots.catalogue);
    const run = cat.flagRun(fakeRun(cat, roots, 900001, FILES).id, "good");
    const [res] = await migratePending(cat, { offlineRoot: roots.offline });
    assert.equal(res!.status, "migrated");
    const after = cat.runById(run.id);
    assert.equal(after.migration, "migrated");
    for (const f of cat.runFiles(run.id)) {
      assert.equal(f.state, "verified");
      const expected = await sha256File(join(run.onlinePath, f.path));
      assert.equal(f.sourceSha256, expected);
      assert.equal(f.copySha256, expected);
      assert.deepEqual(
        readFileSync(join(after.offlinePath!, f.path)),
        readFileSync(join(run.onlinePath, f.path)),
      );
    }
    // Nothing left to do the second time.
    assert.deepEqual(await migratePending(cat, { offlineRoot: roots.offline }), []);
    cat.close();
  } finally {
    roots.done();
  }
});

test("bad and unflagged runs are not migrated", async () => {
  const roots = tempRoots();
  try {
    const cat = Catalogue.open(roots.catalogue);
    const bad = cat.flagRun(fakeRun(cat, roots, 900001, FILES).id, "bad");
    const unflagged = fakeRun(cat, roots, 900001, FILES);
    assert.deepEqual(await migratePending(cat, { offlineRoot: roots.offline }), []);
    await assert.rejects(
      migrateRun(cat, bad, { offlineRoot: roots.offline }),
      /flagged bad: bad runs are not migrated/,
    );
    await assert.rejects(migrateRun(cat, unflagged, { offlineRoot: roots.offline }), /no quality flag/);
    assert.equal(cat.runById(bad.id).migration, "none");
    assert.equal(existsSync(join(roots.offline, "p900001")), false);
    cat.close();
  } finally {
    roots.done();
  }
});

test("an interrupted migration resumes per file; a corrupted offline copy is refused", async () => {
  const roots = tempRoots();
  try {
    const cat = Catalogue.open(roots.catalogue);
    const run = cat.flagRun(fakeRun(cat, roots, 900001, FILES).id, "unclear");
    // Interrupt after the first file is copied.
    const stop = new AbortController();
    const first = await migrateRun(cat, run, {
      offlineRoot: roots.offline,
      signal: stop.signal,
      onProgress: (e) => e.type === "file-copied" && stop.abort(),
    });
    assert.equal(first.status, "interrupted");
    assert.deepEqual(
      cat.runFiles(run.id).map((f) => f.state),
      ["copied", "pending", "pending"],
    );
    assert.equal(cat.runById(run.id).migration, "migrating");
    // Corrupt the copied file on the offline side (one flipped byte), then resume: the worker picks
    // the interrupted run up, copies only the rest, and refuses the run on verification.
    const copied = cat.runFiles(run.id)[0]!;
    const target = join(roots.offline, "p900001", "raw", "r0001", copied.path);
    const bytes = readFileSync(target);
    bytes[500] = bytes[500]! ^ 0xff;
    writeFileSync(target, bytes);
    const copiedNow: string[] = [];
    const [second] = await migratePending(cat, {
      offlineRoot: roots.offline,
      onProgress: (e) => e.type === "file-copied" && copiedNow.push(e.path),
    });
    assert.equal(copiedNow.includes(copied.path), false, "resume does not copy a finished file again");
    assert.equal(second!.status, "failed");
    assert.match(second!.error!, new RegExp(`checksum mismatch in ${copied.path}`));
    const refused = cat.runById(run.id);
    assert.equal(refused.migration, "failed");
    assert.equal(cat.runFiles(run.id).find((f) => f.path === copied.path)!.state, "corrupt");
    // A failed run is not retried behind the operator's back, but an explicit retry re-copies it.
    assert.deepEqual(await migratePending(cat, { offlineRoot: roots.offline }), []);
    const retry = await migrateRun(cat, refused, { offlineRoot: roots.offline });
    assert.equal(retry.status, "migrated");
    assert.ok(cat.runFiles(run.id).every((f) => f.state === "verified"));
    cat.close();
  } finally {
    roots.done();
  }
});
