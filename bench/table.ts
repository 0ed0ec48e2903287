// Run-table benchmark.
//  1. Variables per second on a ~400-file run (2 simulated AGIPD modules + DA01, 2 trains per sequence
//     file): the mean XGM pulse energy and a detector ROI sum over all trains, computed by the table
//     layer (open with the run index, read, compute, store) beside h5py doing what EXtra-data does for
//     the same two values (EXtra-data is not in Debian; see table_h5py.py). Both in the same run of the
//     benchmark, best of SASE_BENCH_TABLE_REPEAT (default 3); results must agree.
//     Size: SASE_BENCH_TABLE_TRAINS (default 268 → 402 files), _CELLS (16), _ROWS (32).
//  2. Latency from "run migrated" to "its row filled" for a 2-module simulated run: migration queues a
//     table job on the local executor, a child `sase table recompute` fills the row. Beside: the same
//     row computed in this process, and the bare start of `sase --version`.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  Catalogue,
  LocalExecutor,
  migrateAndCalibrate,
  rawRunDir,
  SASE_BIN,
  waitForJobs,
} from "../src/daq/index.ts";
import {
  AGIPD_1M_DETECTOR,
  rawSourceName,
  reducedDetector,
  writeSimulatedRun,
  XGM_SOURCE,
} from "../src/detector/index.ts";
import { openRun } from "../src/files/index.ts";
import { computeRun, contextPath, loadContext, submitTableJob, TableStore } from "../src/table/index.ts";
import { tempRoots } from "../test/daq/helpers.ts";
import { writeContext } from "../test/table/helpers.ts";

const TRAINS = Number(process.env.SASE_BENCH_TABLE_TRAINS ?? 268);
const CELLS = Number(process.env.SASE_BENCH_TABLE_CELLS ?? 16);
const ROWS = Number(process.env.SASE_BENCH_TABLE_ROWS ?? 32);
const REPEAT = Number(process.env.SASE_BENCH_TABLE_REPEAT ?? 3);
const det = reducedDetector(AGIPD_1M_DETECTOR, { rows: ROWS });
const DET = rawSourceName(det, 0);
const ROI = [0, 16, 0, 32]; // rows r0..r1, columns c0..c1 of the data plane

const CONTEXT = `
import { defineContext } from "sase";
export default defineContext({
  xgm: {
    title: "XGM mean", unit: "µJ", sources: [${JSON.stringify(XGM_SOURCE)}],
    compute: (run) => {
      const d = run.keyData(${JSON.stringify(XGM_SOURCE)}, "pulseEnergy.photonFlux").ndarray().data as Float32Array;
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i];
      return s / d.length;
    },
  },
  roi: {
    title: "ROI sum", unit: "ADU", sources: [${JSON.stringify(DET)}],
    compute: (run) => {
      const a = run.keyData(${JSON.stringify(DET)}, "image.data").ndarray();
      const [, planes, rows, cols] = a.shape;
      const d = a.data as Uint16Array;
      let s = 0;
      for (let f = 0; f < a.shape[0]; f++) {
        const base = f * planes * rows * cols; // plane 0: the data
        for (let r = ${ROI[0]}; r < ${ROI[1]}; r++)
          for (let c = ${ROI[2]}; c < ${ROI[3]}; c++) s += d[base + r * cols + c];
      }
      return s;
    },
  },
});
`;

function row(label: string, value: string, baseline = ""): void {
  console.log(`  ${label.padEnd(46)} ${value.padStart(12)}   ${baseline}`);
}

// The table job runs `sase`, which uses dist/ when it is up to date (as after `npm ci`): build it.
execFileSync(process.execPath, [join(import.meta.dirname, "..", "scripts", "build.js")]);
const roots = tempRoots();
const cat = Catalogue.open(roots.catalogue);
try {
  // 1. Throughput on a ~400-file run.
  const proposal = 900900;
  const run = cat.openRun({ proposal, onlinePath: (n) => rawRunDir(roots.online, proposal, n) });
  mkdirSync(run.onlinePath, { recursive: true });
  const t0 = performance.now();
  const ids = await writeSimulatedRun(run.onlinePath, {
    detector: det,
    run: run.number,
    proposal,
    trains: TRAINS,
    modules: 2,
    cells: CELLS,
    seed: 1,
    trainsPerSequence: 2,
  });
  const files = readdirSync(run.onlinePath).filter((f) => f.endsWith(".h5")).length;
  const dc = await openRun(run.onlinePath);
  const sources = dc.sources;
  dc.close();
  cat.closeRun(run.id, {
    firstTrain: ids[0]!,
    lastTrain: ids.at(-1)!,
    trains: ids.length,
    sizeBytes: 0,
    sources,
  });
  console.log(
    `run: ${files} files, ${TRAINS} trains × 2 modules × ${CELLS} cells × ${ROWS} rows (simulated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  const path = contextPath(roots.offline, proposal);
  writeContext(path, CONTEXT);
  const context = await loadContext(path);
  const store = new TableStore(cat, roots.catalogue);
  let sase = Number.POSITIVE_INFINITY;
  let perVariable = "";
  let py = { seconds: Number.POSITIVE_INFINITY, xgm: 0, roi: 0, open: 0, maxrss_mib: 0 };
  for (let i = 0; i < REPEAT; i++) {
    execFileSync("sync");
    const t = performance.now();
    const outcomes = await computeRun(store, cat.runById(run.id), context, { force: true });
    const took = (performance.now() - t) / 1000;
    if (took < sase) perVariable = outcomes.map((o) => `${o.name} ${o.seconds.toFixed(3)} s`).join(", ");
    sase = Math.min(sase, took);
    const p = JSON.parse(
      execFileSync("/usr/bin/python3", [
        join(import.meta.dirname, "table_h5py.py"),
        run.onlinePath,
        XGM_SOURCE,
        DET,
        ...ROI.map(String),
      ]).toString(),
    ) as typeof py;
    if (p.seconds < py.seconds) py = p;
  }
  const xgm = store.cell(run.id, "xgm")!.value as number;
  const roi = store.cell(run.id, "roi")!.value as number;
  if (Math.abs(xgm - py.xgm) > 1e-6 * Math.abs(py.xgm) || roi !== py.roi)
    throw new Error(`results differ: sase xgm=${xgm} roi=${roi}, h5py xgm=${py.xgm} roi=${py.roi}`);
  console.log(`variables per second (2 variables, results agree: xgm ${xgm.toFixed(3)}, roi ${roi}):`);
  row(
    "sase table (open by run index + compute + store)",
    `${(2 / sase).toFixed(2)} /s`,
    `${sase.toFixed(3)} s (${perVariable})`,
  );
  row(
    "h5py as EXtra-data (open every file + compute)",
    `${(2 / py.seconds).toFixed(2)} /s`,
    `${py.seconds.toFixed(3)} s (opening ${py.open.toFixed(3)} s), rss ${py.maxrss_mib.toFixed(0)} MiB`,
  );
  row("ratio", `${(py.seconds / sase).toFixed(2)}×`, "goal ≥ 2×");

  // 2. Migrated → row filled.
  const p2 = 900901;
  const small = cat.openRun({ proposal: p2, onlinePath: (n) => rawRunDir(roots.online, p2, n) });
  mkdirSync(small.onlinePath, { recursive: true });
  const ids2 = await writeSimulatedRun(small.onlinePath, {
    detector: det,
    run: small.number,
    proposal: p2,
    trains: 20,
    modules: 2,
    cells: CELLS,
    seed: 2,
  });
  cat.closeRun(small.id, {
    firstTrain: ids2[0]!,
    lastTrain: ids2.at(-1)!,
    trains: 20,
    sizeBytes: 0,
    sources,
  });
  cat.flagRun(small.id, "good");
  writeContext(contextPath(roots.offline, p2), CONTEXT);
  const executor = new LocalExecutor(2);
  let migratedAt = 0;
  const tm = performance.now();
  await migrateAndCalibrate(cat, {
    offlineRoot: roots.offline,
    executor,
    calibrate: false,
    onMigrated: (r) => {
      migratedAt = performance.now();
      return submitTableJob(cat, roots, r, executor.name);
    },
  });
  const [job] = await waitForJobs(cat, executor, { intervalMs: 20, timeoutMs: 120_000 });
  const filled = performance.now();
  if (job?.state !== "done") throw new Error(`table job ${job?.state}: ${job?.error}`);
  const tIn = performance.now();
  await computeRun(store, cat.runById(small.id), await loadContext(contextPath(roots.offline, p2)), {
    force: true,
  });
  const inProcess = (performance.now() - tIn) / 1000;
  const tv = performance.now();
  execFileSync(process.execPath, [SASE_BIN, "--version"]);
  const bare = (performance.now() - tv) / 1000;
  console.log("run migrated → row filled (2-module run, 20 trains, local executor):");
  row("migrated → row filled", `${((filled - migratedAt) / 1000).toFixed(2)} s`, "goal < 10 s");
  row("  migration itself (copy + SHA-256 verify)", `${((migratedAt - tm) / 1000).toFixed(2)} s`);
  row("  baseline: same row computed in this process", `${inProcess.toFixed(3)} s`);
  row("  baseline: bare `sase --version` start", `${bare.toFixed(3)} s`);
  const mem = process.memoryUsage();
  console.log(
    `memory: rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`,
  );
} finally {
  cat.close();
  roots.done();
}
