// Runs sase commands in this process (a real CLI start costs seconds per call on a loaded machine),
// through the CLI's own error rule (src/cli/errors.ts), capturing everything the command prints.
import type { Command } from "commander";

/** What a command printed, and its exit code. */
export interface CliRun {
  out: string;
  err: string;
  code: number;
}

/**
 * `sase ARGS` with the commands that `register` adds to a fresh program: console output, writes to
 * stdout/stderr (failures are reported with process.stderr.write) and commander's messages are captured.
 */
export async function runCliInProcess(
  register: (program: Command) => void,
  args: readonly string[],
): Promise<CliRun> {
  const { Command } = await import("commander");
  const { runCommandLine } = await import("../../src/cli/errors.ts");
  const program = new Command("sase");
  register(program);
  let out = "";
  let err = "";
  const text = (chunk: string | Uint8Array) =>
    typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
  const saved = {
    log: console.log,
    error: console.error,
    stdout: process.stdout.write,
    stderr: process.stderr.write,
    exitCode: process.exitCode,
  };
  console.log = (...a: unknown[]) => {
    out += `${a.join(" ")}\n`;
  };
  console.error = (...a: unknown[]) => {
    err += `${a.join(" ")}\n`;
  };
  // Only text is the command's output: node's test runner sends its reports from this process to the
  // parent as binary frames on the same stdout, and a test's report swallowed here never reaches the
  // summary (five tests went missing from a full run that way, passed or not).
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== "string")
      return (saved.stdout as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err += text(chunk);
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = 0;
  try {
    const code = await runCommandLine(program, ["node", "sase", ...args]);
    return { out, err, code };
  } finally {
    console.log = saved.log;
    console.error = saved.error;
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    process.exitCode = saved.exitCode;
  }
}
