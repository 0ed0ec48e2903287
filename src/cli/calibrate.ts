// CLI commands: sase calibrate dark|pc|correct|constants.
import { existsSync } from "node:fs";
import { type Command, Option } from "commander";
import {
  characteriseDarkRuns,
  characterisePcRun,
  ConstantStore,
  correctRun,
  type GainMode,
} from "../calibration/index.ts";
import { DETECTORS, type DetectorDescription, detectorByName, reducedDetector } from "../detector/index.ts";
import { existingPath, integer, integerList } from "./args.ts";
import { CliError, failCommand as fail } from "./errors.ts";
import { forceOption } from "./force.ts";
import { progressBar } from "./progress.ts";

const GAIN_MODES: readonly GainMode[] = ["adaptive", "fixed-high", "fixed-medium", "fixed-low"];

/** Adds this group's commands to the sase program. */
export function registerCalibrateCommands(program: Command): void {
  const cal = program
    .command("calibrate")
    .description("detector calibration: dark characterisation, constants, correction");

  cal
    .command("dark")
    .description(
      "characterise three dark runs (forced high, medium, low gain) and store Offset, Noise, ThresholdsDark, BadPixelsDark",
    )
    .argument("<run-high>", "dark run directory, high gain", existingPath("directory"))
    .argument("<run-medium>", "dark run directory, medium gain", existingPath("directory"))
    .argument("<run-low>", "dark run directory, low gain", existingPath("directory"))
    .requiredOption("--store <dir>", "constants store (required; must exist unless --create)")
    .option("--create", "create the constants store if it does not exist", false)
    .option("--detector <name>", `detector description (${Object.keys(DETECTORS).join(", ")})`, "AGIPD1M")
    .option("--rows <n>", "the runs hold only the first N pixel rows (simulated test data)", integer(1))
    .option(
      "--modules <list>",
      "modules to characterise, e.g. 0-3,8 (default: all present)",
      integerList(0, 63),
    )
    .option("--workers <n>", "worker threads (default: all cores)", integer(1, 1024))
    .option(
      "--begin-validity <iso>",
      "validity start of the new constants (default: start of the high-gain run)",
    )
    .action(
      async (
        high: string,
        medium: string,
        low: string,
        o: {
          store: string;
          create: boolean;
          detector: string;
          rows?: number;
          modules?: number[];
          workers?: number;
          beginValidity?: string;
        },
      ) => {
        try {
          if (!o.create && !existsSync(o.store))
            throw new CliError(
              "NO_STORE",
              `constants store ${o.store} does not exist; give --create to make a new one`,
            );
          const det = describe(o.detector, o.rows);
          const begin = o.beginValidity ? new Date(o.beginValidity) : undefined;
          if (begin && Number.isNaN(begin.getTime()))
            throw new CliError("BAD_OPTION", `--begin-validity is not a time: "${o.beginValidity}"`);
          const bar = progressBar("darks", "module-trains");
          const out = await characteriseDarkRuns([high, medium, low], {
            detector: det,
            storeRoot: o.store,
            modules: o.modules,
            workers: o.workers,
            beginValidity: begin,
            onProgress: bar.update,
          });
          bar.stop();
          for (const m of out)
            process.stdout.write(`module ${m.module}: stored constants ${m.constantIds.join(", ")}\n`);
        } catch (err) {
          fail(err);
        }
      },
    );

  cal
    .command("pc")
    .description(
      "characterise a pulse-capacitor scan run (adaptive gain, charge stepped per train) and store RelativeGain and BadPixelsPC; needs the dark constants of the run's conditions",
    )
    .argument(
      "<run-dir>",
      "scan run directory (e.g. from `sase detector simulate --pc-scan`)",
      existingPath("directory"),
    )
    .requiredOption(
      "--store <dir>",
      "constants store holding the darks (must exist)",
      existingPath("directory"),
    )
    .option("--detector <name>", `detector description (${Object.keys(DETECTORS).join(", ")})`, "AGIPD1M")
    .option("--rows <n>", "the run holds only the first N pixel rows (simulated test data)", integer(1))
    .option(
      "--modules <list>",
      "modules to characterise, e.g. 0-3,8 (default: all present)",
      integerList(0, 63),
    )
    .option("--begin-validity <iso>", "validity start of the new constants (default: start of the run)")
    .action(
      async (
        run: string,
        o: { store: string; detector: string; rows?: number; modules?: number[]; beginValidity?: string },
      ) => {
        try {
          const begin = o.beginValidity ? new Date(o.beginValidity) : undefined;
          if (begin && Number.isNaN(begin.getTime()))
            throw new CliError("BAD_OPTION", `--begin-validity is not a time: "${o.beginValidity}"`);
          await characterisePcRun(run, {
            detector: describe(o.detector, o.rows),
            storeRoot: o.store,
            ...(o.modules ? { modules: o.modules } : {}),
            ...(begin ? { beginValidity: begin } : {}),
            onModule: (m, ids) => process.stdout.write(`module ${m}: stored constants ${ids.join(", ")}\n`),
          });
        } catch (err) {
          fail(err);
        }
      },
    );

  cal
    .command("correct")
    .description(
      "correct a raw run into CORR-R####-<module>-S#####.h5 files (resumes: finished files are kept)",
    )
    .argument("<run-dir>", "raw run directory", existingPath("directory"))
    .argument("<out-dir>", "directory for the corrected files")
    .requiredOption("--store <dir>", "constants store (required; must exist)", existingPath("directory"))
    .option("--detector <name>", `detector description (${Object.keys(DETECTORS).join(", ")})`, "AGIPD1M")
    .option("--rows <n>", "the run holds only the first N pixel rows (simulated test data)", integer(1))
    .option("--modules <list>", "modules to correct, e.g. 0-3,8 (default: all)", integerList(0, 63))
    .option("--workers <n>", "worker threads (default: all cores)", integer(1, 1024))
    .addOption(new Option("--gain-mode <mode>", "gain stage").choices(GAIN_MODES).default("adaptive"))
    .option("--common-mode", "per-ASIC common-mode correction", false)
    .option("--no-relative-gain", "leave medium/low gain pixels in their own ADU")
    .option("--mask-nan", "write NaN where the mask is non-zero (default: keep values)", false)
    .option("--compression <level>", "gzip level of the output (0 = none)", integer(0, 9), 0)
    .addOption(forceOption("corrected files that already exist", "keep them and resume"))
    .action(
      async (
        runDir: string,
        outDir: string,
        o: {
          store: string;
          detector: string;
          rows?: number;
          modules?: number[];
          workers?: number;
          gainMode: string;
          commonMode: boolean;
          relativeGain: boolean;
          maskNan: boolean;
          compression: number;
          force: boolean;
        },
      ) => {
        try {
          const det = describe(o.detector, o.rows);
          const bar = progressBar("correct", "module-trains");
          const summary = await correctRun(runDir, outDir, {
            detector: det,
            storeRoot: o.store,
            modules: o.modules,
            workers: o.workers,
            compression: o.compression,
            force: o.force,
            options: {
              gainMode: o.gainMode as GainMode,
              commonMode: o.commonMode,
              relativeGain: o.relativeGain,
              maskedValue: o.maskNan ? Number.NaN : null,
            },
            onProgress: bar.update,
          });
          bar.stop();
          for (const r of summary.corrected) {
            process.stdout.write(
              `${r.outFile}: ${r.trains} trains, ${r.frames} frames (constants ${r.constantIds.join(", ")})\n`,
            );
          }
          if (summary.skipped.length)
            process.stdout.write(`${summary.skipped.length} file(s) already corrected, kept\n`);
        } catch (err) {
          fail(err);
        }
      },
    );

  cal
    .command("constants")
    .description("list the constants in a store")
    .requiredOption("--store <dir>", "constants store (required; must exist)", existingPath("directory"))
    .option("--json", "one JSON record per line", false)
    .action(async (o: { store: string; json: boolean }) => {
      try {
        const store = await ConstantStore.open(o.store);
        for (const r of store.list()) {
          process.stdout.write(
            o.json
              ? `${JSON.stringify(r)}\n`
              : `${r.id}\t${r.detector}\t${r.module}\t${r.calibration}\t${r.beginValidity}\t[${r.shape}]\t${JSON.stringify(r.conditions)}\n`,
          );
        }
        store.close();
      } catch (err) {
        fail(err);
      }
    });
}

/** The named detector, cut to its first `rows` pixel rows when given (simulated test data). */
function describe(name: string, rows: number | undefined): DetectorDescription {
  const det = detectorByName(name);
  return rows === undefined ? det : reducedDetector(det, { rows });
}
