// CLI commands for EXDF runs: sase ls (like lsxfel, or --json in the fixtures' manifest shape) and
// sase validate (exit code 1 when problems are found).
import { statSync } from "node:fs";
import cliProgress from "cli-progress";
import { type Command, InvalidArgumentError } from "commander";
import { naturalOrder } from "../core/index.ts";
import {
  type DataCollection,
  FilesError,
  openFile,
  openRun,
  runManifest,
  validateRun,
} from "../files/index.ts";
import { existingPath } from "./args.ts";
import { failCommand as fail } from "./errors.ts";

/** A progress bar on stderr that appears only once there is enough work to be worth showing. */
function progress(
  label: string,
  minTotal = 20,
): { update: (done: number, total: number) => void; stop: () => void } {
  let bar: cliProgress.SingleBar | null = null;
  return {
    update(done, total) {
      if (total < minTotal) return;
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            format: `${label} [{bar}] {value}/{total} files`,
            stream: process.stderr,
            clearOnComplete: true,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0);
      }
      bar.update(done);
    },
    stop() {
      bar?.stop();
    },
  };
}

async function openPath(
  path: string,
  useIndex: boolean,
  onProgress: (d: number, t: number) => void,
): Promise<DataCollection> {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new FilesError("no such file or directory", { file: path, code: "NOT_FOUND" });
  }
  return isDir ? openRun(path, { useIndex, onProgress }) : openFile(path);
}

function trainRange(ids: readonly number[]): string {
  if (ids.length === 0) return "no trains";
  return `${ids.length} trains: ${ids[0]} … ${ids[ids.length - 1]}`;
}

/** Detector modules by source name: AGIPD/LPD/DSSC (…/DET/<n>CH0:xtdf) and JUNGFRAU (…/DET/JNGFR<n>:daqOutput). */
const MODULE_PATTERNS: { re: RegExp; frames: string; framesInEntry: boolean }[] = [
  { re: /^(.+)\/DET\/(\d+CH\d+):xtdf$/, frames: "image.data", framesInEntry: false },
  // One JUNGFRAU entry holds every memory cell of the train: frames = first axis of an entry.
  { re: /^(.+)\/DET\/(JNGFR\d+):daqOutput$/, frames: "data.adc", framesInEntry: true },
];

interface Detector {
  name: string;
  modules: { source: string; module: string }[];
  frameKey: string;
  framesInEntry: boolean;
}

function detectorsOf(run: DataCollection): Detector[] {
  const found = new Map<string, Detector>();
  for (const source of run.instrumentSources) {
    for (const p of MODULE_PATTERNS) {
      const m = p.re.exec(source);
      if (!m || !run.keys(source).includes(p.frames)) continue;
      const name = m[1] as string;
      const d = found.get(name) ?? { name, modules: [], frameKey: p.frames, framesInEntry: p.framesInEntry };
      d.modules.push({ source, module: m[2] as string });
      found.set(name, d);
      break;
    }
  }
  for (const d of found.values()) d.modules.sort((a, b) => naturalOrder(a.source, b.source));
  return [...found.values()].sort((a, b) => naturalOrder(a.name, b.name));
}

/** "16 modules (0CH0 … 15CH0), 512 × 128 pixels, 64 frames per train, 4096 frames in total" */
function describeDetector(run: DataCollection, d: Detector): string {
  const first = d.modules[0] as { source: string; module: string };
  const last = d.modules[d.modules.length - 1] as { source: string; module: string };
  const kd = run.keyData(first.source, d.frameKey);
  const shape = kd.entryShape;
  const perEntry = d.framesInEntry ? (shape[0] ?? 1) : 1;
  const counts = kd.dataCounts().counts;
  let most = 0;
  let total = 0;
  for (const c of counts) {
    most = Math.max(most, c);
    total += c;
  }
  const mods = d.modules.length === 1 ? "1 module" : `${d.modules.length} modules`;
  const range = d.modules.length === 1 ? first.module : `${first.module} … ${last.module}`;
  const pixels = shape.length >= 2 ? `${shape.slice(-2).join(" × ")} pixels, ` : "";
  const frames =
    total === 0
      ? "no frames"
      : `${most * perEntry} frames per train, ${total * perEntry} frames in total (counted on ${first.module})`;
  return `${mods} (${range}), ${pixels}${frames}`;
}

function globsToRegExp(globs: readonly string[]): RegExp | null {
  if (globs.length === 0) return null;
  const one = (g: string) =>
    g
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replaceAll("*", ".*")
      .replaceAll("?", ".");
  return new RegExp(`^(?:${globs.map(one).join("|")})$`);
}

/** "1 key", "3 keys". */
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

/**
 * What lsxfel shows: a summary first (files, run, trains and duration; detectors with their modules
 * and frames per train), then the sources grouped as detector modules, other instrument sources and
 * control sources, in natural order (1CH0 before 10CH0); keys (dtype, entry shape, entries) only for
 * the sources matching `detail`.
 */
function printRun(path: string, run: DataCollection, detail: readonly string[]): void {
  const md = run.runMetadata();
  const out: string[] = [];
  out.push(`${path}: ${run.files.length} file(s), format ${md.dataFormatVersion ?? "?"}`);
  if (md.proposalNumber !== undefined)
    out.push(`proposal ${md.proposalNumber}, run ${md.runNumber}, created ${md.creationDate}`);
  const ids = run.trainIds;
  out.push(trainRange(ids));
  // Train IDs count at 10 Hz, as EXtra-data's info() reckons the span of a run.
  if (ids.length) out.push(`duration ${(((ids.at(-1) as number) - (ids[0] as number)) / 10).toFixed(1)} s`);
  const detailRe = globsToRegExp(detail);
  const sourceLines = (source: string, indent: string) => {
    const keys = run.keys(source);
    out.push(`${indent}- ${source} (${plural(keys.length, "key")})`);
    if (!detailRe?.test(source)) return;
    const rows = keys.map((k) => {
      const kd = run.keyData(source, k);
      return [k, kd.dtype, `[${kd.entryShape.join(", ")}]`, `${kd.size} entries`];
    });
    const widths = [0, 1, 2].map((i) => Math.max(0, ...rows.map((r) => (r[i] as string).length)));
    for (const r of rows)
      out.push(`${indent}    ${r.map((c, i) => (i < 3 ? c.padEnd(widths[i] as number) : c)).join("  ")}`);
  };
  const detectors = detectorsOf(run);
  const inDetector = new Set(detectors.flatMap((d) => d.modules.map((m) => m.source)));
  if (detectors.length) {
    out.push("", detectors.length === 1 ? "1 detector:" : `${detectors.length} detectors:`);
    for (const d of detectors) out.push(`  ${d.name}: ${describeDetector(run, d)}`);
  }
  for (const d of detectors) {
    out.push("", `${d.name} modules:`);
    for (const m of d.modules) sourceLines(m.source, "  ");
  }
  const others = run.instrumentSources.filter((s) => !inDetector.has(s)).sort(naturalOrder);
  const control = [...run.controlSources].sort(naturalOrder);
  const but = detectors.length ? " (not detector modules)" : "";
  out.push("", `${plural(others.length, "instrument source")}${but}:`);
  for (const s of others) sourceLines(s, "  ");
  out.push("", `${plural(control.length, "control source")}:`);
  for (const s of control) sourceLines(s, "  ");
  // A mistyped glob would otherwise print the summary alone, as if the sources had no keys.
  const sources = [...run.instrumentSources, ...run.controlSources];
  for (const glob of detail) {
    const re = globsToRegExp([glob]);
    if (!sources.some((s) => re?.test(s))) out.push(`! --detail ${glob}: no source matches`);
  }
  for (const p of run.problems) out.push(`! skipped ${p.file}: ${p.message}`);
  for (const k of run.skippedKeys) out.push(`! skipped ${k.source} ${k.key} (${k.file}): ${k.message}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

/** `--trains A:B`: positions in the run, as a Python slice (0:10, -5:, :100). */
function trainSlice(text: string): [number, number] {
  const m = /^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*$/.exec(text);
  if (!m) throw new InvalidArgumentError("expected A:B, train positions as a Python slice (0:10, -5:, :100)");
  return [m[1] === undefined ? 0 : Number(m[1]), m[2] === undefined ? Number.MAX_SAFE_INTEGER : Number(m[2])];
}

/** Adds this group's commands to the sase program. */
export function registerFilesCommands(program: Command): void {
  program
    .command("ls")
    .description(
      "list an EXDF run directory or file like lsxfel: trains, duration, detectors, sources (keys with --detail)",
    )
    .argument("<path>", "run directory or .h5 file", existingPath())
    .option(
      "--json",
      "print the run's structure as JSON (manifest.json shape: first and sum read from the data)",
    )
    .option("--no-values", "with --json: leave out first/sum (no data read)")
    .option(
      "--detail <glob>",
      "list the keys (dtype, entry shape, entries) of the sources matching glob (repeatable; '*' for all)",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option("--trains <A:B>", "only trains at positions A to B, a Python slice (0:10, -5:, :100)", trainSlice)
    .option("--no-keys", "list sources only, even with --detail")
    .option("--no-index", "ignore the run index and read every file")
    .action(
      async (
        path: string,
        opts: {
          json?: boolean;
          values: boolean;
          keys: boolean;
          index: boolean;
          detail?: string[];
          trains?: [number, number];
        },
      ) => {
        const bar = progress("reading");
        try {
          const whole = await openPath(path, opts.index, bar.update);
          bar.stop();
          const run = opts.trains ? whole.selectTrains({ indexRange: opts.trains }) : whole;
          if (opts.json) {
            const m = runManifest(run, { values: opts.values });
            process.stdout.write(`${JSON.stringify(m, null, 1)}\n`);
          } else {
            printRun(path, run, opts.keys ? (opts.detail ?? []) : []);
          }
          if (opts.trains && run.trainIds.length === 0 && whole.trainIds.length > 0) {
            const [a, b] = opts.trains;
            const slice = `${a}:${b === Number.MAX_SAFE_INTEGER ? "" : b}`;
            process.stderr.write(
              `sase: --trains ${slice} selects none of the run's ${whole.trainIds.length} trains\n`,
            );
          }
          run.close();
        } catch (err) {
          bar.stop();
          fail(err);
        }
      },
    );

  program
    .command("validate")
    .description(
      "check an EXDF run or file (index consistency, train order, one run); exit code 1 on problems",
    )
    .argument("<path>", "run directory or .h5 file", existingPath())
    .option("--json", "print problems as JSON")
    .action(async (path: string, opts: { json?: boolean }) => {
      const bar = progress("validating");
      try {
        const problems = await validateRun(path, { onProgress: bar.update });
        bar.stop();
        if (opts.json) process.stdout.write(`${JSON.stringify(problems, null, 1)}\n`);
        else if (problems.length === 0) process.stdout.write(`${path}: no problems found\n`);
        else {
          for (const p of problems) {
            const where = [p.file, p.dataset, p.trainId !== undefined ? `train ${p.trainId}` : ""]
              .filter(Boolean)
              .join(": ");
            process.stdout.write(`${where}: ${p.message}\n`);
          }
          process.stdout.write(`${problems.length} problem(s)\n`);
        }
        if (problems.length) process.exitCode = 1;
      } catch (err) {
        bar.stop();
        fail(err);
      }
    });
}
