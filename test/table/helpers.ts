// Shared helpers for run-table tests: simulated runs catalogued as the DAQ would, and a context file.
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { type Catalogue, type DataRoots, rawRunDir, type RunRecord } from "../../src/daq/index.ts";
import {
  AGIPD_1M_DETECTOR,
  type DetectorDescription,
  reducedDetector,
  writeSimulatedRun,
} from "../../src/detector/index.ts";
import { openRun } from "../../src/files/index.ts";
import { type CliRun, runCliInProcess } from "../helpers/cli.ts";

/** A small simulated AGIPD run (2 modules, 16 rows unless `detector` says otherwise, 4 cells) written online, closed and flagged good. */
export async function simulatedRun(
  cat: Catalogue,
  roots: DataRoots,
  proposal: number,
  o: { trains?: number; seed?: number; detector?: DetectorDescription } = {},
): Promise<RunRecord> {
  const run = cat.openRun({ proposal, onlinePath: (n) => rawRunDir(roots.online, proposal, n) });
  mkdirSync(run.onlinePath, { recursive: true });
  const ids = await writeSimulatedRun(run.onlinePath, {
    detector: o.detector ?? reducedDetector(AGIPD_1M_DETECTOR, { rows: 16 }),
    run: run.number,
    proposal,
    trains: o.trains ?? 5,
    modules: 2,
    cells: 4,
    seed: o.seed ?? run.number,
  });
  const dc = await openRun(run.onlinePath);
  const sources = dc.sources;
  dc.close();
  cat.closeRun(run.id, {
    firstTrain: ids[0]!,
    lastTrain: ids[ids.length - 1]!,
    trains: ids.length,
    sizeBytes: 0,
    sources,
  });
  return cat.flagRun(run.id, "good");
}

/** Writes a context file. */
export function writeContext(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** A context with every kind of value, an error, and dependencies (one on the failing variable). */
export const CONTEXT = `
import { defineContext, XGM_SOURCE, XGM_OUTPUT, type DataCollection } from "sase";

const DET = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf";

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

export default defineContext({
  xgm: {
    title: "XGM mean",
    unit: "µJ",
    sources: [XGM_SOURCE],
    compute: (run: DataCollection) => mean(run.keyData(XGM_SOURCE, "pulseEnergy.photonFlux").ndarray().data as Float32Array),
  },
  xgmDouble: {
    title: "Twice XGM",
    dependsOn: ["xgm"],
    compute: (_run, { deps }) => (deps.xgm.kind === "number" ? deps.xgm.value * 2 : Number.NaN),
  },
  roi: {
    title: "ROI sum",
    unit: "ADU",
    sources: [DET],
    compute: (run) => {
      const d = run.keyData(DET, "image.data").ndarray();
      let s = 0;
      for (let i = 0; i < d.data.length; i += 7) s += Number(d.data[i]);
      return s;
    },
  },
  label: { title: "Label", compute: (_run, { run }) => "run " + run },
  pulses: {
    title: "XGM per pulse",
    sources: [XGM_OUTPUT],
    compute: (run) => run.keyData(XGM_OUTPUT, "data.intensityTD").ndarray().data.subarray(0, 4),
  },
  image: {
    title: "Frame",
    compute: () => ({ dtype: "float64", shape: [2, 3], data: new Float64Array([1, 2, 3, 4, 5, 6]) }),
  },
  broken: {
    title: "Broken",
    compute: () => {
      throw new Error("no beam in this run");
    },
  },
  afterBroken: { title: "After broken", dependsOn: ["broken"], compute: () => 1 },
  missing: { title: "Needs a camera", sources: ["SPB_CAM/NONE"], compute: () => 1 },
});
`;

/** Runs `sase table ...` in this process; returns what it printed and its exit code. */
export async function tableCli(...args: string[]): Promise<CliRun> {
  const { registerTableCommands } = await import("../../src/cli/table.ts");
  return runCliInProcess(registerTableCommands, args);
}
