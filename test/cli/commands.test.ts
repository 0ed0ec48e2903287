// The command table main.ts lists without loading any command module must say what the modules
// define; and the completion scripts cover every command, option and choice.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Command } from "commander";
import { COMMAND_GROUPS } from "../../src/cli/commands.ts";
import { bashCompletion } from "../../src/cli/completion.ts";
import { saseProgram } from "../../src/cli/program.ts";

test("the command table names each module's top-level commands with their descriptions and arguments", async () => {
  for (const group of COMMAND_GROUPS) {
    const program = new Command("sase");
    (await group.load())(program, () => saseProgram([], true));
    const defined = Object.fromEntries(
      program.commands.map((c) => [
        c.name(),
        [c.usage().replace(/^\[options\]$/, "[options]"), c.description()],
      ]),
    );
    const listed = Object.fromEntries(
      Object.entries(group.commands).map(([name, [args, description]]) => [
        name,
        [args === "" ? (defined[name]?.[0] ?? "") : args, description],
      ]),
    );
    assert.deepEqual(listed, defined);
  }
});

test("the bash completion completes commands, sub-commands, options and option choices", async () => {
  const script = bashCompletion(await saseProgram([], true));
  const dir = mkdtempSync(join(tmpdir(), "sase-completion-"));
  try {
    const file = join(dir, "sase.bash");
    writeFileSync(file, script);
    const complete = (...words: string[]) =>
      execFileSync(
        "bash",
        [
          "-c",
          `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _sase; echo "\${COMPREPLY[*]}"`,
          "complete",
          file,
          ...words,
        ],
        { encoding: "utf8" },
      ).trim();
    assert.equal(complete("sase", "det"), "detector");
    assert.equal(complete("sase", "detector", "si"), "simulate");
    assert.equal(complete("sase", "detector", "simulate", "out", "--tr"), "--trains --trains-per-file");
    assert.equal(complete("sase", "detector", "simulate", "out", "--dark", ""), "high medium low");
    assert.equal(complete("sase", "bridge", "serve", "--pro"), "--protocol");
    assert.equal(complete("sase", "calibrate", "dark", "--cr"), "--create");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
