// The run table in data management: where a proposal's context file lives, and the job that fills
// a migrated run's row, queued on the same executors (local pool or SLURM) as the correction.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Catalogue, DataRoots, JobRecord, RunRecord } from "../daq/index.ts";
import { proposalDirName, runDirName, SASE_BIN } from "../daq/index.ts";

/** File name of a proposal's context (in its folder of the offline store). */
export const CONTEXT_FILE = "context.ts";

/** `<offline>/p<proposal>/context.ts`: the context file of a proposal. */
export function contextPath(offlineRoot: string, proposal: number): string {
  return join(offlineRoot, proposalDirName(proposal), CONTEXT_FILE);
}

/** Queues the job that computes a run's row (nothing when its proposal has no context file). */
export function submitTableJob(
  cat: Catalogue,
  roots: DataRoots,
  run: RunRecord,
  executor: string,
): JobRecord[] {
  const context = contextPath(roots.offline, run.proposal);
  if (!existsSync(context)) return [];
  return [
    cat.addJob({
      runId: run.id,
      kind: "table",
      executor,
      command: [
        process.execPath,
        SASE_BIN,
        "table",
        "recompute",
        "--proposal",
        String(run.proposal),
        "--run",
        String(run.number),
        "--context",
        context,
        "--catalogue",
        roots.catalogue,
        "--online",
        roots.online,
        "--offline",
        roots.offline,
      ],
      logPath: join(
        roots.offline,
        proposalDirName(run.proposal),
        "logs",
        `table-${runDirName(run.number)}-${Date.now().toString(36)}.log`,
      ),
    }),
  ];
}
