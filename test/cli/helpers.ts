// Runs the real `sase` command in a child process, as a user does, and captures what it prints.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const repoRoot = resolve(import.meta.dirname, "..", "..");
export const fixturesDir = resolve(repoRoot, "..", "shared", "fixtures", "exdf");
export const saseBin = join(repoRoot, "bin", "sase.js");

/** What one `sase` run left: its exit code and output. */
export interface SaseResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `sase ARGS` in a child process (environment additions in `env`). */
export function sase(args: readonly string[], env: Record<string, string> = {}): Promise<SaseResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [saseBin, ...args],
      { cwd: repoRoot, env: { ...process.env, SASE_PROGRESS: "0", ...env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** A fresh temporary directory, removed by `cleanup`. */
export function tempDir(prefix = "sase-cli-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
