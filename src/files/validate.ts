// Checks a run or file the way EXtra-data's validator does, reading the files themselves (never the
// run index): train IDs present and strictly increasing, every INDEX first/count inside its datasets,
// contiguous (no gaps, no overlaps), as long as the train list, control timestamps not decreasing,
// and all files of one run. Every problem names the file, the dataset and, where it can, the train.
import { statSync } from "node:fs";
import { basename, join } from "node:path";
import { FilesError } from "./errors.ts";
import { H5File, h5Ready } from "./h5.ts";
import { parseFileName } from "./naming.ts";
import { listRunFiles } from "./runindex.ts";
import { formatVersionOf, readMetadata, readNumbers } from "./scan.ts";

/** One problem found by validation. */
export interface ValidationProblem {
  readonly message: string;
  readonly file: string;
  readonly dataset?: string;
  readonly trainId?: number;
}

/** Options for validateRun. */
export interface RunValidationOptions {
  /** Called after each file: (done, total). */
  readonly onProgress?: (done: number, total: number) => void;
}

type Report = (message: string, dataset?: string, trainId?: number) => void;

function checkTrainIds(ids: Float64Array, report: Report): number {
  const path = "INDEX/trainId";
  const firstZero = ids.indexOf(0);
  if (firstZero >= 0 && ids.subarray(firstZero).some((t) => t !== 0)) {
    report("zeroes in train IDs before the last train", path);
  }
  const n = firstZero >= 0 ? firstZero : ids.length;
  for (let i = 1; i < n; i++) {
    if ((ids[i] as number) <= (ids[i - 1] as number)) {
      report(
        `train IDs are not strictly increasing at entry ${i} (${ids[i - 1]} >= ${ids[i]})`,
        path,
        ids[i],
      );
      break;
    }
  }
  return n;
}

function checkIndexGroup(
  h5: H5File,
  indexPath: string,
  datasets: string[],
  trainIds: Float64Array,
  report: Report,
): void {
  const ix = indexPath.slice(1);
  if (
    !h5.isDataset(`${indexPath}/first`) ||
    !(h5.isDataset(`${indexPath}/count`) || h5.isDataset(`${indexPath}/last`))
  ) {
    report("index group missing or without first/count", ix);
    return;
  }
  const first = readNumbers(h5, `${indexPath}/first`);
  let count: Float64Array;
  if (h5.isDataset(`${indexPath}/count`)) count = readNumbers(h5, `${indexPath}/count`);
  else {
    const last = readNumbers(h5, `${indexPath}/last`);
    const status = readNumbers(h5, `${indexPath}/status`);
    count = first.map((f, i) => (status[i] ? (last[i] as number) - f + 1 : 0));
  }
  if (first.length !== count.length) {
    report(`index first (${first.length}) and count (${count.length}) have different lengths`, ix);
    return;
  }
  // Entries past the trains are the padding of a sequence file cut short (INDEX/trainId's zeros), as
  // EXtra-data reads an index: only the first one per train counts.
  if (first.length < trainIds.length)
    report(`index has ${first.length} entries for ${trainIds.length} trains`, ix);
  const n = Math.min(first.length, trainIds.length);
  // Data bounds: every first+count within each dataset of the group.
  for (const ds of datasets) {
    const rows = h5.info(ds).shape[0] ?? 0;
    for (let i = 0; i < n; i++) {
      const end = (first[i] as number) + (count[i] as number);
      if ((count[i] as number) > 0 && end > rows) {
        report(`index refers to entries up to ${end} but the dataset has ${rows}`, ds.slice(1), trainIds[i]);
        break;
      }
    }
  }
  if (n === 0) return;
  if (first[0] !== 0 && count[0] !== 0) report("index does not start at 0", ix, trainIds[0]);
  for (let i = 0; i + 1 < n; i++) {
    const gap = (first[i + 1] as number) - ((first[i] as number) + (count[i] as number));
    if (count[i + 1] === 0 && gap !== 0) continue; // empty trains may point anywhere
    if (gap > 0) {
      report(
        `gap in index before train ${trainIds[i + 1]} (${first[i]} + ${count[i]} < ${first[i + 1]})`,
        ix,
        trainIds[i + 1],
      );
      break;
    }
    if (gap < 0) {
      report(
        `overlap in index at train ${trainIds[i + 1]} (${first[i]} + ${count[i]} > ${first[i + 1]})`,
        ix,
        trainIds[i + 1],
      );
      break;
    }
  }
}

function declaredSources(h5: H5File, version: string): string[] {
  const path = version === "0.5" ? "/METADATA/dataSourceId" : "/METADATA/dataSources/dataSourceId";
  if (!h5.isDataset(path)) return [];
  return h5.readStrings(path, h5.info(path)).filter(Boolean);
}

/** Validates one open file; returns its METADATA for run-level checks. */
function validateOpenFile(h5: H5File, report: Report): Record<string, string | number> | null {
  if (!h5.isGroup("/METADATA")) {
    report("METADATA group missing", "METADATA");
    return null;
  }
  if (!h5.isDataset("/INDEX/trainId")) {
    report("INDEX/trainId missing", "INDEX/trainId");
    return null;
  }
  const version = formatVersionOf(h5);
  const all = readNumbers(h5, "/INDEX/trainId");
  const n = checkTrainIds(all, report);
  const trainIds = all.subarray(0, n);
  const ids = declaredSources(h5, version);
  if (ids.length === 0)
    report(
      "no data sources listed in METADATA",
      version === "0.5" ? "METADATA/dataSourceId" : "METADATA/dataSources",
    );
  const groups = new Map<string, string[]>();
  for (const id of ids) {
    const slash = id.indexOf("/");
    const category = id.slice(0, slash);
    const name = id.slice(slash + 1);
    if (category !== "CONTROL" && category !== "INSTRUMENT") continue;
    const root = `/${id}`;
    if (!h5.isGroup(root)) {
      report("data source listed in METADATA has no group", id);
      continue;
    }
    const datasets = h5.datasetsBelow(root).map((d) => `${root}/${d}`);
    groups.set(`/INDEX/${name}`, datasets);
    if (category === "CONTROL") {
      for (const ts of datasets.filter((d) => d.endsWith("/timestamp"))) {
        const t = readNumbers(h5, ts);
        for (let i = 1; i < Math.min(t.length, n); i++) {
          if ((t[i] as number) < (t[i - 1] as number) && t[i] !== 0) {
            report(`timestamp decreases at entry ${i}`, ts.slice(1), trainIds[i]);
            break;
          }
        }
      }
    }
  }
  for (const [indexPath, datasets] of groups) checkIndexGroup(h5, indexPath, datasets, trainIds, report);
  return readMetadata(h5, version);
}

/** First and last (non-zero) train ID of an open file, or null when it has none. */
function trainSpan(h5: H5File): { first: number; last: number } | null {
  const ids = readNumbers(h5, "/INDEX/trainId").filter((t) => t !== 0);
  return ids.length ? { first: ids[0] as number, last: ids[ids.length - 1] as number } : null;
}

/** Validates a run directory or a single file; returns every problem found (empty when valid). */
export async function validateRun(
  path: string,
  options: RunValidationOptions = {},
): Promise<ValidationProblem[]> {
  await h5Ready();
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new FilesError("no such file or directory", { file: path, code: "NOT_FOUND" });
  }
  const files = isDir ? listRunFiles(path).map((f) => join(path, f.name)) : [path];
  const problems: ValidationProblem[] = [];
  // A directory without EXDF files is not a valid run (a mistyped path must not pass).
  if (isDir && files.length === 0)
    problems.push({ message: "no HDF5 files (*.h5) in run directory", file: path });
  const runs = new Map<string, string[]>();
  const sequences = new Map<string, { seq: number; file: string; first: number; last: number }[]>();
  files.forEach((file, i) => {
    const name = basename(file);
    const report: Report = (message, dataset, trainId) =>
      problems.push({
        message,
        file: name,
        ...(dataset ? { dataset } : {}),
        ...(trainId !== undefined ? { trainId } : {}),
      });
    let h5: H5File | null = null;
    try {
      h5 = H5File.open(file);
      const md = validateOpenFile(h5, report);
      const parsed = parseFileName(name);
      const runNumber = md?.runNumber ?? parsed?.run;
      const runKey = runNumber === undefined ? "unknown run" : `run ${runNumber}`;
      if (md && parsed && md.runNumber !== undefined && md.runNumber !== parsed.run) {
        report(
          `file name says run ${parsed.run}, METADATA/runNumber says ${md.runNumber}`,
          "METADATA/runNumber",
        );
      }
      runs.set(runKey, [...(runs.get(runKey) ?? []), name]);
      const span = md ? trainSpan(h5) : null;
      if (parsed && span) {
        const list = sequences.get(parsed.aggregator) ?? [];
        list.push({ seq: parsed.sequence, file: name, ...span });
        sequences.set(parsed.aggregator, list);
      }
    } catch (err) {
      const e = err instanceof FilesError ? err : new FilesError((err as Error).message);
      problems.push({
        message: e.message.replace(/^file [^,:]+(, )?:? ?/, ""),
        file: name,
        ...(e.dataset ? { dataset: e.dataset } : {}),
      });
    } finally {
      h5?.close();
    }
    options.onProgress?.(i + 1, files.length);
  });
  // Sequence files of one aggregator continue each other: each starts after the previous one ends.
  for (const list of sequences.values()) {
    list.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1] as (typeof list)[number];
      const cur = list[i] as (typeof list)[number];
      if (cur.first <= prev.last) {
        problems.push({
          message: `trains ${cur.first}..${cur.last} overlap or precede sequence ${prev.seq} (${prev.file}, trains ${prev.first}..${prev.last})`,
          file: cur.file,
          dataset: "INDEX/trainId",
          trainId: cur.first,
        });
      }
    }
  }
  if (runs.size > 1) {
    // The run with most files is the directory's; every file of another run is a problem.
    const sorted = [...runs].sort((a, b) => b[1].length - a[1].length);
    const desc = sorted.map(([k, v]) => `${k}: ${v.length} file(s)`).join("; ");
    for (const [, names] of sorted.slice(1)) {
      for (const f of names)
        problems.push({
          message: `files from more than one run (${desc})`,
          file: f,
          dataset: "METADATA/runNumber",
        });
    }
  }
  return problems;
}
