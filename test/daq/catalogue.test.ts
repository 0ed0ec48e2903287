import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { Catalogue, CatalogueError } from "../../src/daq/index.ts";
import { fakeRun, saseInProcess, tempRoots } from "./helpers.ts";

test("run numbers count up per proposal and the schema is versioned", () => {
  const roots = tempRoots();
  try {
    const cat = Catalogue.open(roots.catalogue);
    assert.equal(cat.schemaVersion, 2);
    const a = cat.openRun({ proposal: 900001, onlinePath: "/x/1", runType: "dark", sample: "none" });
    const b = cat.openRun({ proposal: 900001, onlinePath: "/x/2" });
    const c = cat.openRun({ proposal: 900002, onlinePath: "/y/1" });
    assert.deepEqual([a.number, b.number, c.number], [1, 2, 1]);
    assert.equal(a.runType, "dark");
    assert.throws(() => cat.openRun({ proposal: 900001, number: 2, onlinePath: "/x" }), /already exists/);
    cat.close();
    // Reopening applies no migration twice and keeps the data.
    const again = Catalogue.open(roots.catalogue);
    assert.equal(again.schemaVersion, 2);
    assert.equal(again.runs(900001).length, 2);
    assert.deepEqual(
      again.proposals().map((p) => [p.number, p.runs]),
      [
        [900001, 2],
        [900002, 1],
      ],
    );
    again.close();
  } finally {
    roots.done();
  }
});

test("a catalogue of an older schema is migrated forward on open, keeping its runs", () => {
  const roots = tempRoots();
  try {
    const cat = Catalogue.open(roots.catalogue);
    cat.openRun({ proposal: 900001, onlinePath: "/x/1" });
    // Make it a version-1 file: the jobs table without output_dir.
    cat.db.exec("ALTER TABLE jobs DROP COLUMN output_dir; DELETE FROM schema_migrations WHERE version = 2");
    cat.close();
    const old = Catalogue.open(roots.catalogue);
    assert.equal(old.schemaVersion, 2);
    const cols = old.db.prepare("PRAGMA table_info(jobs)").all() as { name: string }[];
    assert.ok(cols.some((c) => c.name === "output_dir"));
    assert.equal(old.runs().length, 1);
    old.close();
  } finally {
    roots.done();
  }
});

test("flags are checked, and a run number shared by proposals must be disambiguated", () => {
  const roots = tempRoots();
  try {
    const cat = Catalogue.open(roots.catalogue);
    fakeRun(cat, roots, 900001, { "a.h5": 10 });
    fakeRun(cat, roots, 900002, { "a.h5": 10 });
    assert.throws(() => cat.resolveRun(1), /exists in proposals 900001, 900002/);
    const r = cat.flagRun(cat.resolveRun(1, 900002).id, "unclear", "beam unstable");
    assert.equal(r.quality, "unclear");
    assert.equal(cat.flagRun(r.id, "good").comment, "beam unstable");
    assert.throws(() => cat.flagRun(r.id, "great" as "good"), CatalogueError);
    assert.throws(() => cat.resolveRun(7), /no proposal has a run 7/);
    cat.close();
  } finally {
    roots.done();
  }
});

test("sase runs / run flag / run show work on the catalogue", async () => {
  const roots = tempRoots();
  try {
    const cat = Catalogue.open(roots.catalogue);
    fakeRun(cat, roots, 900005, { "RAW-R0001-DA01-S00000.h5": 100 });
    cat.close();
    const sase = async (...args: string[]) => {
      const r = await saseInProcess(...args, "--data-dir", roots.dataDir);
      assert.equal(r.code, 0, r.err);
      return r.out;
    };
    assert.match(
      await sase("run", "flag", "1", "bad", "--comment", "no beam"),
      /900005 run 1: bad \(no beam\)/,
    );
    assert.match(await sase("runs"), /900005\s+1 .* bad\s+none\s+none\s+no beam/);
    assert.match(await sase("run", "show", "1"), /sources \(1\): SA1\/XGM\/DOOCS/);
    const missing = await saseInProcess("run", "show", "2", "--data-dir", roots.dataDir);
    assert.equal(missing.code, 1);
    // A catalogue failure reaches the user with its code, the sase way.
    assert.match(missing.err, /^sase: CATALOGUE: no proposal has a run 2$/m);
    // One real start of the sase command, as a user types it.
    const listed = JSON.parse(
      execFileSync(
        process.execPath,
        ["bin/sase.js", "runs", "--proposal", "900005", "--json", "--data-dir", roots.dataDir],
        {
          encoding: "utf8",
        },
      ),
    );
    assert.equal(listed.length, 1);
    assert.equal(listed[0].quality, "bad");
    assert.equal(listed[0].trains, 10);
  } finally {
    roots.done();
  }
});
