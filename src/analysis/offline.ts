// A graph on a recorded run: the run's trains turned into the same AnalysisTrain the live stream gives
// (modules assembled with the detector geometry, frame 0 by default, the XGM's pulse energies, the
// device properties the DAQ recorded for that train), fed to the same GraphRunner.
import {
  AGIPD_1M_DETECTOR,
  agipdQuadrantGeometry,
  corrSourceName,
  type DetectorDescription,
  type DetectorGeometry,
  rawSourceName,
  XGM_OUTPUT,
} from "../detector/index.ts";
import { allocTyped, type DType, isNDArray, SaseError, type TypedArray } from "../core/index.ts";
import type { ArrayInFile, DataCollection } from "../files/index.ts";
import { assembleImage, copyModuleFrame, imageGeometry, trimPulses } from "./detector-image.ts";
import type { GraphRunner } from "./runner.ts";
import { ResultCollector } from "./results.ts";
import type { AnalysisTrain } from "./types.ts";

/** What to read from a run. */
export interface RunAnalysisOptions {
  /** The detector (default AGIPD-1M); its corrected sources are used when the run has them. */
  detector?: DetectorDescription;
  geometry?: DetectorGeometry;
  /** Which frame (memory cell) of each train (default 0, as the live view shows). */
  frame?: number;
  /** Device properties to provide (device id, key); the graph's property nodes name them. */
  properties?: readonly { device: string; key: string }[];
  /** Only these trains (default all). */
  trainIds?: readonly number[];
}

/** The module sources of `det` in this run: corrected ones if any, else raw; null where absent. */
export function moduleSources(run: DataCollection, det: DetectorDescription): (string | null)[] {
  const have = new Set(run.instrumentSources);
  for (const name of [corrSourceName, rawSourceName]) {
    const sources = Array.from({ length: det.nModules }, (_, m) =>
      have.has(name(det, m)) ? name(det, m) : null,
    );
    if (sources.some((s) => s !== null)) return sources;
  }
  throw new SaseError(
    "NOT_FOUND",
    `the run has no module source of ${det.karaboId} (looked for ${rawSourceName(det, 0)}, …)`,
  );
}

/** The run's trains as the graph sees them, one at a time. */
export async function* runTrains(
  run: DataCollection,
  opts: RunAnalysisOptions = {},
): AsyncGenerator<AnalysisTrain> {
  const det = opts.detector ?? AGIPD_1M_DETECTOR;
  const geometry = opts.geometry ?? agipdQuadrantGeometry(det);
  const geo = imageGeometry(geometry);
  const [nss, nfs] = geometry.layout.moduleShape;
  const modulePixels = nss * nfs;
  const sources = moduleSources(run, det);
  const moduleData = sources.map((s) => (s ? run.keyData(s, "image.data") : null));
  const xgm = run.instrumentSources.includes(XGM_OUTPUT) ? run.keyData(XGM_OUTPUT, "data.intensityTD") : null;
  // Properties: the value recorded for each train (control data hold one per train).
  const props = new Map<string, Map<number, number>>();
  for (const { device, key } of opts.properties ?? []) {
    if (!run.controlSources.includes(device)) continue;
    const kd = run.keyData(device, key);
    const values = kd.ndarray().data;
    const byTrain = new Map<number, number>();
    const { trainIds, counts } = kd.dataCounts();
    let i = 0;
    trainIds.forEach((t, k) => {
      if (counts[k]! > 0) byTrain.set(t, Number(values[i]!));
      i += counts[k]!;
    });
    props.set(`${device}\u0000${key}`, byTrain);
  }
  const frame = opts.frame ?? 0;
  const planes = new Map<DType, TypedArray>();
  for (const trainId of opts.trainIds ?? run.trainIds) {
    const stack = new Float32Array(geometry.layout.nModules * modulePixels).fill(Number.NaN);
    moduleData.forEach((kd, m) => {
      if (!kd || m >= geometry.layout.nModules) return;
      const out = stack.subarray(m * modulePixels, (m + 1) * modulePixels);
      // Left in the file, so that only the frame shown is read (see readFramePlane).
      const there = kd.entryShape.length >= 2 ? kd.entriesInFile(trainId) : undefined;
      if (there === null) return; // no data for this train: blank, as live
      if (there && readFramePlane(there, frame, out, planes)) return;
      // Read whole (through HDF5 where it must be), and copyModuleFrame says what is wrong with it.
      const a = kd.trainData(trainId);
      if (!isNDArray(a) || a.shape[0] === 0) return; // no data for this train: blank, as live
      copyModuleFrame(a, frame, out);
    });
    let pulseEnergy: Float64Array = new Float64Array(0);
    if (xgm?.trainIds.includes(trainId)) {
      const e = xgm.trainData(trainId);
      if (isNDArray(e)) pulseEnergy = trimPulses(e.data as ArrayLike<number>);
    }
    yield {
      trainId,
      image: assembleImage(geometry, stack),
      geometry: geo,
      pulseEnergy,
      property: (device, key) => props.get(`${device}\u0000${key}`)?.get(trainId),
    };
  }
}

/**
 * The first plane of entry `frame` (what copyModuleFrame takes) of a module's train left in the file,
 * into `out`: 1/128 of a raw 64-cell train's bytes, read into one buffer per element type (`planes`).
 * False when the entries do not hold it (a frame past them, entries smaller than a module).
 */
function readFramePlane(
  there: ArrayInFile,
  frame: number,
  out: Float32Array,
  planes: Map<DType, TypedArray>,
): boolean {
  const frames = there.shape[0] ?? 0;
  const entryBytes = frames ? there.byteLength / frames : 0;
  const plane = planes.get(there.dtype) ?? allocTyped(there.dtype, out.length);
  planes.set(there.dtype, plane);
  const bytes = new Uint8Array(plane.buffer, plane.byteOffset, out.length * plane.BYTES_PER_ELEMENT);
  if (frame >= frames || bytes.length > entryBytes) return false;
  if (!there.read(frame * entryBytes, bytes)) bytes.fill(0); // chunks never written
  copyModuleFrame({ data: plane, shape: [1, out.length] }, 0, out);
  return true;
}

/** The property nodes' (device, key) pairs of a runner's graph. */
export function graphProperties(runner: GraphRunner): { device: string; key: string }[] {
  return runner.graph.nodes
    .filter((n) => n.kind.kind === "property")
    .map((n) => ({ device: n.params.device as string, key: n.params.key as string }));
}

/** Runs a graph over a run's trains; `onTrain(done, total)` after each (progress bars). */
export async function analyseRun(
  run: DataCollection,
  runner: GraphRunner,
  opts: RunAnalysisOptions & { onTrain?: (done: number, total: number) => void } = {},
): Promise<ResultCollector> {
  const results = new ResultCollector(runner.graph);
  const total = (opts.trainIds ?? run.trainIds).length;
  let done = 0;
  for await (const train of runTrains(run, { ...opts, properties: graphProperties(runner) })) {
    results.add(train.trainId, runner.process(train));
    opts.onTrain?.(++done, total);
  }
  return results;
}
