// A pulse-capacitor scan as a detector expert runs it from the shell: darks first, then the scan,
// `sase calibrate pc` stores RelativeGain and BadPixelsPC beside the darks; a run that is not a scan
// and a store that does not exist are refused in one line each.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { sase, tempDir } from "./helpers.ts";

const tmp = tempDir("sase-pc-");
after(() => tmp.cleanup());
const at = (name: string) => join(tmp.dir, name);
const small = ["--modules", "1", "--rows", "8", "--cells", "2"];

async function ok(args: string[]): Promise<string> {
  const r = await sase(args);
  assert.equal(r.code, 0, `sase ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

test("sase calibrate pc characterises a simulated scan into the constants store", async () => {
  const stages = ["high", "medium", "low"];
  await Promise.all(
    stages.map((g, i) =>
      ok([
        "detector",
        "simulate",
        at(`dark-${g}`),
        "--run",
        `${i + 1}`,
        "--dark",
        g,
        "--trains",
        "5",
        ...small,
      ]),
    ),
  );
  const store = at("store");
  const darks = ["--store", store, "--create", "--rows", "8", "--workers", "1"];
  await ok(["calibrate", "dark", ...stages.map((g) => at(`dark-${g}`)), ...darks]);
  await ok(["detector", "simulate", at("scan"), "--run", "4", "--pc-scan", "--trains", "18", ...small]);

  const out = await ok(["calibrate", "pc", at("scan"), "--store", store, "--rows", "8"]);
  assert.match(out, /^module 0: stored constants \d+, \d+$/m);
  const kinds = readdirSync(join(store, "SPB_DET_AGIPD1M-1", "AGIPD00")).map((f) => f.split("-")[0]);
  assert.ok(kinds.includes("RelativeGain") && kinds.includes("BadPixelsPC"), kinds.join(" "));

  const dark = await sase(["calibrate", "pc", at("dark-high"), "--store", store, "--rows", "8"]);
  assert.equal(dark.code, 1);
  assert.match(dark.stderr, /^sase: BAD_RAW_DATA: pulse-capacitor scan: .*is this a scan run\?\n$/);

  const missing = await sase(["calibrate", "pc", at("scan"), "--store", at("nostore"), "--rows", "8"]);
  assert.equal(missing.code, 2);
  assert.equal(
    missing.stderr,
    `sase: option '--store <dir>' argument '${at("nostore")}' is invalid. no such directory; expected an existing directory\n`,
  );
});
