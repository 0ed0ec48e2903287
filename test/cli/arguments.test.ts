// Bad arguments as users type them: each is refused in one line that names the option, the value and
// what is allowed, with exit code 2 and no stack trace; runtime failures are one line with exit code 1.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { sase, tempDir } from "./helpers.ts";

const tmp = tempDir();
after(() => tmp.cleanup());

/** Asserts `sase ARGS` prints exactly `message` (one line on stderr) and exits with `code`. */
async function refuses(args: string[], code: number, message: string): Promise<void> {
  const r = await sase(args);
  assert.equal(r.stderr, `${message}\n`, `sase ${args.join(" ")}`);
  assert.equal(r.code, code, `sase ${args.join(" ")}: exit code`);
  assert.equal(r.stdout, "");
}

describe("sase detector simulate arguments", () => {
  const out = join(tmp.dir, "never");
  const simulate = (...more: string[]) => ["detector", "simulate", out, "--run", "1", ...more];

  test("--trains, --modules and --rows out of range name the option, the value and what is allowed", async () => {
    await Promise.all([
      refuses(
        simulate("--trains", "-5"),
        2,
        "sase: option '--trains <n>' argument '-5' is invalid. expected an integer ≥ 1",
      ),
      refuses(
        simulate("--trains", "0"),
        2,
        "sase: option '--trains <n>' argument '0' is invalid. expected an integer ≥ 1",
      ),
      refuses(
        simulate("--trains", "ten"),
        2,
        "sase: option '--trains <n>' argument 'ten' is invalid. expected an integer ≥ 1",
      ),
      refuses(
        simulate("--modules", "99"),
        2,
        "sase: option '--modules <n>' argument '99' is invalid. expected an integer from 1 to 16 (AGIPD1M has 16 modules)",
      ),
      refuses(
        simulate("--rows", "0"),
        2,
        "sase: option '--rows <n>' argument '0' is invalid. expected an integer ≥ 1",
      ),
    ]);
    assert.deepEqual(readdirSync(tmp.dir), [], "nothing written");
  });

  test("--run is required, and its help says so", async () => {
    await refuses(["detector", "simulate", out], 2, "sase: required option '--run <n>' not specified");
    const help = await sase(["detector", "simulate", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^ {2}--run <n> +run number \(required\)$/m);
  });

  test("an existing run is not overwritten without --force, and --force leaves no file of the old run", async () => {
    const dir = join(tmp.dir, "r0001");
    const small = ["--modules", "1", "--cells", "2", "--rows", "2", "--trains", "2"];
    const first = await sase(["detector", "simulate", dir, "--run", "1", ...small, "--trains-per-file", "1"]);
    assert.equal(first.code, 0, first.stderr);
    const before = readdirSync(dir);
    await refuses(
      ["detector", "simulate", dir, "--run", "2", ...small],
      1,
      `sase: TARGET_EXISTS: ${dir} already holds files (${before.length} entries: ${before.slice(0, 3).join(", ")}, …); give --force to replace it`,
    );
    assert.deepEqual(readdirSync(dir), before, "the old run is untouched");
    const forced = await sase(["detector", "simulate", dir, "--run", "2", ...small, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(
      readdirSync(dir).every((f) => !f.includes("R0001")),
      "no file of run 1 remains",
    );
  });
});

describe("sase validate / ls paths", () => {
  test("validate on a directory without .h5 files fails with exit code 1", async () => {
    const empty = join(tmp.dir, "empty");
    mkdirSync(empty);
    writeFileSync(join(empty, "notes.txt"), "no data here\n");
    const r = await sase(["validate", empty]);
    assert.equal(r.stdout, `${empty}: no HDF5 files (*.h5) in run directory\n1 problem(s)\n`);
    assert.equal(r.code, 1);
  });

  test("a path that does not exist is a usage error naming it", async () => {
    await refuses(
      ["ls", "/no/such/run"],
      2,
      "sase: command-argument value '/no/such/run' is invalid for argument 'path'. no such file or directory; expected an existing path",
    );
  });

  test("an unknown command or option is one line with exit code 2", async () => {
    await Promise.all([
      refuses(["lss"], 2, "sase: unknown command 'lss' (Did you mean ls?)"),
      refuses(["ls", "--bogus", "x"], 2, "sase: unknown option '--bogus'"),
    ]);
  });
});

describe("calibrate and bridge arguments", () => {
  test("calibrate correct --workers 0, a missing --store and bridge --port 70000 are usage errors", async () => {
    const store = join(tmp.dir, "store");
    mkdirSync(store, { recursive: true });
    await Promise.all([
      refuses(
        ["calibrate", "correct", tmp.dir, join(tmp.dir, "out"), "--store", store, "--workers", "0"],
        2,
        "sase: option '--workers <n>' argument '0' is invalid. expected an integer from 1 to 1024",
      ),
      refuses(
        ["calibrate", "correct", tmp.dir, join(tmp.dir, "out"), "--store", join(tmp.dir, "stor")],
        2,
        `sase: option '--store <dir>' argument '${join(tmp.dir, "stor")}' is invalid. no such directory; expected an existing directory`,
      ),
      refuses(
        ["bridge", "serve", tmp.dir, "--port", "70000"],
        2,
        "sase: option '-p, --port <port>' argument '70000' is invalid. expected a port from 1 to 65535, or 0 for any free port",
      ),
    ]);
  });

  test("calibrate dark makes no constants store unless --create", async () => {
    const missing = join(tmp.dir, "typo-store");
    await refuses(
      ["calibrate", "dark", tmp.dir, tmp.dir, tmp.dir, "--store", missing],
      1,
      `sase: NO_STORE: constants store ${missing} does not exist; give --create to make a new one`,
    );
    assert.equal(existsSync(missing), false);
  });

  test("bridge sim --cells 0 fails before binding its port; --rate shows the rate it runs at", async () => {
    // The port is taken: had sase bound it first, the failure would be about the port.
    const taken = createServer();
    await new Promise<void>((ok) => taken.listen(0, "127.0.0.1", ok));
    const { port } = taken.address() as AddressInfo;
    try {
      await refuses(
        ["bridge", "sim", "--cells", "0", "--port", String(port), "--host", "127.0.0.1"],
        2,
        "sase: option '--cells <n>' argument '0' is invalid. expected an integer ≥ 1",
      );
    } finally {
      taken.close();
    }
    const help = await sase(["bridge", "sim", "--help"]);
    assert.match(help.stdout, /^ {2}--rate <hz> +trains made per second \(default: 10\)$/m);
    const serveHelp = await sase(["bridge", "serve", "--help"]);
    assert.match(
      serveHelp.stdout,
      /--rate <hz> +trains per second at most \(0: as fast as clients take\s+them\) \(default: 0\)/,
    );
  });
});

describe("calibrate dark checks its runs", () => {
  test("a run with beam, or a dark of another gain stage, is refused saying what was expected", async () => {
    const small = ["--run", "1", "--trains", "2", "--modules", "1", "--cells", "2", "--rows", "8"];
    const dir = (name: string) => join(tmp.dir, "darks", name);
    const made = await Promise.all([
      ...["high", "medium", "low"].map((stage) =>
        sase(["detector", "simulate", dir(stage), ...small, "--dark", stage]),
      ),
      sase(["detector", "simulate", dir("beam"), ...small]),
    ]);
    for (const r of made) assert.equal(r.code, 0, r.stderr);
    const dark = (...runs: string[]) => [
      "calibrate",
      "dark",
      ...runs.map(dir),
      "--store",
      join(tmp.dir, "darks", "store"),
      "--create",
      "--rows",
      "8",
      "--workers",
      "1",
    ];
    await Promise.all([
      refuses(
        dark("beam", "medium", "low"),
        1,
        `sase: BAD_RAW_DATA: ${dir("beam")}: pixels are in high 80.9%, medium 9.7%, low 9.4% gain (adaptive gain mode); a high-gain dark has them all in high gain, without beam`,
      ),
      refuses(
        dark("high", "low", "low"),
        1,
        `sase: BAD_RAW_DATA: ${dir("low")}: pixels are in high 0.1%, medium 0.0%, low 99.9% gain (adaptive gain mode); a medium-gain dark has them all in medium gain, without beam`,
      ),
    ]);
    assert.equal(existsSync(join(tmp.dir, "darks", "store")), false, "no store made for refused runs");
  });
});
