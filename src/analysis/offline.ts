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
import { isNDArray, SaseError, showValue, type TypedArray } from "../core/index.ts";
import type { DataCollection } from "../files/index.ts";
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
  // Frames per train of each module; with one entry per frame, only the frame shown is read (1/64 of
  // a 64-cell train's bytes), into one buffer reused for every module and train.
  const framesOf = moduleData.map((kd) => {
    if (!kd || kd.entryShape.length < 2) return null;
    const { trainIds, counts } = kd.dataCounts();
    return new Map(trainIds.map((t, k) => [t, counts[k] as number]));
  });
  const buffers = new Map<string, TypedArray>(); // one entry's memory per element type, reused
  for (const trainId of opts.trainIds ?? run.trainIds) {
    const stack = new Float32Array(geometry.layout.nModules * modulePixels).fill(Number.NaN);
    moduleData.forEach((kd, m) => {
      if (!kd || m >= geometry.layout.nModules) return;
      const out = stack.subarray(m * modulePixels, (m + 1) * modulePixels);
      const frames = framesOf[m]?.get(trainId);
      if (frames !== undefined) {
        if (frames === 0) return; // no data for this train: blank, as live
        if (frame >= frames)
          throw new SaseError("BAD_OPTION", `frame ${frame} asked for, the module has ${frames}`, {
            value: showValue(frame),
          });
        const key = `${kd.dtype} ${kd.entryShape.join(",")}`;
        const one = kd.trainEntries(trainId, frame, 1, { out: buffers.get(key) });
        if (!one) return;
        buffers.set(key, one.data);
        copyModuleFrame(one, 0, out);
        return;
      }
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
