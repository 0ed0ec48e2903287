// CLI commands for EXDF runs: sase ls (like lsxfel, or --json in the fixtures' manifest shape) and
// sase validate (exit code 1 when problems are found).
import { statSync } from "node:fs";
import cliProgress from "cli-progress";
import type { Command } from "commander";
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

function printRun(path: string, run: DataCollection, showKeys: boolean): void {
  const md = run.runMetadata();
  const out: string[] = [];
  out.push(`${path}: ${run.files.length} file(s), format ${md.dataFormatVersion ?? "?"}`);
  if (md.proposalNumber !== undefined)
    out.push(`proposal ${md.proposalNumber}, run ${md.runNumber}, created ${md.creationDate}`);
  out.push(trainRange(run.trainIds));
  for (const [title, sources] of [
    ["Control sources", run.controlSources],
    ["Instrument sources", run.instrumentSources],
  ] as const) {
    out.push("", `${sources.length} ${title.toLowerCase()}:`);
    // Natural order, so that detector modules read 1CH0, 2CH0 ... 10CH0 as lsxfel lists them.
    for (const s of [...sources].sort((a, b) => a.localeCompare(b, "en", { numeric: true }))) {
      const keys = run.keys(s);
      out.push(`  - ${s} (${keys.length} keys)`);
      if (!showKeys) continue;
      const width = Math.max(0, ...keys.map((k) => k.length));
      for (const k of keys) {
        const kd = run.keyData(s, k);
        out.push(
          `      ${k.padEnd(width)}  ${kd.dtype.padEnd(7)}  [${kd.entryShape.join(", ")}]  ${kd.size} entries`,
        );
      }
    }
  }
  for (const p of run.problems) out.push(`! skipped ${p.file}: ${p.message}`);
  for (const k of run.skippedKeys) out.push(`! skipped ${k.source} ${k.key} (${k.file}): ${k.message}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

/** Adds this group's commands to the sase program. */
export function registerFilesCommands(program: Command): void {
  program
    .command("ls")
    .description("list an EXDF run directory or file: trains, sources, keys with dtype and shape")
    .argument("<path>", "run directory or .h5 file", existingPath())
    .option(
      "--json",
      "print the run's structure as JSON (manifest.json shape: first and sum read from the data)",
    )
    .option("--no-values", "with --json: leave out first/sum (no data read)")
    .option("--no-keys", "list sources only")
    .option("--no-index", "ignore the run index and read every file")
    .action(
      async (path: string, opts: { json?: boolean; values: boolean; keys: boolean; index: boolean }) => {
        const bar = progress("reading");
        try {
          const run = await openPath(path, opts.index, bar.update);
          bar.stop();
          if (opts.json) {
            const m = runManifest(run, { values: opts.values });
            process.stdout.write(`${JSON.stringify(m, null, 1)}\n`);
          } else {
            printRun(path, run, opts.keys);
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
