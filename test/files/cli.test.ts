// sase ls / sase validate as a user runs them: real processes on the reference runs and a broken run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { RunManifest } from "../../src/files/index.ts";
import { fixturesDir, jsonDiffs, repoRoot, tempDir } from "./helpers.ts";

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
  after(() => cache.cleanup());

  test("ls --json prints the manifest EXtra-data gives", () => {
    const dir = join(fixturesDir, "jf_r0012");
    const r = sase("ls", dir, "--json");
    assert.equal(r.code, 0, r.err);
    const ours = JSON.parse(r.out) as RunManifest;
    const ref = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as RunManifest;
    assert.deepEqual(jsonDiffs({ ...ours, run_metadata: {} }, { ...ref, run_metadata: {} }), []);
    assert.equal(ours.run_metadata.runNumber, 12);
  });

  test("ls lists trains, sources and keys with dtype and shape; works on one file", () => {
    const r = sase("ls", join(fixturesDir, "jf_r0012"));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /100 trains: 10000 … 10099/);
    assert.match(r.out, /3 control sources/);
    assert.match(r.out, /SPB_IRDA_JF4M\/DET\/JNGFR01:daqOutput \(7 keys\)/);
    assert.match(r.out, /data\.adc\s+float32\s+\[16, 512, 1024\]\s+100 entries/);
    const one = sase("ls", join(fixturesDir, "spb_r0238_v1.2", "RAW-R0238-DA01-S00001.h5"), "--no-keys");
    assert.equal(one.code, 0, one.err);
    assert.match(one.out, /32 trains: 10032 … 10063/);
    assert.match(one.out, /SPB_IRU_CAM\/CAM\/SIDEMIC:daqOutput/);
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
