// The GUI from the command line: `sase start` serves it and prints its URL; `sase gui add-user` writes a
// users file that the GUI then accepts.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadUsersFile } from "../../src/gui/index.ts";
import { verifyPassword } from "../../src/gui/server/auth.ts";
import { waitForReady } from "../helpers/child.ts";

const dir = mkdtempSync(join(tmpdir(), "sase-gui-cli-"));
const env = {
  ...process.env,
  SASE_HOME: dir,
  SASE_DATA_DIR: join(dir, "data"),
  SASE_LOG_LEVEL: "warn",
  SASE_SIM_MODULES: "2",
  SASE_SIM_CELLS: "1",
};

test("sase gui add-user stores a hashed password and refuses an unknown role", () => {
  const file = join(dir, "users.json");
  const ok = spawnSync(
    process.execPath,
    ["bin/sase.js", "gui", "add-user", file, "ana", "--role", "expert"],
    {
      input: "s3cret\n",
      env,
      encoding: "utf8",
    },
  );
  assert.equal(ok.status, 0, ok.stderr);
  const users = loadUsersFile(file);
  assert.equal(users[0]?.name, "ana");
  assert.equal(users[0]?.role, "expert");
  assert.ok(verifyPassword("s3cret", users[0]!.hash));
  assert.doesNotMatch(readFileSync(file, "utf8"), /s3cret/);
  const bad = spawnSync(
    process.execPath,
    ["bin/sase.js", "gui", "add-user", file, "bob", "--role", "admin", "--password", "x"],
    { env, encoding: "utf8" },
  );
  assert.notEqual(bad.status, 0);
  assert.match(
    bad.stderr,
    /--role <role>. argument .admin. is invalid\. Allowed choices are observer, operator, expert\./,
  );
});

test("sase start prints the GUI's URL and serves the page with the users file's logins", async () => {
  const users = join(dir, "users.json");
  const child = spawn(process.execPath, ["bin/sase.js", "start"], {
    env: { ...env, SASE_GUI_PORT: "0", SASE_GUI_USERS: users },
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    const gui = /GUI: (http:\/\/\S+)/;
    const output = await waitForReady(child, "sase start", (out) => gui.test(out), 60_000);
    const url = gui.exec(output.stdout())![1]!;
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>sase/);
    const login = (password: string) =>
      fetch(`${url}api/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "ana", password }),
      });
    assert.equal((await login("s3cret")).status, 200);
    assert.equal((await login("operator")).status, 401);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGINT");
      await new Promise((r) => child.once("exit", r));
    }
  }
});
