// A bench child's stdout, line by line: the first line it prints (its port or address, or its result)
// and the lines after it (its own figures at its end).

import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * `first`: the child's first line; rejects, naming `what`, if its output ends before one. `rest`: every
 * later line, once its output has closed (on 'close', not 'exit': after 'exit' the last lines may still
 * be unread).
 */
export function childLines(
  child: ChildProcess,
  what: string,
): { first: Promise<string>; rest: Promise<string[]> } {
  const later: string[] = [];
  let seen = false;
  const closed = new Promise<number | null>((resolve) => child.once("close", resolve));
  const first = new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on("line", (line) => {
      if (seen) later.push(line.trim());
      else resolve(line.trim());
      seen = true;
    });
    void closed.then((code) => {
      if (!seen) reject(new Error(`${what} exited (${code}) before printing`));
    });
  });
  return { first, rest: closed.then(() => later) };
}
