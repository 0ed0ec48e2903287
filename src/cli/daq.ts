// CLI commands: sase runs, run flag|show, migrate, jobs (DAQ and data management).
import { join } from "node:path";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { Argument, Option } from "commander";
import { integer } from "./args.ts";
import { failCommand } from "./errors.ts";
import type { Catalogue, DataRoots, Executor, JobRecord, RunRecord } from "../daq/index.ts";
import { submitTableJob } from "../table/index.ts";
import {
  Catalogue as CatalogueDb,
  CatalogueError,
  LocalExecutor,
  migrateAndCalibrate,
  pumpJobs,
  RUN_QUALITIES,
  resolveDataRoots,
  saseCorrection,
  SlurmExecutor,
  waitForJobs,
} from "../daq/index.ts";

export interface RootFlags {
  dataDir?: string;
  online?: string;
  offline?: string;
  catalogue?: string;
}

/** Adds the data-root options (--data-dir, --online, --offline, --catalogue) to a command. */
export function rootOptions(cmd: Command): Command {
  return cmd
    .option("--data-dir <dir>", "data directory (default $SASE_DATA_DIR or ~/.sase/data)")
    .option("--online <dir>", "online raw store (default $SASE_ONLINE_ROOT or <data-dir>/online)")
    .option("--offline <dir>", "offline store (default $SASE_OFFLINE_ROOT or <data-dir>/offline)")
    .option(
      "--catalogue <file>",
      "catalogue database (default $SASE_CATALOGUE or <data-dir>/catalogue.sqlite)",
    );
}

/** Parses a positive integer option or argument (the shared parser; kept for the commands using it). */
export function intArg(_name: string): (v: string) => number {
  return integer(1);
}

/** Opens the catalogue for a command; catalogue errors become one-line messages and exit code 1. */
export async function withCatalogue<T>(
  flags: RootFlags,
  fn: (cat: Catalogue, roots: DataRoots) => Promise<T> | T,
): Promise<T> {
  const roots = resolveDataRoots(flags);
  const cat = CatalogueDb.open(roots.catalogue);
  try {
    return await fn(cat, roots);
  } catch (e) {
    if (e instanceof CatalogueError) {
      failCommand(e);
      return undefined as T;
    }
    throw e;
  } finally {
    cat.close();
  }
}

function fmtBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function runTable(runs: RunRecord[]): string {
  const head = [
    "proposal",
    "run",
    "start",
    "trains",
    "size",
    "quality",
    "migration",
    "calibration",
    "comment",
  ];
  const rows = runs.map((r) => [
    String(r.proposal),
    String(r.number),
    r.startTime.replace("T", " ").slice(0, 19),
    String(r.trains),
    fmtBytes(r.sizeBytes),
    r.state === "recording" ? "recording" : (r.quality ?? "-"),
    r.migration,
    r.calibration,
    r.comment,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function jobLine(j: JobRecord): string {
  const ext = j.externalId ? ` ${j.executor}:${j.externalId}` : ` ${j.executor}`;
  const code = j.exitCode !== null ? ` exit=${j.exitCode}` : "";
  return `job ${j.id} ${j.kind} ${j.state}${ext}${code} log=${j.logPath}${j.error ? ` error: ${j.error}` : ""}`;
}

function makeExecutor(o: { executor: string; workers: number; partition?: string }): Executor {
  return o.executor === "slurm"
    ? new SlurmExecutor({ partition: o.partition })
    : new LocalExecutor(o.workers);
}

/** Adds this group's commands to the sase program. */
export function registerDaqCommands(program: Command): void {
  rootOptions(
    program
      .command("runs")
      .description("list the runs in the catalogue")
      .option("--proposal <number>", "only this proposal", integer(1))
      .option("--json", "print JSON"),
  ).action((o: RootFlags & { proposal?: number; json?: boolean }) =>
    withCatalogue(o, (cat) => {
      const runs = cat.runs(o.proposal);
      if (o.json) console.log(JSON.stringify(runs, null, 2));
      else if (runs.length === 0) console.log("no runs in the catalogue");
      else console.log(runTable(runs));
    }),
  );

  const run = program.command("run").description("one run: flag its quality, show its details");
  rootOptions(
    run
      .command("flag")
      .description("set a run's quality flag (good and unclear runs are migrated, bad ones never)")
      .argument("<run>", "run number", integer(1))
      .addArgument(new Argument("<quality>", "good, unclear or bad").choices(RUN_QUALITIES))
      .option("--comment <text>", "comment stored with the flag")
      .option("--proposal <number>", "proposal of the run (needed if several have that run)", integer(1)),
  ).action(
    (
      n: number,
      quality: (typeof RUN_QUALITIES)[number],
      o: RootFlags & { comment?: string; proposal?: number },
    ) =>
      withCatalogue(o, (cat) => {
        const r = cat.flagRun(cat.resolveRun(n, o.proposal).id, quality, o.comment);
        console.log(
          `proposal ${r.proposal} run ${r.number}: ${r.quality}${r.comment ? ` (${r.comment})` : ""}`,
        );
      }),
  );
  rootOptions(
    run
      .command("show")
      .description("show a run: times, trains, sources, files with checksums, jobs")
      .argument("<run>", "run number", integer(1))
      .option("--proposal <number>", "proposal of the run", integer(1))
      .option("--json", "print JSON"),
  ).action((n: number, o: RootFlags & { proposal?: number; json?: boolean }) =>
    withCatalogue(o, (cat) => {
      const r = cat.resolveRun(n, o.proposal);
      const files = cat.runFiles(r.id);
      const jobs = cat.jobs({ runId: r.id });
      if (o.json) {
        console.log(JSON.stringify({ ...r, files, jobs }, null, 2));
        return;
      }
      const lines = [
        `proposal ${r.proposal} run ${r.number} (${r.state})`,
        `  start ${r.startTime}  end ${r.endTime ?? "-"}`,
        `  trains ${r.trains} (${r.firstTrain ?? "-"}..${r.lastTrain ?? "-"})  size ${fmtBytes(r.sizeBytes)}`,
        `  type "${r.runType}"  sample "${r.sample}"`,
        `  quality ${r.quality ?? "not flagged"}${r.comment ? `  comment "${r.comment}"` : ""}`,
        `  online ${r.onlinePath}`,
        `  offline ${r.offlinePath ?? "-"}  migration ${r.migration}${r.migrationError ? ` (${r.migrationError})` : ""}`,
        `  calibration ${r.calibration}`,
        `  sources (${r.sources.length}): ${r.sources.join(", ")}`,
        ...files.map(
          (f) => `  file ${f.path} ${fmtBytes(f.size)} ${f.state} sha256=${f.sourceSha256 ?? "-"}`,
        ),
        ...jobs.map((j) => `  ${jobLine(j)}`),
      ];
      console.log(lines.join("\n"));
    }),
  );

  rootOptions(
    program
      .command("migrate")
      .description(
        "copy runs flagged good/unclear to the offline store, verify SHA-256 checksums, then submit their correction and run-table jobs",
      )
      .option("--run <number>", "only this run (also retries a failed one)", integer(1))
      .option("--proposal <number>", "proposal of --run", integer(1))
      .addOption(
        new Option("--executor <name>", "where correction jobs run")
          .choices(["local", "slurm"])
          .default("local"),
      )
      .option("--workers <n>", "local worker pool size", integer(1), 2)
      .option("--partition <name>", "SLURM partition")
      .option(
        "--store <dir>",
        "constants store the correction uses (default $SASE_CONSTANTS_STORE or <data-dir>/constants)",
      )
      .option(
        "--correct-args <text>",
        'further options of sase calibrate correct, e.g. "--rows 32 --workers 1"',
      )
      .option(
        "--no-calibrate",
        "submit no correction (run-table jobs still run when the proposal has a context.ts)",
      )
      .option("--no-wait", "do not wait for correction jobs to finish")
      .option(
        "--watch <seconds>",
        "keep running: a migration pass every N seconds (Ctrl-C stops)",
        integer(1),
      ),
  ).action(
    (
      o: RootFlags & {
        run?: number;
        proposal?: number;
        executor: string;
        workers: number;
        partition?: string;
        calibrate: boolean;
        wait: boolean;
        store?: string;
        correctArgs?: string;
        watch?: number;
      },
    ) =>
      withCatalogue(o, async (cat, roots) => {
        // The executor also runs the run table's jobs, so there is one even with --no-calibrate.
        const executor = makeExecutor(o);
        // What every pass does, watched or once: copy, then submit the table's and correction's jobs.
        const pass = {
          offlineRoot: roots.offline,
          executor,
          calibrate: o.calibrate,
          onMigrated: (r: RunRecord) => submitTableJob(cat, roots, r, executor.name),
          correctionCommand: saseCorrection([
            "--store",
            o.store ?? process.env.SASE_CONSTANTS_STORE ?? join(roots.dataDir, "constants"),
            ...(o.correctArgs?.split(/\s+/).filter(Boolean) ?? []),
          ]),
        };
        const target = o.run !== undefined ? cat.resolveRun(o.run, o.proposal) : undefined;
        if (o.watch !== undefined) {
          // The migration worker: a pass every N seconds until interrupted; jobs are pumped each pass.
          if (target) throw new CatalogueError("--watch migrates every flagged run: leave out --run");
          let stop = false;
          process.once("SIGINT", () => {
            stop = true;
          });
          while (!stop) {
            const { migrations, jobs } = await migrateAndCalibrate(cat, pass);
            for (const m of migrations) {
              console.log(
                `proposal ${m.run.proposal} run ${m.run.number}: ${m.status}${m.error ? `: ${m.error}` : ""}`,
              );
            }
            for (const j of jobs) console.log(`submitted ${jobLine(j)}`);
            await pumpJobs(cat, executor);
            await new Promise((r) => setTimeout(r, o.watch! * 1000));
          }
          return;
        }
        const bar = new cliProgress.SingleBar(
          {
            format: "migrate {run} [{bar}] {percentage}% {value}/{total} files {file}",
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        );
        const tty = process.stderr.isTTY;
        const { migrations, jobs } = await migrateAndCalibrate(cat, {
          ...pass,
          run: target,
          onProgress: (e) => {
            if (e.type === "file-corrupt")
              console.error(`corrupt copy: ${e.path} (sha256 ${e.found} != ${e.expected})`);
            if (!tty) return;
            if (e.type === "file-copied" && !bar.isActive) bar.start(cat.runFiles(e.run.id).length * 2, 0);
            bar.increment({ run: `r${e.run.number}`, file: e.path });
          },
        });
        if (bar.isActive) bar.stop();
        if (migrations.length === 0)
          console.log("no runs waiting for migration (flag runs good or unclear first)");
        for (const m of migrations) {
          const where = `proposal ${m.run.proposal} run ${m.run.number}`;
          if (m.status === "migrated")
            console.log(`${where}: migrated to ${m.run.offlinePath} (${fmtBytes(m.bytesCopied)} copied)`);
          else {
            console.error(`${where}: ${m.status}${m.error ? `: ${m.error}` : ""}`);
            process.exitCode = 1;
          }
        }
        for (const j of jobs) console.log(`submitted ${jobLine(j)}`);
        if (o.wait && jobs.length > 0) {
          const done = await waitForJobs(cat, executor);
          for (const j of done.filter((d) => jobs.some((s) => s.id === d.id))) {
            console.log(jobLine(j));
            if (j.state === "failed") process.exitCode = 1;
          }
        }
      }),
  );

  rootOptions(
    program
      .command("jobs")
      .description("list offline jobs (calibration) and refresh their states")
      .addOption(
        new Option("--executor <name>", "executor to refresh").choices(["local", "slurm"]).default("local"),
      )
      .option("--json", "print JSON"),
  ).action((o: RootFlags & { executor: string; json?: boolean }) =>
    withCatalogue(o, async (cat) => {
      await pumpJobs(cat, makeExecutor({ executor: o.executor, workers: 2 }));
      const jobs = cat.jobs();
      if (o.json) console.log(JSON.stringify(jobs, null, 2));
      else console.log(jobs.length ? jobs.map(jobLine).join("\n") : "no jobs");
    }),
  );
}
