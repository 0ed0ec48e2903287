// CLI command: sase analyse RUN --graph g.json — an analysis graph (as the GUI composes it) run offline
// on a recorded run, with results as HDF5 and CSV, or CSV on stdout.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { analyseRun, GraphError, GraphRunner } from "../analysis/index.ts";
import { DETECTORS, detectorByName } from "../detector/index.ts";
import { openRun } from "../files/index.ts";
import { existingPath, integer } from "./args.ts";
import { CliError } from "./errors.ts";
import { forceOption, refuseOverwrite } from "./force.ts";
import { progressBar } from "./progress.ts";

interface AnalyseOptions {
  graph: string;
  out?: string;
  csv?: string;
  frame: number;
  detector: string;
  force: boolean;
}

/** Adds this group's commands to the sase program. */
export function registerAnalysisCommands(program: Command): void {
  program
    .command("analyse")
    .description(
      "run an analysis graph (JSON, as the GUI saves it) on a recorded run; results as HDF5 and CSV (without --out: CSV on stdout)",
    )
    .argument("<run>", "EXDF run directory", existingPath("directory"))
    .requiredOption("--graph <file>", "analysis graph document (.json)", existingPath("file"))
    .option("--out <file>", "HDF5 results file (a CSV of the scalar results is written beside it)")
    .option("--csv <file>", "CSV file of the scalar results (default: beside --out, .csv)")
    .option("--frame <n>", "frame (memory cell) of each train to analyse", integer(0), 0)
    .option("--detector <name>", `detector description (${Object.keys(DETECTORS).join(", ")})`, "AGIPD1M")
    .addOption(forceOption("existing result files"))
    .action(async (runDir: string, o: AnalyseOptions) => {
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(o.graph, "utf8"));
      } catch (e) {
        throw new CliError("BAD_GRAPH", `${o.graph}: not JSON (${(e as Error).message})`);
      }
      const csvPath = o.csv ?? (o.out ? o.out.replace(/(\.h5|\.hdf5)?$/i, ".csv") : undefined);
      for (const p of [o.out, csvPath]) if (p) refuseOverwrite(p, o.force, "results");
      let runner: GraphRunner;
      try {
        runner = await GraphRunner.create(doc, { baseDir: dirname(resolve(o.graph)) });
      } catch (e) {
        if (e instanceof GraphError) throw new CliError("BAD_GRAPH", `${o.graph}: ${e.message}`);
        throw e;
      }
      const run = await openRun(runDir);
      const bar = progressBar("analyse", "trains");
      const t0 = performance.now();
      try {
        const results = await analyseRun(run, runner, {
          detector: detectorByName(o.detector),
          frame: o.frame,
          onTrain: (done, total) => bar.update(done, total),
        });
        bar.stop();
        if (o.out) await results.writeH5(o.out);
        if (csvPath) writeFileSync(csvPath, results.csv());
        else process.stdout.write(results.csv());
        const s = (performance.now() - t0) / 1000;
        const written = [o.out, csvPath].filter(Boolean).join(" and ");
        if (written) {
          console.error(
            `analysed ${results.trainIds.length} trains in ${s.toFixed(1)} s (${(results.trainIds.length / s).toFixed(1)} trains/s) → ${written}`,
          );
        }
        for (const st of runner.stats()) {
          if (st.error) console.error(`node ${st.id}: ${st.error}`);
        }
      } finally {
        bar.stop();
        runner.close();
        run.close();
      }
    });
}
