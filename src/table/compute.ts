// Computing a run's row: every variable of the context in dependency order, each in its own
// try/catch so that an error becomes that cell's content and the others go on. A value is computed
// again only when its variable's definition (or a dependency's) or the run's data changed.
import { createHash } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import type { RunRecord } from "../daq/index.ts";
import { type DataCollection, openRun } from "../files/index.ts";
import type { TableStore } from "./store.ts";
import type { LoadedContext } from "./user-code.ts";
import { ContextError, normaliseResult, type StoredResult, variableVersions } from "./variables.ts";
import { SaseError } from "../core/index.ts";

/** Where a run's data is read from: the offline copy once migrated, else the online folder. */
export function runDataDir(run: RunRecord): string {
  return run.migration === "migrated" && run.offlinePath ? run.offlinePath : run.onlinePath;
}

/** A fingerprint of a run's data: the SHA-256 migration verified for each file where known, else
 * each file's size and modification time. */
export async function dataVersion(store: TableStore, run: RunRecord): Promise<string> {
  const h = createHash("sha256");
  const sums = new Map(store.cat.runFiles(run.id).map((f) => [f.path, f.sourceSha256]));
  const dir = runDataDir(run);
  const names: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) names.push(relative(dir, join(e.parentPath, e.name)));
  }
  for (const name of names.sort()) {
    const sum = sums.get(name);
    if (sum) h.update(`${name}:${sum}\n`);
    else {
      const s = await stat(join(dir, name));
      h.update(`${name}:${s.size}:${s.mtimeMs}\n`);
    }
  }
  return h.digest("hex").slice(0, 16);
}

/** What happened to one variable of one run. */
export interface CellOutcome {
  readonly name: string;
  readonly status: "computed" | "error" | "unchanged";
  readonly error?: string;
  readonly seconds: number;
}

export interface ComputeOptions {
  /** Only these variables (and nothing else; their stored dependencies are used as they are). */
  only?: readonly string[];
  /** Compute even if nothing changed. */
  force?: boolean;
}

// Sources named with * or ? match like the reader's selections.
function hasSource(run: DataCollection, pattern: string): boolean {
  if (!/[*?]/.test(pattern)) return run.sources.includes(pattern);
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
  return run.sources.some((s) => re.test(s));
}

/** Computes (where needed) every variable of `context` for one run and stores the results. */
export async function computeRun(
  store: TableStore,
  run: RunRecord,
  context: LoadedContext,
  opts: ComputeOptions = {},
): Promise<CellOutcome[]> {
  for (const name of opts.only ?? []) {
    if (!context.variables.some(([n]) => n === name)) {
      const names = context.variables.map(([n]) => n).join(", ");
      throw new ContextError(`the context has no variable ${name} (it has: ${names})`);
    }
  }
  store.setColumns(
    run.proposal,
    context.version,
    context.variables.map(([name, v]) => ({ name, title: v.title, unit: v.unit ?? "" })),
  );
  const versions = variableVersions(context.variables);
  const data = await dataVersion(store, run);
  const values = new Map<string, StoredResult | { kind: "error"; message: string }>();
  const outcomes: CellOutcome[] = [];
  let opened: DataCollection | undefined;
  const openData = async () => {
    opened ??= await openRun(runDataDir(run));
    return opened;
  };
  try {
    for (const [name, v] of context.variables) {
      const version = versions.get(name) as string;
      const stored = store.cell(run.id, name);
      const wanted = opts.only ? opts.only.includes(name) : true;
      const current = stored?.variableVersion === version && stored.dataVersion === data;
      if (!wanted || (current && !opts.force)) {
        if (stored) values.set(name, await storedValue(store, stored));
        if (wanted) outcomes.push({ name, status: "unchanged", seconds: 0 });
        continue;
      }
      const t0 = performance.now();
      let result: StoredResult | { kind: "error"; message: string };
      try {
        const deps: Record<string, StoredResult> = {};
        for (const d of v.dependsOn ?? []) {
          const dv = values.get(d);
          if (!dv) throw new SaseError("MISSING_INPUT", `depends on ${d}, which has no value for this run`);
          if (dv.kind === "error")
            throw new SaseError("MISSING_INPUT", `depends on ${d}, which failed: ${dv.message}`);
          deps[d] = dv;
        }
        const dc = await openData();
        const missing = (v.sources ?? []).filter((s) => !hasSource(dc, s));
        if (missing.length > 0)
          throw new SaseError("MISSING_INPUT", `the run has no source ${missing.join(", ")}`);
        result = normaliseResult(
          name,
          await v.compute(dc, { proposal: run.proposal, run: run.number, deps }),
        );
      } catch (e) {
        result = { kind: "error", message: e instanceof Error ? e.message : String(e) };
      }
      const seconds = (performance.now() - t0) / 1000;
      await store.put(run, name, result, { variable: version, context: context.version, data }, seconds);
      values.set(name, result);
      outcomes.push(
        result.kind === "error"
          ? { name, status: "error", error: result.message, seconds }
          : { name, status: "computed", seconds },
      );
    }
  } finally {
    opened?.close();
  }
  return outcomes;
}

async function storedValue(
  store: TableStore,
  cell: ReturnType<TableStore["cells"]>[number],
): Promise<StoredResult | { kind: "error"; message: string }> {
  if (cell.kind === "error") return { kind: "error", message: cell.error ?? "" };
  if (cell.kind === "number") return { kind: "number", value: cell.value as number };
  if (cell.kind === "string") return { kind: "string", value: cell.value as string };
  const { data, shape } = await store.readArray(cell);
  return { kind: cell.kind, value: data, shape };
}
