// The one rule for how sase reports failures:
// - usage errors (a bad argument, an unknown option or command): one line, exit code 2;
// - runtime failures: one line `sase: CODE: message` (the SaseError's code; a Node system error's own
//   code such as ENOENT), exit code 1;
// - a stack trace only with --debug or SASE_DEBUG=1.
import { type Command, CommanderError } from "commander";
// core/errors.ts, not core/index.ts: the CLI starts fast by loading only what a command needs.
import { SaseError } from "../core/errors.ts";

/** A runtime failure of a command, with a code that names its kind (e.g. TARGET_EXISTS). */
export class CliError extends SaseError {
  override readonly name = "CliError";
}

/** Exit code of a usage error (bad arguments), as with most Unix tools. */
export const EXIT_USAGE = 2;
/** Exit code of a runtime failure. */
export const EXIT_FAILURE = 1;

/** Whether failures print their stack trace: --debug on the command line or SASE_DEBUG=1. */
export function debugWanted(argv: readonly string[] = process.argv, env = process.env): boolean {
  return (
    argv.includes("--debug") ||
    (env.SASE_DEBUG !== undefined && env.SASE_DEBUG !== "" && env.SASE_DEBUG !== "0")
  );
}

/** One line for a failure: its code (unless the message starts with it) and its message. */
export function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err).replace(/\s*\n\s*/g, "; ");
  // Every sase error has a code; other libraries' errors may have one of their own (ENOENT, ...).
  const code = err instanceof SaseError ? err.code : (err as { code?: unknown }).code;
  const message = err.message.trim().replace(/\s*\n\s*/g, "; ");
  const prefix = typeof code === "string" && code !== "" && !message.startsWith(code) ? `${code}: ` : "";
  return `${prefix}${message}`;
}

/** Writes a runtime failure the sase way (one line; the stack too when debugging). */
export function reportFailure(
  err: unknown,
  write: (text: string) => void = (t) => process.stderr.write(t),
  debug = debugWanted(),
): void {
  write(`sase: ${describeFailure(err)}\n`);
  if (debug && err instanceof Error && err.stack) write(`${err.stack}\n`);
}

/**
 * Makes `program` (and every command under it) throw its usage errors instead of exiting, and print
 * them as `sase: ...` on one line without the help text after them.
 */
export function configureErrors(program: Command): Command {
  const apply = (cmd: Command) => {
    cmd.exitOverride();
    cmd.showHelpAfterError(false);
    cmd.configureOutput({
      // One line: commander puts its "(Did you mean ...?)" hint on a line of its own.
      outputError: (text, write) =>
        write(
          `${text
            .trimEnd()
            .replace(/^error: /, "sase: ")
            .replace(/\n/g, " ")}\n`,
        ),
    });
    for (const sub of cmd.commands) apply(sub);
  };
  apply(program);
  return program;
}

/** The exit code for an error thrown out of `program.parseAsync`. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
  return EXIT_FAILURE;
}

/** Parses and runs `argv` with the rule above; returns the exit code (usage errors are already printed). */
export async function runCommandLine(program: Command, argv: readonly string[]): Promise<number> {
  configureErrors(program);
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (!(err instanceof CommanderError)) reportFailure(err);
    return exitCodeOf(err);
  }
}

/** Reports a runtime failure caught inside a command and sets exit code 1. */
export function failCommand(err: unknown): void {
  reportFailure(err);
  process.exitCode = EXIT_FAILURE;
}
