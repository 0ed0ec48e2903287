// CLI commands: sase table (print the run table, or CSV) and sase table recompute.
import type { Command } from "commander";
import { Option } from "commander";
import { type Catalogue, CatalogueError, type DataRoots, type RunRecord } from "../daq/index.ts";
import {
  computeRun,
  contextPath,
  loadContext,
  TableStore,
  tableCsv,
  tableOf,
  tableText,
} from "../table/index.ts";
import { integer } from "./args.ts";
import { type RootFlags, rootOptions, withCatalogue } from "./daq.ts";

// A proposal named by the user, or the only one the catalogue has.
function pickProposal(cat: Catalogue, proposal?: number): number {
  if (proposal !== undefined) return proposal;
  const all = cat.proposals();
  if (all.length === 1) return all[0]!.number;
  if (all.length === 0) throw new CatalogueError("the catalogue has no proposals yet");
  throw new CatalogueError(
    `the catalogue has proposals ${all.map((p) => p.number).join(", ")}: name one with --proposal`,
  );
}

// Context errors are the user's to fix: one line, exit code 1, like catalogue errors.
async function recompute(
  cat: Catalogue,
  roots: DataRoots,
  o: { run?: number; all?: boolean; proposal?: number; var?: string[]; context?: string; force?: boolean },
): Promise<void> {
  if (o.run !== undefined && o.all) throw new CatalogueError("give --run N or --all, not both");
  let runs: RunRecord[];
  if (o.run !== undefined) runs = [cat.resolveRun(o.run, o.proposal)];
  else runs = cat.runs(pickProposal(cat, o.proposal)).filter((r) => r.state === "closed");
  const store = new TableStore(cat, roots.catalogue);
  const contexts = new Map<number, Awaited<ReturnType<typeof loadContext>>>();
  for (const run of runs) {
    let context = contexts.get(run.proposal);
    if (!context) {
      context = await loadContext(o.context ?? contextPath(roots.offline, run.proposal));
      contexts.set(run.proposal, context);
    }
    const outcomes = await computeRun(store, run, context, { only: o.var, force: o.force });
    const count = (s: string) => outcomes.filter((x) => x.status === s).length;
    const errors = outcomes.filter((x) => x.status === "error").map((x) => `\n  ${x.name}: ${x.error}`);
    console.log(
      `proposal ${run.proposal} run ${run.number}: ${count("computed")} computed, ${count("unchanged")} unchanged, ${count("error")} errors${errors.join("")}`,
    );
  }
}

/** Adds this group's commands to the sase program. */
export function registerTableCommands(program: Command): void {
  const table = rootOptions(
    program
      .command("table")
      .description("the run table: one row per run, a column per variable of the proposal's context.ts")
      .option("--proposal <number>", "proposal (needed when the catalogue has several)", integer(1))
      .option("--csv", "print CSV"),
  ).action((o: RootFlags & { proposal?: number; csv?: boolean }) =>
    withCatalogue(o, (cat, roots) => {
      const { columns, rows } = tableOf(new TableStore(cat, roots.catalogue), pickProposal(cat, o.proposal));
      if (o.csv) process.stdout.write(tableCsv(columns, rows));
      else if (rows.length === 0) console.log("no runs in this proposal yet");
      else console.log(tableText(columns, rows));
    }),
  );
  // The data-root options belong to `sase table` (commander gives a parent's options to the parent),
  // so they are read with optsWithGlobals.
  table
    .command("recompute")
    .description(
      "compute the table's variables for runs whose context or data changed (the job migration queues runs this)",
    )
    .option("--run <number>", "only this run", integer(1))
    .option("--all", "every closed run of the proposal (the default)")
    .option("--proposal <number>", "proposal of the runs", integer(1))
    .addOption(new Option("--var <name...>", "only these variables (their dependencies are used as stored)"))
    .option("--context <file>", "context file (default <offline>/p<proposal>/context.ts)")
    .option("--force", "compute even where nothing changed")
    .addHelpText(
      "after",
      "\n--proposal and the data roots (--data-dir, --online, --offline, --catalogue) as for sase table.",
    )
    .action((_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<
        RootFlags & {
          run?: number;
          all?: boolean;
          proposal?: number;
          var?: string[];
          context?: string;
          force?: boolean;
        }
      >();
      // A bad context is reported as every failure is (sase: BAD_CONTEXT: ...), exit code 1.
      return withCatalogue(o, (cat, roots) => recompute(cat, roots, o));
    });
}
