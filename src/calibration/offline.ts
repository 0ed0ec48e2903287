// Offline calibration of recorded runs: dark characterisation of three dark runs into the constants
// store, and correction of a raw run into CORR files. Work is split per module (darks) or per raw
// sequence file (correction) over worker threads; every output file is written under a temporary
// name and renamed when complete, so an interrupted run resumes where it stopped and never leaves a
// half-written file behind.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import h5wasm from "h5wasm/node";
import type { DetectorDescription } from "../detector/index.ts";
import { aggregatorName, corrSourceName, rawSourceName } from "../detector/index.ts";
import { createRunWriter, formatFileName, openFile, openRun, parseFileName } from "../files/index.ts";
import { ModuleCorrector, RawDataError } from "./corrector.ts";
import { characteriseDarks, DarkAccumulator } from "./dark.ts";
import { checkDarkRun } from "./dark-check.ts";
import type { CorrectionOptions } from "./kernel.ts";
import { loadModuleConstants, storeDarkConstants } from "./module-constants.ts";
import { runPool } from "./pool.ts";
import { moduleFrames, readRunConditions } from "./run-io.ts";
import type { Conditions } from "./store.ts";
import { ConstantStore } from "./store.ts";

/** The raw sequence files of one module to correct (in order), each into its CORR file. */
export interface CorrectTask {
  readonly files: readonly { readonly rawFile: string; readonly outFile: string }[];
  readonly detector: DetectorDescription;
  readonly module: number;
  readonly run: number;
  readonly proposal: number;
  readonly storeRoot: string;
  readonly conditions: Conditions;
  /** ISO time the constants must be valid for. */
  readonly eventAt: string;
  readonly options: Partial<CorrectionOptions>;
  /** gzip level for the output (0 = none). */
  readonly compression: number;
}

/** What one corrected file holds. */
export interface CorrectResult {
  readonly outFile: string;
  readonly trains: number;
  readonly frames: number;
  /** Ids of the constant versions used. */
  readonly constantIds: readonly number[];
}

/** Corrects one module's raw sequence files, loading its constants once (runs in a worker). */
export async function correctModuleFiles(
  task: CorrectTask,
  progress?: (trains: number) => void,
): Promise<CorrectResult[]> {
  const det = task.detector;
  const store = await ConstantStore.open(task.storeRoot);
  let corrector: ModuleCorrector;
  let ids: number[];
  try {
    const { constants, provenance } = loadModuleConstants(
      store,
      det,
      task.module,
      task.conditions,
      new Date(task.eventAt),
    );
    ids = [provenance.offset.id, provenance.thresholds.id, provenance.badPixels.id];
    if (provenance.relativeGain) ids.push(provenance.relativeGain.id);
    corrector = new ModuleCorrector(det, task.module, constants, task.options);
  } finally {
    store.close();
  }
  const results: CorrectResult[] = [];
  let before = 0;
  for (const f of task.files) {
    const r = await correctSequenceFile(corrector, task, f.rawFile, f.outFile, ids, (n) =>
      progress?.(before + n),
    );
    before += r.trains;
    results.push(r);
  }
  return results;
}

/** Corrects one raw sequence file into its CORR file (temporary name, renamed when complete). */
export async function correctSequenceFile(
  corrector: ModuleCorrector,
  task: Pick<CorrectTask, "run" | "proposal" | "compression">,
  rawFile: string,
  outFile: string,
  constantIds: readonly number[],
  progress?: (trains: number) => void,
): Promise<CorrectResult> {
  const det = corrector.detector;
  const module = corrector.module;
  const dc = await openFile(rawFile);
  const outDir = resolve(outFile, "..");
  const tmp = mkdtempSync(join(outDir, ".sase-correct-"));
  let trains = 0;
  let frames = 0;
  try {
    const agg = aggregatorName(det, module);
    const writer = await createRunWriter(tmp, {
      proposal: task.proposal,
      run: task.run,
      category: "CORR",
      trainsPerSequence: Number.MAX_SAFE_INTEGER,
      flushEvery: 8,
      compression: task.compression,
      writeIndex: false,
    });
    const [ns, nf] = det.moduleShape;
    const source = corrSourceName(det, module);
    writer.addInstrumentSource(source, {
      aggregator: agg,
      keys: {
        "image.data": { dtype: "float32", entryShape: [ns, nf] },
        "image.gain": { dtype: "uint8", entryShape: [ns, nf] },
        "image.mask": { dtype: "uint32", entryShape: [ns, nf] },
        "image.cellId": { dtype: "uint16" },
        "image.pulseId": { dtype: "uint64" },
        "image.trainId": { dtype: "uint64" },
      },
    });
    try {
      for await (const raw of moduleFrames(dc, det, module)) {
        const out = corrector.correctTrain(raw);
        writer.writeTrain(Number(raw.trainId), {
          [source]: {
            "image.data": { dtype: "float32", shape: [out.frames, ns, nf], data: out.data },
            "image.gain": { dtype: "uint8", shape: [out.frames, ns, nf], data: out.gain },
            "image.mask": { dtype: "uint32", shape: [out.frames, ns, nf], data: out.mask },
            "image.cellId": out.cellId,
            "image.pulseId": out.pulseId,
            "image.trainId": new BigUint64Array(out.frames).fill(raw.trainId),
          },
        });
        trains++;
        frames += out.frames;
        progress?.(trains);
      }
    } finally {
      await writer.close();
      dc.close();
    }
    const written = join(
      tmp,
      formatFileName({ category: "CORR", run: task.run, aggregator: agg, sequence: 0 }),
    );
    const seq = parseFileName(basename(outFile))?.sequence ?? 0;
    await setSequenceNumber(written, seq);
    renameSync(written, outFile);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { outFile, trains, frames, constantIds };
}

async function setSequenceNumber(file: string, seq: number): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(file, "a");
  try {
    const ds = f.get("METADATA/sequenceNumber");
    if (ds instanceof h5wasm.Dataset) ds.write_slice([[0, 1]], new Uint32Array([seq]));
  } finally {
    f.close();
  }
}

/** Options of an offline correction. */
export interface CorrectRunOptions {
  readonly detector: DetectorDescription;
  readonly storeRoot: string;
  /** Modules to correct (default: every module with raw files). */
  readonly modules?: readonly number[];
  readonly workers?: number;
  readonly options?: Partial<CorrectionOptions>;
  readonly compression?: number;
  /** Re-correct files whose output already exists. */
  readonly force?: boolean;
  /** Called with the number of trains corrected so far (all files) and the total to do. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Called once the plan is known: files to correct and files skipped (already done). */
  readonly onPlan?: (todo: number, skipped: number) => void;
}

/** Summary of an offline correction. */
export interface CorrectRunSummary {
  readonly corrected: CorrectResult[];
  readonly skipped: string[];
}

/**
 * Corrects a raw run directory into `outDir`: one worker task per module (its constants load once),
 * one output file per raw sequence file; files already corrected are kept unless `force`.
 */
export async function correctRun(
  runDir: string,
  outDir: string,
  o: CorrectRunOptions,
): Promise<CorrectRunSummary> {
  const det = o.detector;
  const dc = await openRun(runDir);
  let rc: ReturnType<typeof readRunConditions>;
  let md: ReturnType<typeof dc.runMetadata>;
  try {
    rc = readRunConditions(dc, det);
    md = dc.runMetadata();
  } finally {
    dc.close();
  }
  const run = Number(md["runNumber"] ?? 0);
  const proposal = Number(md["proposalNumber"] ?? 0);
  mkdirSync(outDir, { recursive: true });
  const wanted = new Set(o.modules ?? Array.from({ length: det.nModules }, (_, m) => m));
  const byModule = new Map<number, { rawFile: string; outFile: string }[]>();
  const skipped: string[] = [];
  let total = 0;
  for (const name of readdirSync(runDir).sort()) {
    const p = parseFileName(name);
    if (p?.category !== "RAW") continue;
    const module = Array.from({ length: det.nModules }, (_, m) => m).find(
      (m) => aggregatorName(det, m) === p.aggregator,
    );
    if (module === undefined || !wanted.has(module)) continue;
    const outFile = join(resolve(outDir), formatFileName({ ...p, category: "CORR" }));
    if (existsSync(outFile) && !o.force) {
      skipped.push(outFile);
      continue;
    }
    const f = await openFile(join(runDir, name));
    const source = rawSourceName(det, module);
    if (f.sources.includes(source)) {
      total += f
        .keyData(source, "image.data")
        .dataCounts()
        .counts.filter((c) => c > 0).length;
    }
    f.close();
    const list = byModule.get(module) ?? [];
    list.push({ rawFile: resolve(runDir, name), outFile });
    byModule.set(module, list);
  }
  const tasks: CorrectTask[] = [...byModule].map(([module, files]) => ({
    files,
    detector: det,
    module,
    run,
    proposal,
    storeRoot: resolve(o.storeRoot),
    conditions: rc.conditions,
    eventAt: rc.eventAt.toISOString(),
    options: o.options ?? {},
    compression: o.compression ?? 0,
  }));
  // Fail before starting any worker when a module's constants are missing.
  const store = await ConstantStore.open(o.storeRoot);
  try {
    for (const m of new Set(tasks.map((t) => t.module))) {
      for (const calibration of ["Offset", "ThresholdsDark", "BadPixelsDark"] as const) {
        store.require({
          detector: det.karaboId,
          module: aggregatorName(det, m),
          calibration,
          conditions: rc.conditions,
          eventAt: rc.eventAt,
          cellOptions: det.cellOptions,
        });
      }
    }
  } finally {
    store.close();
  }
  if (tasks.length === 0 && skipped.length === 0) {
    throw new RawDataError(
      `no raw ${det.name} files (RAW-R####-${aggregatorName(det, 0)}-S#####.h5 ...) in ${runDir}`,
    );
  }
  o.onPlan?.(
    tasks.reduce((n, t) => n + t.files.length, 0),
    skipped.length,
  );
  const doneOf = new Array<number>(tasks.length).fill(0);
  const perModule = await runPool<CorrectTask, CorrectResult[]>(
    new URL("./correct-worker.ts", import.meta.url),
    tasks,
    {
      workers: o.workers,
      onProgress: (i, v) => {
        doneOf[i] = v as number;
        o.onProgress?.(
          doneOf.reduce((a, b) => a + b, 0),
          total,
        );
      },
    },
  );
  const corrected = perModule.flat();
  return { corrected, skipped };
}

/** One module's dark characterisation task. */
export interface DarkTask {
  readonly runDirs: readonly string[];
  readonly detector: DetectorDescription;
  readonly module: number;
  readonly storeRoot: string;
  readonly conditions: Conditions;
  readonly beginValidity: string;
  /** What the constants are characterised from, stored with them (default: the run directories). */
  readonly origin?: string;
}

/** How constants from dark runs name their origin: "dark runs r0003, r0004, r0005". */
export function darkOrigin(runDirs: readonly string[]): string {
  return `dark runs ${runDirs.map((d) => basename(resolve(d))).join(", ")}`;
}

/** Characterises one module from its three dark runs and stores the constants; returns their ids. */
export async function characteriseModule(
  task: DarkTask,
  progress?: (trains: number) => void,
): Promise<number[]> {
  const det = task.detector;
  const cells = task.conditions["Memory cells"]!;
  const accs: DarkAccumulator[] = [];
  let done = 0;
  for (const dir of task.runDirs) {
    const acc = new DarkAccumulator(det, cells);
    const dc = await openRun(dir);
    try {
      for await (const raw of moduleFrames(dc, det, task.module)) {
        acc.add(raw);
        progress?.(++done);
      }
    } finally {
      dc.close();
    }
    accs.push(acc);
  }
  const dark = characteriseDarks(accs);
  const store = await ConstantStore.open(task.storeRoot);
  try {
    return storeDarkConstants(
      store,
      det,
      task.module,
      dark,
      task.conditions,
      new Date(task.beginValidity),
      task.origin ?? darkOrigin(task.runDirs),
    ).map((r) => r.id);
  } finally {
    store.close();
  }
}

/**
 * The conditions constants from three dark runs are stored under. The runs must agree on everything
 * but the gain mode, which is either adaptive in all three (gain switching forced another way) or
 * fixed high, medium and low gain, in that order. The constants then serve adaptive-gain operation:
 * they are stored without "Gain mode", as CalCat leaves out gain mode 0.
 */
export function darkConditions(
  runs: readonly { conditions: Conditions; gainMode: number }[],
  runDirs: readonly string[],
): Conditions {
  const modes = runs.map((r) => r.gainMode);
  const fixed = modes.join() === "1,2,3";
  if (!fixed && modes.some((m) => m !== 0)) {
    const names = ["adaptive", "fixed high", "fixed medium", "fixed low"];
    const wanted = ["high", "medium", "low"];
    const wrong = modes.findIndex((m, k) => m !== k + 1);
    const i = Math.max(wrong, 0);
    throw new RawDataError(
      `dark run ${runDirs[i] ?? runDirs[0]} was taken in ${names[modes[i] ?? 0] ?? `gain mode ${modes[i]}`} gain; the ${wanted[i] ?? "?"}-gain dark run must be fixed ${wanted[i] ?? "?"} gain (or all three adaptive)`,
    );
  }
  const strip = (c: Conditions): Conditions => {
    const { "Gain mode": _mode, ...rest } = c;
    return rest;
  };
  const c0 = strip(runs[0]!.conditions);
  for (let i = 1; i < runs.length; i++) {
    const ci = strip(runs[i]!.conditions);
    if (JSON.stringify(ci) !== JSON.stringify(c0)) {
      throw new RawDataError(
        `dark runs disagree on conditions: ${runDirs[0]} ${JSON.stringify(c0)} vs ${runDirs[i]} ${JSON.stringify(ci)}`,
      );
    }
  }
  return c0;
}

/** Options of a dark characterisation. */
export interface DarkRunsOptions {
  readonly detector: DetectorDescription;
  readonly storeRoot: string;
  readonly modules?: readonly number[];
  readonly workers?: number;
  /** Validity start of the new constants (default: start of the high-gain run). */
  readonly beginValidity?: Date;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Characterises three dark runs (high, medium, low gain) and stores Offset, Noise, ThresholdsDark and
 * BadPixelsDark per module. The three runs must share their conditions (memory cells, rate, bias...).
 */
export async function characteriseDarkRuns(
  runDirs: readonly [string, string, string],
  o: DarkRunsOptions,
): Promise<{ module: number; constantIds: number[] }[]> {
  const det = o.detector;
  const conds = [];
  const present: number[][] = [];
  let trainsTotal = 0;
  for (const dir of runDirs) {
    const dc = await openRun(dir);
    try {
      const rc = readRunConditions(dc, det);
      await checkDarkRun(dc, det, conds.length, rc.gainMode, dir);
      conds.push(rc);
      const sources = new Set(dc.sources);
      present.push(
        Array.from({ length: det.nModules }, (_, m) => m).filter((m) => sources.has(rawSourceName(det, m))),
      );
      trainsTotal += dc.trainIds.length;
    } finally {
      dc.close();
    }
  }
  const c0 = { ...conds[0]!, conditions: darkConditions(conds, runDirs) };
  const inAll = present[0]!.filter((m) => present[1]!.includes(m) && present[2]!.includes(m));
  const modules = o.modules ? o.modules.filter((m) => inAll.includes(m)) : inAll;
  if (modules.length === 0) throw new RawDataError(`no ${det.name} module is present in all three dark runs`);
  const tasks: DarkTask[] = modules.map((module) => ({
    runDirs: runDirs.map((d) => resolve(d)),
    detector: det,
    module,
    storeRoot: resolve(o.storeRoot),
    conditions: c0.conditions,
    beginValidity: (o.beginValidity ?? c0.eventAt).toISOString(),
  }));
  const total = trainsTotal * modules.length;
  const doneOf = new Array<number>(tasks.length).fill(0);
  const ids = await runPool<DarkTask, number[]>(new URL("./dark-worker.ts", import.meta.url), tasks, {
    workers: o.workers,
    onProgress: (i, v) => {
      doneOf[i] = v as number;
      o.onProgress?.(
        doneOf.reduce((a, b) => a + b, 0),
        total,
      );
    },
  });
  return modules.map((module, i) => ({ module, constantIds: ids[i]! }));
}
