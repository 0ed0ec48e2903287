// Waits for a spawned child process (a `sase server`, `sase start`, ...) to say it is ready on stdout.
// When it exits first, or stays silent past the deadline, the error carries the tail of what it printed
// on both streams: a red CI run then says why the process failed, not only its exit code.
import type { ChildProcess } from "node:child_process";

/** How much of each stream a failure message quotes (its end: where the reason is). */
const TAIL = 4000;

/** What a child printed so far, read from its pipes for as long as it runs. */
export interface ChildOutput {
  stdout(): string;
  stderr(): string;
}

/**
 * Resolves once `ready(stdout so far)` holds. Rejects, naming `what`, once the child has exited and its
 * streams are read to the end, or after `timeoutMs` (then the child is killed). stdout and stderr must
 * be pipes; both are read from here on for the child's whole life (a full pipe would block it), and
 * what it printed stays available through the result.
 */
export function waitForReady(
  child: ChildProcess,
  what: string,
  ready: (stdout: string) => boolean,
  timeoutMs = 120_000,
): Promise<ChildOutput> {
  let out = "";
  let err = "";
  const output: ChildOutput = { stdout: () => out, stderr: () => err };
  const tail = () => `\n--- stdout (end) ---\n${out.slice(-TAIL)}\n--- stderr (end) ---\n${err.slice(-TAIL)}`;
  return new Promise<ChildOutput>((resolve, reject) => {
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(output);
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(new Error(`${what} not ready within ${timeoutMs} ms${tail()}`));
    }, timeoutMs);
    child.stderr?.on("data", (d: Buffer) => {
      err += d;
    });
    child.stdout?.on("data", (d: Buffer) => {
      out += d;
      if (!done && ready(out)) finish();
    });
    // "close", not "exit": at "exit" the pipes may still hold the child's last words (its error).
    child.once("close", (code, signal) =>
      finish(new Error(`${what} exited (code ${code}, signal ${signal}) before it was ready${tail()}`)),
    );
  });
}
