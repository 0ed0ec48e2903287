// Data management after a run: migrate what is flagged for it, and have every run that migrated
// successfully corrected offline (the "triggered calibration") and processed by whatever else asks
// (the run table) through the same executor.
import type { Catalogue, JobRecord, RunRecord } from "./catalogue.ts";
import type { Executor } from "./executors.ts";
import type { CorrectionCommand } from "./jobs.ts";
import { pumpJobs, submitCorrection } from "./jobs.ts";
import type { MigrateOptions, MigrationResult } from "./migrate.ts";
import { migratePending, migrateRun } from "./migrate.ts";

export interface ManageOptions extends MigrateOptions {
  /** Where correction jobs run; omitted: runs are migrated but not corrected. */
  executor?: Executor;
  correctionCommand?: CorrectionCommand;
  /** Only this run (else every run waiting for migration). */
  run?: RunRecord;
  /** Submit the correction of each migrated run (default true when an executor is given). */
  calibrate?: boolean;
  /** Further jobs to queue for each migrated run (e.g. the run table's); started with the rest. */
  onMigrated?: (run: RunRecord) => JobRecord[];
}

/** Migrates (one run or all pending), submits a correction job for each run that migrated, and
 * starts jobs as the executor has room. */
export async function migrateAndCalibrate(
  cat: Catalogue,
  opts: ManageOptions,
): Promise<{ migrations: MigrationResult[]; jobs: JobRecord[] }> {
  const migrations = opts.run ? [await migrateRun(cat, opts.run, opts)] : await migratePending(cat, opts);
  const jobs: JobRecord[] = [];
  if (opts.executor) {
    for (const m of migrations) {
      if (m.status !== "migrated") continue;
      if (opts.calibrate !== false)
        jobs.push(submitCorrection(cat, m.run, opts.offlineRoot, opts.executor, opts.correctionCommand));
      jobs.push(...(opts.onMigrated?.(m.run) ?? []));
    }
    await pumpJobs(cat, opts.executor);
  }
  return { migrations, jobs: jobs.map((j) => cat.job(j.id)) };
}
