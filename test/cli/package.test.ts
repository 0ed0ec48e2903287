// The package as a user installs it: `npm pack`, the tarball installed into an empty folder, and the
// installed `sase` answering --help and listing a run. Install scripts are skipped, so this also
// shows that --help and ls load none of the native modules (ZeroMQ, SQLite).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { fixturesDir, repoRoot, tempDir } from "./helpers.ts";

const exec = promisify(execFile);
const tmp = tempDir("sase-pack-");
after(() => tmp.cleanup());

test("npm pack → npm install of the tarball → sase --help and sase ls work", async () => {
  // npm test builds dist first; pack it as it is (the prepare script would rebuild it under the
  // feet of other tests running at the same time).
  if (!existsSync(join(repoRoot, "dist", "BUILT")))
    await exec(process.execPath, ["scripts/build.js"], { cwd: repoRoot });
  await exec("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", tmp.dir], {
    cwd: repoRoot,
  });
  const tarball = readdirSync(tmp.dir).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball, "npm pack wrote a tarball");
  const app = join(tmp.dir, "app");
  await exec("mkdir", [app]);
  writeFileSync(join(app, "package.json"), '{ "name": "app", "private": true }\n');
  // Dependencies come from npm's cache (filled by `npm ci`); only missing ones are fetched.
  await exec(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      "--no-package-lock",
      join(tmp.dir, tarball),
    ],
    { cwd: app, timeout: 300_000 },
  );
  const sase = join(app, "node_modules", ".bin", "sase");
  const help = await exec(sase, ["--help"], { cwd: app });
  assert.match(help.stdout, /^Usage: sase \[options\] \[command\]$/m);
  assert.match(help.stdout, /^ {2}ls \[options\] <path> +list an EXDF run directory/m);
  const run = join(fixturesDir, "jf_r0012");
  const ls = await exec(sase, ["ls", run], { cwd: app });
  assert.match(ls.stdout, new RegExp(`^${run}: 9 file\\(s\\), format 1\\.0\\n`));
  assert.match(ls.stdout, /^100 trains: 10000 … 10099$/m);
});
