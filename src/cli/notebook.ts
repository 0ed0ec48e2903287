// CLI commands: sase notebook setup | kernel | run (Jupyter with sase's TypeScript kernel).
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { runKernel, runNotebook, userKernelsDir, writeKernelSpec } from "../notebook/index.ts";
import { existingPath, integer } from "./args.ts";
import { CliError, failCommand } from "./errors.ts";
import { forceOption } from "./force.ts";

function collectParam(text: string, all: Record<string, string>): Record<string, string> {
  const i = text.indexOf("=");
  if (i <= 0) throw new InvalidArgumentError("expected NAME=VALUE");
  return { ...all, [text.slice(0, i)]: text.slice(i + 1) };
}

// The executed notebook and the report: --out names one, the other goes beside it.
function outputs(nb: string, out: string | undefined): { ipynb: string; html: string } {
  const base = out ?? join(process.cwd(), basename(nb).replace(/\.ipynb$/, ".out.ipynb"));
  if (base.endsWith(".html"))
    return { html: resolve(base), ipynb: resolve(base.replace(/\.html$/, ".ipynb")) };
  if (base.endsWith(".ipynb"))
    return { ipynb: resolve(base), html: resolve(base.replace(/\.ipynb$/, ".html")) };
  throw new CliError("BAD_OUTPUT", `--out must end in .html or .ipynb, not "${base}"`);
}

/** Adds this group's commands to the sase program. */
export function registerNotebookCommands(program: Command): void {
  const nb = program
    .command("notebook")
    .description("Jupyter notebooks in TypeScript: setup, kernel, headless runs");
  nb.command("setup")
    .description("install the TypeScript (sase) kernel for Jupyter (Debian's jupyter-notebook runs it)")
    .option(
      "--kernels-dir <dir>",
      "Jupyter kernels folder (default $JUPYTER_DATA_DIR/kernels or ~/.local/share/jupyter/kernels)",
    )
    .action((o: { kernelsDir?: string }) => {
      const dir = writeKernelSpec(o.kernelsDir ?? userKernelsDir());
      console.log(`installed kernel "TypeScript (sase)" in ${dir}`);
      if (!existsSync("/usr/bin/jupyter-notebook"))
        console.log("Jupyter itself: apt-get install jupyter-notebook python3-nbclient python3-nbconvert");
      console.log("start it with: jupyter notebook notebooks/   (pick the kernel TypeScript (sase))");
    });
  nb.command("kernel")
    .description("run the kernel (Jupyter starts this with its connection file)")
    .argument("<connection-file>", "connection file Jupyter wrote", existingPath("file"))
    .action(async (file: string) => {
      await runKernel(file);
      process.exit(0);
    });
  nb.command("run")
    .description(
      "execute a notebook headless in a fresh kernel; writes the executed notebook and an HTML report that starts with provenance; exit 1 names a failing cell",
    )
    .argument("<notebook>", "the .ipynb file", existingPath("file"))
    .addOption(
      new Option("--param <name=value>", "set a parameter (after the cell tagged 'parameters'); repeatable")
        .argParser(collectParam)
        .default({}, "none"),
    )
    .option(
      "--out <file>",
      "report.html or executed.ipynb (the other is written beside it); default NAME.out.ipynb here",
    )
    .option("--timeout <seconds>", "seconds each cell may run", integer(1), 600)
    .addOption(forceOption("existing output files"))
    .action(
      async (
        path: string,
        o: { param: Record<string, string>; out?: string; timeout: number; force: boolean },
      ) => {
        try {
          const out = outputs(path, o.out);
          for (const f of [out.ipynb, out.html]) {
            if (existsSync(f) && !o.force)
              throw new CliError("TARGET_EXISTS", `${f} exists; give --force to replace it`);
          }
          const r = await runNotebook(path, {
            params: o.param,
            outIpynb: out.ipynb,
            outHtml: out.html,
            cellTimeout: o.timeout,
          });
          console.log(`ran ${path} in ${r.seconds.toFixed(1)} s: ${r.ipynb}, ${r.html}`);
        } catch (e) {
          failCommand(e);
        }
      },
    );
}
