// Waits for a spawned child process (a `sase server`, `sase start`, ...) to say it is ready on stdout.
// When it exits first, or stays silent past the deadline, the error carries the tail of what it printed
// on both streams: a red CI run then says why the process failed, not only its exit code.
import type { ChildProcess } from "node:child_process";

/** How much of each stream a failure message quotes (its end: where the reason is). */
const TAIL = 4000;

/**
 * Resolves with everything `child` printed on stdout up to and including the moment `ready(stdout)`
 * holds. Rejects, naming `what`, once the child has exited and its streams are read to the end, or
 * after `timeoutMs` (then the child is killed). stdout and stderr must be pipes; stderr is collected
 * here, so callers must not read it themselves.
 */
export function waitForReady(
  child: ChildProcess,
  what: string,
  ready: (stdout: string) => boolean,
  timeoutMs = 120_000,
): Promise<string> {
  let out = "";
  let err = "";
  const tail = () => `\n--- stdout (end) ---\n${out.slice(-TAIL)}\n--- stderr (end) ---\n${err.slice(-TAIL)}`;
  return new Promise<string>((resolve, reject) => {
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(out);
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(new Error(`${what} not ready within ${timeoutMs} ms${tail()}`));
    }, timeoutMs);
    // Both streams stay drained after this (a full pipe would block the child), kept no longer.
    child.stderr?.on("data", (d: Buffer) => {
      if (!done) err = (err + d).slice(-2 * TAIL);
    });
    child.stdout?.on("data", (d: Buffer) => {
      if (done) return;
      out += d;
      if (ready(out)) finish();
    });
    // "close", not "exit": the streams may still hold the child's last words (its error) at "exit".
    child.once("close", (code, signal) =>
      finish(new Error(`${what} exited (code ${code}, signal ${signal}) before it was ready${tail()}`)),
    );
  });
}
