// CLI commands: sase detector simulate (a raw AGIPD-like run in EXDF, with an XGM).
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import {
  DETECTORS,
  GAIN_STAGE_NAMES,
  type GainStageName,
  detectorByName,
  pulseCapacitorLadder,
  reducedDetector,
  writeSimulatedRun,
} from "../detector/index.ts";
import { integer, invalidOption } from "./args.ts";
import { forceOption, refuseOverwrite } from "./force.ts";
import { progressBar } from "./progress.ts";

interface SimulateOptions {
  run: number;
  trains: number;
  modules?: number;
  cells?: number;
  dark?: string;
  pcScan?: boolean;
  seed: number;
  detector: string;
  rows?: number;
  firstTrain: number;
  trainsPerFile: number;
  biasVoltage: number;
  force: boolean;
}

/** Adds this group's commands to the sase program. */
export function registerDetectorCommands(program: Command): void {
  const det = program.command("detector").description("simulated megapixel detector (AGIPD-like)");
  det
    .command("simulate")
    .description(
      "write a simulated raw run (one file per module and sequence, plus XGM and control data) in EXDF",
    )
    .argument("<out-dir>", "run directory to create (or an empty one to fill)")
    .requiredOption("--run <n>", "run number (required)", integer(0, 9999))
    .option("--trains <n>", "number of trains", integer(1), 10)
    .option("--modules <n>", "number of modules (first N; default all)", integer(1))
    .option("--cells <n>", "memory cells (frames) per train (default: the detector's most)", integer(1))
    .addOption(new Option("--dark <stage>", "dark run with the gain forced").choices(GAIN_STAGE_NAMES))
    .addOption(
      new Option(
        "--pc-scan",
        "a pulse-capacitor scan instead of photons (for `sase calibrate pc`): train t injects step t mod 18 of the detector's ladder",
      ).conflicts("dark"),
    )
    .option("--seed <n>", "seed of the simulated sensor (same seed, same detector)", integer(0), 1)
    .addOption(
      new Option("--detector <name>", "detector description")
        .choices(Object.keys(DETECTORS))
        .default("AGIPD1M"),
    )
    .option("--rows <n>", "simulate only the first N pixel rows of each module (small test data)", integer(1))
    .option("--first-train <id>", "first train id", integer(1), 10000)
    .option("--trains-per-file <n>", "trains per sequence file", integer(1), 256)
    .option(
      "--bias-voltage <V>",
      "sensor bias voltage recorded as operating condition",
      integer(0, 1000),
      300,
    )
    .addOption(forceOption("the files of a non-empty <out-dir>"))
    .action(async (outDir: string, o: SimulateOptions, cmd: Command) => {
      let description = detectorByName(o.detector);
      const [rows] = description.moduleShape;
      if (o.rows !== undefined && o.rows > rows)
        invalidOption(
          cmd,
          "--rows",
          o.rows,
          `expected an integer from 1 to ${rows} (${description.name} modules have ${rows} rows)`,
        );
      if (o.rows !== undefined) description = reducedDetector(description, { rows: o.rows });
      if (o.modules !== undefined && o.modules > description.nModules)
        invalidOption(
          cmd,
          "--modules",
          o.modules,
          `expected an integer from 1 to ${description.nModules} (${description.name} has ${description.nModules} modules)`,
        );
      if (o.cells !== undefined && o.cells > description.maxCells)
        invalidOption(
          cmd,
          "--cells",
          o.cells,
          `expected an integer from 1 to ${description.maxCells} (${description.name} has ${description.maxCells} memory cells)`,
        );
      const cells = o.cells ?? description.maxCells;
      const modules = o.modules ?? description.nModules;
      // Never a run mixed from two simulations: with --force the old files go first.
      const existing = refuseOverwrite(outDir, o.force, "files");
      for (const name of existing) rmSync(join(outDir, name), { recursive: true, force: true });
      mkdirSync(outDir, { recursive: true });
      const bar = progressBar("simulate", "trains");
      try {
        const ids = await writeSimulatedRun(outDir, {
          detector: description,
          run: o.run,
          trains: o.trains,
          modules,
          cells,
          seed: o.seed,
          dark: (o.dark as GainStageName | undefined) ?? null,
          ...(o.pcScan ? { pulseCapacitor: pulseCapacitorLadder(description) } : {}),
          firstTrain: o.firstTrain,
          trainsPerSequence: o.trainsPerFile,
          operating: { biasVoltage: o.biasVoltage },
          onTrain: (done) => bar.update(done, o.trains),
        });
        bar.stop();
        process.stdout.write(
          `wrote run ${o.run} to ${outDir}: ${ids.length} trains × ${modules} modules × ${cells} cells${o.dark ? ` (dark, ${o.dark} gain)` : o.pcScan ? " (pulse-capacitor scan)" : ""}\n`,
        );
      } finally {
        bar.stop();
      }
    });
}
