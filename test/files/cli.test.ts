// sase ls / sase validate as a user runs them: real processes on the reference runs and a broken run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Catalogue, migrateRun, rawRunDir } from "../../src/daq/index.ts";
import { RUN_INDEX_NAME, type RunManifest } from "../../src/files/index.ts";
import { tempRoots } from "../daq/helpers.ts";
import { fixturesDir, jsonDiffs, repoRoot, tempDir, writeSampleRun, XGM } from "./helpers.ts";

const cache = tempDir("sase-cache-");

function sase(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, "bin/sase.js"), ...args], {
    cwd: repoRoot,
    env: { ...process.env, XDG_CACHE_HOME: cache.dir },
    maxBuffer: 64 << 20,
  });
  return { code: r.status, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("sase ls / validate", () => {
  test("ls --json prints the manifest EXtra-data gives", () => {
    const dir = join(fixturesDir, "jf_r0012");
    const r = sase("ls", dir, "--json");
    assert.equal(r.code, 0, r.err);
    const ours = JSON.parse(r.out) as RunManifest;
    const ref = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as RunManifest;
    assert.deepEqual(jsonDiffs({ ...ours, run_metadata: {} }, { ...ref, run_metadata: {} }), []);
    assert.equal(ours.run_metadata.runNumber, 12);
  });

  test("ls: a summary first (trains, duration, detector modules and frames), sources grouped, keys with --detail, --trains", () => {
    const r = sase("ls", join(fixturesDir, "jf_r0012"), "--detail", "*JNGFR01*");
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.includes("100 trains: 10000 … 10099\nduration 9.9 s\n"), r.out);
    assert.ok(
      r.out.includes(
        "1 detector:\n  SPB_IRDA_JF4M: 8 modules (JNGFR01 … JNGFR08), 512 × 1024 pixels, 16 frames per train, 1600 frames in total (counted on JNGFR01)\n",
      ),
      r.out,
    );
    assert.ok(r.out.includes("SPB_IRDA_JF4M modules:\n  - SPB_IRDA_JF4M/DET/JNGFR01:daqOutput (7 keys)\n"));
    assert.match(r.out, /^ {6}data\.adc +float32 +\[16, 512, 1024\] +100 entries$/m);
    assert.doesNotMatch(r.out, /JNGFR02:daqOutput \(7 keys\)\n {6}data/, "keys only for --detail's sources");
    assert.ok(r.out.includes("0 instrument sources (not detector modules):\n\n3 control sources:\n"));
    const spb = sase("ls", join(fixturesDir, "spb_r0238_v1.2"), "--trains", "-10:", "--no-keys");
    assert.equal(spb.code, 0, spb.err);
    assert.ok(spb.out.includes("10 trains: 10054 … 10063\nduration 0.9 s\n"), spb.out);
    // Natural order: 9CH0 before 10CH0.
    assert.ok(spb.out.includes("/9CH0:xtdf (20 keys)\n  - SPB_DET_AGIPD1M-1/DET/10CH0:xtdf (20 keys)\n"));
    assert.match(
      spb.out,
      /16 modules \(0CH0 … 15CH0\), 512 × 128 pixels, 64 frames per train, 640 frames in total/,
    );
    const bad = sase("ls", join(fixturesDir, "spb_r0238_v1.2"), "--trains", "5-15");
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--trains <A:B>' argument '5-15' is invalid. expected A:B/);
    // A glob or slice that selects nothing says so rather than printing the summary alone.
    const none = sase("ls", join(fixturesDir, "jf_r0012"), "--detail", "*JNGFR99*", "--trains", "50:40");
    assert.equal(none.code, 0, none.err);
    assert.match(none.out, /! --detail \*JNGFR99\*: no source matches/);
    assert.match(none.err, /--trains 50:40 selects none of the run's 100 trains/);
    const one = sase("ls", join(fixturesDir, "spb_r0238_v1.2", "RAW-R0238-DA01-S00001.h5"), "--no-keys");
    assert.equal(one.code, 0, one.err);
    assert.match(one.out, /32 trains: 10032 … 10063/);
    assert.match(one.out, /SPB_IRU_CAM\/CAM\/SIDEMIC:daqOutput/);
  });

  test("ls into a pipe whose reader has gone (`| head`) ends quietly with exit 0, no stack", () => {
    // `true` exits without reading, so every write of sase's finds the pipe closed (EPIPE).
    const dir = join(fixturesDir, "jf_r0012");
    const r = spawnSync(
      "bash",
      ["-c", `set -o pipefail; "$0" bin/sase.js ls "$1" --detail '*' | true`, process.execPath, dir],
      {
        cwd: repoRoot,
        env: { ...process.env, XDG_CACHE_HOME: cache.dir },
      },
    );
    assert.equal(r.stderr.toString(), "");
    assert.equal(r.status, 0);
  });

  test("validate: exit 0 on a sound run, 1 with each problem on a broken one, 2 on a bad path", () => {
    const ok = sase("validate", join(fixturesDir, "scs_r0163"));
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /no problems found/);
    const t = tempDir();
    try {
      const src = join(fixturesDir, "spb_r0238_v1.2");
      copyFileSync(join(src, "RAW-R0238-DA01-S00000.h5"), join(t.dir, "RAW-R0238-DA01-S00000.h5"));
      writeFileSync(join(t.dir, "RAW-R0238-DA01-S00001.h5"), "garbage");
      const bad = sase("validate", t.dir);
      assert.equal(bad.code, 1);
      assert.match(bad.out, /RAW-R0238-DA01-S00001\.h5: cannot open as HDF5/);
      assert.match(bad.out, /1 problem\(s\)/);
    } finally {
      t.cleanup();
    }
    const missing = sase("ls", "/no/such/run");
    assert.equal(missing.code, 2);
    assert.match(missing.err, /no such file or directory/);
  });
});

/** Every file of a directory with its size, mtime and SHA-256: what must not change under a reader. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const st = statSync(join(dir, name));
    const sha = createHash("sha256")
      .update(readFileSync(join(dir, name)))
      .digest("hex");
    out[name] = `${st.size} ${st.mtimeMs} ${sha}`;
  }
  return out;
}

describe("read commands never write into run directories", () => {
  after(() => cache.cleanup());

  test("sase ls and bridge-style opens of a recorded and a migrated run leave both untouched; migration stays good", async () => {
    const roots = tempRoots();
    try {
      const cat = Catalogue.open(roots.catalogue);
      const open = cat.openRun({ proposal: 900002, onlinePath: (n) => rawRunDir(roots.online, 900002, n) });
      mkdirSync(open.onlinePath, { recursive: true });
      // The writer at acquisition is the one allowed to leave the run index beside the files.
      await writeSampleRun(open.onlinePath, 3, { proposal: 900002, run: open.number });
      assert.ok(readdirSync(open.onlinePath).includes(RUN_INDEX_NAME));
      const closed = cat.closeRun(open.id, {
        firstTrain: 10000,
        lastTrain: 10002,
        trains: 3,
        sizeBytes: 1,
        sources: [XGM],
      });
      const run = cat.flagRun(closed.id, "good");
      const first = await migrateRun(cat, run, { offlineRoot: roots.offline });
      assert.equal(first.status, "migrated", first.error);
      const offline = cat.runById(run.id).offlinePath as string;
      const before = { online: snapshot(open.onlinePath), offline: snapshot(offline) };
      // The copy has new mtimes, so the writer's index is stale there: it is rebuilt, in the cache.
      for (const dir of [offline, open.onlinePath]) {
        const r = sase("ls", dir);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /3 trains: 10000 … 10002/);
      }
      chmodSync(offline, 0o555);
      try {
        assert.equal(sase("ls", offline).code, 0);
      } finally {
        chmodSync(offline, 0o755);
      }
      assert.deepEqual({ online: snapshot(open.onlinePath), offline: snapshot(offline) }, before);
      // Migrating again re-verifies every copy against the source checksums: still good.
      const again = await migrateRun(cat, cat.runById(run.id), { offlineRoot: roots.offline });
      assert.equal(again.status, "migrated", again.error);
      cat.close();
    } finally {
      roots.done();
    }
  });
});
