// Offline jobs on migrated runs: submitting the correction of a run, starting queued jobs as the
// executor has room, and following their states into the catalogue.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SASE_VERSION, SaseError } from "../core/index.ts";
import type { Catalogue, JobRecord, RunRecord } from "./catalogue.ts";
import { CatalogueError } from "./catalogue.ts";
import { procRunDir, proposalDirName, rawRunDir, runDirName } from "./config.ts";
import type { Executor, JobSpec } from "./executors.ts";

/** The `sase` launcher of this checkout (jobs run the same code as the process that submits them). */
export const SASE_BIN = fileURLToPath(new URL("../../bin/sase.js", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Builds the command that corrects one run: raw folder in, proc folder out. */
export type CorrectionCommand = (rawDir: string, procDir: string) => string[];

/** `sase calibrate correct RAW_DIR PROC_DIR [extra...]` with this Node and this checkout; `extra`
 * carries the correction's options (e.g. ["--store", dir]). */
export function saseCorrection(extra: readonly string[] = []): CorrectionCommand {
  return (raw, proc) => [process.execPath, SASE_BIN, "calibrate", "correct", raw, proc, ...extra];
}

/** The default correction command (no extra options). */
export const defaultCorrectionCommand: CorrectionCommand = saseCorrection();

function specOf(job: JobRecord): JobSpec {
  return { id: job.id, name: job.kind, command: job.command, cwd: REPO_ROOT, logPath: job.logPath };
}

/** Queues the offline correction of a migrated run (started by `pumpJobs`). */
export function submitCorrection(
  cat: Catalogue,
  run: RunRecord,
  offlineRoot: string,
  executor: Executor,
  command: CorrectionCommand = defaultCorrectionCommand,
): JobRecord {
  if (run.migration !== "migrated") {
    throw new CatalogueError(
      `run ${run.number} is not migrated (${run.migration}): correct only migrated runs`,
    );
  }
  const raw = rawRunDir(offlineRoot, run.proposal, run.number);
  const proc = procRunDir(offlineRoot, run.proposal, run.number);
  const logs = join(offlineRoot, proposalDirName(run.proposal), "logs");
  const stamp = Date.now().toString(36);
  return cat.addJob({
    runId: run.id,
    kind: "correct",
    executor: executor.name,
    command: command(raw, proc),
    outputDir: proc,
    logPath: join(logs, `correct-${runDirName(run.number)}-${stamp}.log`),
  });
}

/** Starts queued jobs while the executor has room and refreshes the state of running ones. */
export async function pumpJobs(cat: Catalogue, executor: Executor): Promise<JobRecord[]> {
  const mine = () => cat.jobs({ states: ["queued", "running"] }).filter((j) => j.executor === executor.name);
  for (const job of mine()) {
    if (job.externalId === null) continue;
    const s = await executor.status(job.externalId, specOf(job));
    if (s.state === job.state) continue;
    cat.updateJob(job.id, s.state, { exitCode: s.exitCode, error: s.error });
    if (s.state === "done") await writeLineage(cat, cat.job(job.id));
  }
  let active = mine().filter((j) => j.externalId !== null).length;
  for (const job of mine()) {
    if (job.externalId !== null || active >= executor.capacity) continue;
    try {
      const externalId = await executor.submit(specOf(job));
      // A local process runs at once; a batch system reports queued until it starts the job.
      cat.updateJob(job.id, executor.name === "local" ? "running" : "queued", { externalId });
      active++;
    } catch (e) {
      cat.updateJob(job.id, "failed", { error: (e as Error).message });
    }
  }
  return cat.jobs().filter((j) => j.executor === executor.name);
}

/** Pumps until no job of this executor is queued or running (or the timeout passes). */
export async function waitForJobs(
  cat: Catalogue,
  executor: Executor,
  opts: { intervalMs?: number; timeoutMs?: number; onPoll?: (jobs: JobRecord[]) => void } = {},
): Promise<JobRecord[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? Number.POSITIVE_INFINITY);
  for (;;) {
    const jobs = await pumpJobs(cat, executor);
    opts.onPoll?.(jobs);
    if (!jobs.some((j) => j.state === "queued" || j.state === "running")) return jobs;
    if (Date.now() > deadline)
      throw new SaseError("TIMEOUT", `jobs still unfinished after ${opts.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

/** Writes `lineage.json` into a finished job's output folder: which raw run (with the SHA-256 of
 * every file, as migration verified it) went in, and which command, executor and sase made it. */
export async function writeLineage(cat: Catalogue, job: JobRecord): Promise<string | undefined> {
  if (!job.outputDir) return undefined;
  const run = cat.runById(job.runId);
  const lineage = {
    producedBy: {
      kind: job.kind,
      job: job.id,
      executor: job.executor,
      externalId: job.externalId,
      sase: SASE_VERSION,
    },
    command: job.command,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    exitCode: job.exitCode,
    inputs: [
      {
        proposal: run.proposal,
        run: run.number,
        raw: run.offlinePath,
        trains: run.trains,
        firstTrain: run.firstTrain,
        lastTrain: run.lastTrain,
        files: cat.runFiles(run.id).map((f) => ({ path: f.path, size: f.size, sha256: f.sourceSha256 })),
      },
    ],
  };
  await mkdir(job.outputDir, { recursive: true });
  const path = join(job.outputDir, "lineage.json");
  await writeFile(path, `${JSON.stringify(lineage, null, 2)}\n`);
  return path;
}
