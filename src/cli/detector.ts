// CLI commands: sase detector simulate (a raw AGIPD-like run in EXDF, with an XGM).
import { mkdirSync } from "node:fs";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import {
  DETECTORS,
  GAIN_STAGE_NAMES,
  type GainStageName,
  detectorByName,
  reducedDetector,
  writeSimulatedRun,
} from "../detector/index.ts";

function int(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < min || v > max)
      throw new Error(`--${name} must be an integer in ${min}..${max}, got "${text}"`);
    return v;
  };
}

function fail(err: unknown): void {
  process.stderr.write(`sase: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}

interface SimulateOptions {
  run: number;
  trains: number;
  modules?: number;
  cells?: number;
  dark?: string;
  seed: number;
  detector: string;
  rows?: number;
  firstTrain: number;
  trainsPerFile: number;
  biasVoltage: number;
}

/** Adds this group's commands to the sase program. */
export function registerDetectorCommands(program: Command): void {
  const det = program.command("detector").description("simulated megapixel detector (AGIPD-like)");
  det
    .command("simulate")
    .description(
      "write a simulated raw run (one file per module and sequence, plus XGM and control data) in EXDF",
    )
    .argument("<out-dir>", "run directory to create/fill")
    .requiredOption("--run <n>", "run number", int("run", 0, 9999))
    .option("--trains <n>", "number of trains", int("trains", 1), 10)
    .option("--modules <n>", "number of modules (first N; default all)", int("modules", 1, 64))
    .option(
      "--cells <n>",
      "memory cells (frames) per train (default: the detector's most)",
      int("cells", 1, 4096),
    )
    .option("--dark <stage>", `dark run with the gain forced: ${GAIN_STAGE_NAMES.join("|")}`)
    .option("--seed <n>", "seed of the simulated sensor (same seed, same detector)", int("seed", 0), 1)
    .option("--detector <name>", `detector description (${Object.keys(DETECTORS).join(", ")})`, "AGIPD1M")
    .option(
      "--rows <n>",
      "simulate only the first N pixel rows of each module (small test data)",
      int("rows", 1, 512),
    )
    .option("--first-train <id>", "first train id", int("first-train", 1), 10000)
    .option("--trains-per-file <n>", "trains per sequence file", int("trains-per-file", 1), 256)
    .option(
      "--bias-voltage <V>",
      "sensor bias voltage recorded as operating condition",
      int("bias-voltage", 0, 1000),
      300,
    )
    .action(async (outDir: string, o: SimulateOptions) => {
      try {
        if (o.dark !== undefined && !GAIN_STAGE_NAMES.includes(o.dark as GainStageName)) {
          throw new Error(`--dark must be one of ${GAIN_STAGE_NAMES.join(", ")}, got "${o.dark}"`);
        }
        let description = detectorByName(o.detector);
        if (o.rows !== undefined) description = reducedDetector(description, { rows: o.rows });
        const cells = o.cells ?? description.maxCells;
        if (cells > description.maxCells)
          throw new Error(`${description.name} has at most ${description.maxCells} memory cells`);
        const modules = o.modules ?? description.nModules;
        if (modules > description.nModules)
          throw new Error(`${description.name} has ${description.nModules} modules`);
        mkdirSync(outDir, { recursive: true });
        const bar = new cliProgress.SingleBar(
          {
            format: "simulate [{bar}] {value}/{total} trains",
            stream: process.stderr,
            clearOnComplete: true,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        const showBar = process.stderr.isTTY && o.trains > 1;
        if (showBar) bar.start(o.trains, 0);
        const ids = await writeSimulatedRun(outDir, {
          detector: description,
          run: o.run,
          trains: o.trains,
          modules,
          cells,
          seed: o.seed,
          dark: (o.dark as GainStageName | undefined) ?? null,
          firstTrain: o.firstTrain,
          trainsPerSequence: o.trainsPerFile,
          operating: { biasVoltage: o.biasVoltage },
          onTrain: (done) => showBar && bar.update(done),
        });
        if (showBar) bar.stop();
        process.stdout.write(
          `wrote run ${o.run} to ${outDir}: ${ids.length} trains × ${modules} modules × ${cells} cells${o.dark ? ` (dark, ${o.dark} gain)` : ""}\n`,
        );
      } catch (err) {
        fail(err);
      }
    });
}
