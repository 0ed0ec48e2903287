// CLI start-up benchmark: wall time and peak memory of `sase --version`, `sase --help` and `sase ls`
// on a small run (jf_r0012, 9 files), beside `node -e 0` (the floor for any Node program) in the same
// run, and lsxfel when it is installed (else Python importing h5py and numpy, which lsxfel needs
// before it can start). The compiled build (dist) is what users run; the tsx row is a checkout whose
// sources are being edited. Runs: SASE_BENCH_CLI_RUNS (default 7), median shown.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { median } from "./lib/stats.ts";

const root = join(import.meta.dirname, "..");
const runs = Number(process.env.SASE_BENCH_CLI_RUNS ?? 7);
const run = join(root, "..", "shared", "fixtures", "exdf", "jf_r0012");
const sase = join(root, "bin", "sase.js");

/** Median wall and CPU seconds and peak RSS (MB) of `cmd args` over `runs` runs (GNU time measures them). */
function measure(cmd: string, args: string[]): { seconds: number; cpu: number; mb: number } {
  const times: number[] = [];
  const cpus: number[] = [];
  let mb = 0;
  for (let i = 0; i < runs; i++) {
    const r = spawnSync("/usr/bin/time", ["-f", "%e %M %U %S", cmd, ...args], {
      cwd: root,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
    const [seconds, kb, user, sys] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number) as number[];
    times.push(seconds!);
    cpus.push(user! + sys!);
    mb = Math.max(mb, kb! / 1024);
  }
  return { seconds: median(times), cpu: median(cpus), mb };
}

function row(
  label: string,
  m: { seconds: number; cpu: number; mb: number },
  baseline?: { seconds: number },
): void {
  const ratio = baseline ? `  ${(m.seconds / baseline.seconds).toFixed(1)}× node -e 0` : "";
  console.log(
    `  ${label.padEnd(40)} ${`${(m.seconds * 1000).toFixed(0)} ms`.padStart(9)} ${`cpu ${(m.cpu * 1000).toFixed(0)} ms`.padStart(12)} ${`${m.mb.toFixed(0)} MB`.padStart(7)}${ratio}`,
  );
}

execFileSync(process.execPath, [join(root, "scripts", "build.js")]);
const hasLsxfel = spawnSync("sh", ["-c", "command -v lsxfel"]).status === 0;
// CPU time (user + system) stays meaningful on a busy machine, where wall time mostly measures waiting.
console.log(`CLI start-up, median of ${runs} (wall, CPU, peak RSS)`);
const floor = measure(process.execPath, ["-e", "0"]);
row("node -e 0", floor);
row("sase --version", measure(process.execPath, [sase, "--version"]), floor);
row("sase --help", measure(process.execPath, [sase, "--help"]), floor);
row("sase ls jf_r0012 (9 files, 100 trains)", measure(process.execPath, [sase, "ls", run]), floor);
row("sase ls --json jf_r0012", measure(process.execPath, [sase, "ls", "--json", "--no-values", run]), floor);
row(
  "sources through tsx: sase --version",
  measure(process.execPath, ["--import", "tsx", join(root, "src", "cli", "main.ts"), "--version"]),
  floor,
);
if (hasLsxfel) row("lsxfel jf_r0012", measure("lsxfel", [run]), floor);
else {
  console.log("  lsxfel: not installed here; the least it needs, Python importing h5py and numpy:");
  if (existsSync("/usr/bin/python3"))
    row("python3 -c 'import h5py, numpy'", measure("/usr/bin/python3", ["-c", "import h5py, numpy"]), floor);
}
