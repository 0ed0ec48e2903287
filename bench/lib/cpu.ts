// CPU time of the calling thread alone. process.cpuUsage() adds every thread of the process, V8's own
// included (WebAssembly tier-up, GC), which in a short bench can be as much as the code measured.

import { readFileSync } from "node:fs";

/** Seconds per clock tick of /proc's stat files (USER_HZ, 100 on Linux). */
const TICK = 0.01;

/** User and system CPU seconds of the calling thread so far (10 ms resolution); null off Linux. */
export function threadCpu(): { user: number; system: number } | null {
  try {
    const stat = readFileSync("/proc/thread-self/stat", "utf8");
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis):
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after "state".
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(f[11]) * TICK, system: Number(f[12]) * TICK };
  } catch {
    return null;
  }
}
