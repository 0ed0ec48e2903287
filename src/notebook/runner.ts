// Headless notebook runs: parameters injected after the cell tagged "parameters" (as papermill does),
// a provenance cell first (sase version, inputs with SHA-256, parameters, time, host), executed in a
// fresh kernel by Jupyter's own nbclient (Debian's python3-nbclient), then written as the executed
// notebook and an HTML report (nbconvert). A failing cell fails the run, named by number and first line.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { SASE_VERSION, SaseError } from "../core/index.ts";
import { KERNEL_NAME, writeKernelSpec } from "./kernelspec.ts";

/** A cell of an .ipynb file (the fields we read and write). */
interface Cell {
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  metadata: { tags?: string[]; [k: string]: unknown };
  outputs?: { output_type: string; ename?: string; evalue?: string }[];
  execution_count?: number | null;
}

interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** Thrown when a notebook cannot be run or a cell of it failed. */
export class NotebookError extends SaseError {
  override readonly name = "NotebookError";
  constructor(
    message: string,
    /** Index (0-based, in the notebook as given) of the failing cell, when a cell failed. */
    readonly cell?: number,
  ) {
    super(cell === undefined ? "NOTEBOOK" : "CELL_FAILED", message);
  }
}

export interface NotebookRunOptions {
  /** Parameter values by name (JSON where they parse as JSON, else strings). */
  params?: Record<string, string>;
  /** Executed notebook path (.ipynb); the HTML report goes beside it with .html. */
  outIpynb: string;
  outHtml: string;
  /** Seconds a cell may run (default 600). */
  cellTimeout?: number;
}

/** What a run produced. */
export interface NotebookRunResult {
  readonly ipynb: string;
  readonly html: string;
  readonly provenance: Provenance;
  readonly seconds: number;
}

/** The record a report starts with. */
export interface Provenance {
  sase: string;
  notebook: { path: string; sha256: string };
  parameters: Record<string, unknown>;
  inputs: { parameter: string; path: string; sha256: string; files: number }[];
  startedAt: string;
  host: string;
  node: string;
  kernel: string;
}

const text = (c: Cell) => (Array.isArray(c.source) ? c.source.join("") : c.source);

function sha256(path: string): { sha256: string; files: number } {
  if (!statSync(path).isDirectory()) {
    return { sha256: createHash("sha256").update(readFileSync(path)).digest("hex"), files: 1 };
  }
  // A folder (a run): the hash of its files' names and hashes, in name order.
  const h = createHash("sha256");
  let files = 0;
  const names = readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
  for (const f of names) {
    h.update(`${f.slice(path.length + 1)}:${createHash("sha256").update(readFileSync(f)).digest("hex")}\n`);
    files++;
  }
  return { sha256: h.digest("hex"), files };
}

function parseValue(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Reads a notebook, injects parameters and provenance; returns it with the provenance. */
export function prepareNotebook(
  path: string,
  params: Record<string, string>,
): { nb: Notebook; provenance: Provenance; origin: (number | null)[] } {
  let nb: Notebook;
  try {
    nb = JSON.parse(readFileSync(path, "utf8")) as Notebook;
  } catch (e) {
    throw new NotebookError(`cannot read notebook ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(nb.cells)) throw new NotebookError(`${path} is not a Jupyter notebook (no cells)`);
  const parameters = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, parseValue(v)]));
  for (const k of Object.keys(parameters)) {
    if (!/^[A-Za-z_$][\w$]*$/.test(k)) throw new NotebookError(`parameter name "${k}" is not an identifier`);
  }
  const inputs: Provenance["inputs"] = [];
  for (const [k, v] of Object.entries(parameters)) {
    if (typeof v !== "string") continue;
    try {
      statSync(v);
    } catch {
      continue;
    }
    inputs.push({ parameter: k, path: resolve(v), ...sha256(v) });
  }
  const provenance: Provenance = {
    sase: SASE_VERSION,
    notebook: { path: resolve(path), ...{ sha256: sha256(path).sha256 } },
    parameters,
    inputs,
    startedAt: new Date().toISOString(),
    host: hostname(),
    node: process.version,
    kernel: KERNEL_NAME,
  };
  const cells = [...nb.cells];
  // Index of each prepared cell in the notebook as given (null: a cell we added).
  const origin: (number | null)[] = cells.map((_, i) => i);
  if (Object.keys(parameters).length > 0) {
    const at = cells.findIndex((c) => c.metadata?.tags?.includes("parameters"));
    const injected: Cell = {
      cell_type: "code",
      source: `// Parameters given to sase notebook run\n${Object.entries(parameters)
        .map(([k, v]) => `const ${k} = ${JSON.stringify(v)};`)
        .join("\n")}`,
      metadata: { tags: ["injected-parameters"] },
      outputs: [],
      execution_count: null,
    };
    cells.splice(at + 1, 0, injected); // no parameters cell: first
    origin.splice(at + 1, 0, null);
  }
  const rows = [
    ["sase", provenance.sase],
    ["notebook", `${provenance.notebook.path} (sha256 ${provenance.notebook.sha256})`],
    ["parameters", Object.keys(parameters).length ? JSON.stringify(parameters) : "(defaults)"],
    ...inputs.map((i) => [
      `input ${i.parameter}`,
      `${i.path} (${i.files} file${i.files === 1 ? "" : "s"}, sha256 ${i.sha256})`,
    ]),
    ["started", provenance.startedAt],
    ["host", `${provenance.host} (node ${provenance.node}, kernel ${provenance.kernel})`],
  ];
  origin.unshift(null);
  cells.unshift({
    cell_type: "markdown",
    source: `## Provenance\n\n| | |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | \`${String(v).replace(/\|/g, "\\|")}\` |`).join("\n")}\n`,
    metadata: { tags: ["provenance"] },
  });
  return { nb: { ...nb, cells, metadata: { ...nb.metadata, sase: { provenance } } }, provenance, origin };
}

// The Python side: nbclient executes, nbconvert renders. Exit 3 names the failing cell on stdout.
const DRIVER = `
import json, sys, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
src, out_nb, out_html, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, timeout=timeout, kernel_name="${KERNEL_NAME}", allow_errors=False,
                        resources={"metadata": {"path": sys.argv[5]}})
failed = None
try:
    client.execute()
except CellExecutionError as e:
    for i, c in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            failed = i
            break
    if failed is None:
        failed = -1
nbformat.write(nb, out_nb)
html, _ = HTMLExporter().from_notebook_node(nb)
open(out_html, "w", encoding="utf-8").write(html)
if failed is not None:
    c = nb.cells[failed] if failed >= 0 else None
    err = next((o for o in c.get("outputs", []) if o.get("output_type") == "error"), {}) if c else {}
    print(json.dumps({"cell": failed, "ename": err.get("ename", ""), "evalue": err.get("evalue", "")}))
    sys.exit(3)
`;

/** Runs a notebook headless in a fresh kernel; throws NotebookError naming a failing cell. */
export async function runNotebook(path: string, opts: NotebookRunOptions): Promise<NotebookRunResult> {
  const t0 = performance.now();
  const { nb, provenance, origin } = prepareNotebook(path, opts.params ?? {});
  // A kernelspec of this very checkout, in a private folder: the run never uses another install's.
  const jupyter = mkdtempSync(join(tmpdir(), "sase-notebook-"));
  try {
    writeKernelSpec(join(jupyter, "kernels"));
    for (const f of [opts.outIpynb, opts.outHtml]) mkdirSync(dirname(f), { recursive: true });
    const prepared = join(jupyter, basename(path));
    writeFileSync(prepared, JSON.stringify(nb, null, 1));
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(
        "/usr/bin/python3",
        [
          "-c",
          DRIVER,
          prepared,
          opts.outIpynb,
          opts.outHtml,
          String(opts.cellTimeout ?? 600),
          dirname(resolve(path)),
        ],
        { env: { ...process.env, JUPYTER_PATH: jupyter }, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => done({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });
    if (result.code === 3) {
      const f = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}") as {
        cell: number;
        ename: string;
        evalue: string;
      };
      const cell = nb.cells[f.cell];
      const first = cell ? text(cell).split("\n")[0]?.slice(0, 60) : "";
      // Numbered as in the notebook the user gave (provenance and injected parameters are ours).
      const n = origin[f.cell] ?? undefined;
      const which = n === undefined ? "the injected parameters cell" : `cell ${n + 1}`;
      throw new NotebookError(
        `${which} failed (${first}): ${f.ename}: ${f.evalue} — executed notebook in ${opts.outIpynb}, report in ${opts.outHtml}`,
        n,
      );
    }
    if (result.code !== 0) {
      const why = result.stderr.trim().split("\n").slice(-3).join(" ");
      throw new NotebookError(`Jupyter could not run ${path}: ${why || `exit status ${result.code}`}`);
    }
    return { ipynb: opts.outIpynb, html: opts.outHtml, provenance, seconds: (performance.now() - t0) / 1000 };
  } finally {
    rmSync(jupyter, { recursive: true, force: true });
  }
}
