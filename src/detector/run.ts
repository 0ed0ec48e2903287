// Writes a simulated raw run in EXDF, laid out as the facility's DAQ writes AGIPD runs: one
// aggregator (AGIPD00..15) per module with image.* per frame and header/trailer per train, plus an
// XGM (pulse energies) and the detector's control device (operating conditions) in DA01.
import { createRunWriter, type RunWriter, type TrainInput } from "../files/index.ts";
import type { DetectorDescription, GainStageName } from "./description.ts";
import { aggregatorName, rawSourceName } from "./description.ts";
import { SimulatedDetector } from "./detector.ts";

/** XGM sources written beside the detector. */
export const XGM_SOURCE = "SA1_XTD2_XGM/DOOCS/MAIN";
export const XGM_OUTPUT = "SA1_XTD2_XGM/DOOCS/MAIN:output";
/** Pulses the XGM output holds per train (the facility's fixed-size vectors). */
export const XGM_PULSES = 1000;

/** Operating conditions the simulated detector runs with (written to its control device). */
export interface OperatingConditions {
  /** Sensor bias voltage, V. */
  readonly biasVoltage: number;
  /** 0 or 1 (CDS setting). */
  readonly gainSetting: number;
  /** 0 adaptive, 1/2/3 fixed high/medium/low. */
  readonly gainMode: number;
  readonly integrationTime: number;
}

/** Defaults of the simulated detector's operating conditions. */
export const DEFAULT_OPERATING: OperatingConditions = {
  biasVoltage: 300,
  gainSetting: 0,
  gainMode: 0,
  integrationTime: 12,
};

/** What to simulate. */
export interface SimulatedRunOptions {
  readonly detector: DetectorDescription;
  readonly run: number;
  readonly proposal?: number;
  readonly trains: number;
  readonly modules: number;
  readonly cells: number;
  readonly seed: number;
  readonly dark?: GainStageName | null;
  readonly firstTrain?: number;
  readonly trainsPerSequence?: number;
  readonly operating?: Partial<OperatingConditions>;
  /** Called after every train (progress bars). */
  readonly onTrain?: (done: number, total: number) => void;
}

/** Simulates and writes a raw run into `dir` (which must exist); returns the written train ids. */
export async function writeSimulatedRun(dir: string, o: SimulatedRunOptions): Promise<number[]> {
  const det = o.detector;
  const sim = new SimulatedDetector(det, {
    seed: o.seed,
    cells: o.cells,
    modules: o.modules,
    dark: o.dark ?? null,
  });
  const op = { ...DEFAULT_OPERATING, ...o.operating };
  const writer: RunWriter = await createRunWriter(dir, {
    proposal: o.proposal ?? 900001,
    run: o.run,
    trainsPerSequence: o.trainsPerSequence ?? 256,
    runType: o.dark ? `dark ${o.dark} gain` : "simulated photons",
    sample: o.dark ? "No Sample" : "simulated rings",
  });
  const [ns, nf] = det.moduleShape;
  for (let m = 0; m < o.modules; m++) {
    writer.addInstrumentSource(rawSourceName(det, m), {
      aggregator: aggregatorName(det, m),
      keys: {
        "image.data": { dtype: "uint16", entryShape: [2, ns, nf] },
        "image.cellId": { dtype: "uint16", entryShape: [1] },
        "image.pulseId": { dtype: "uint64", entryShape: [1] },
        "image.trainId": { dtype: "uint64", entryShape: [1] },
        "image.length": { dtype: "uint32", entryShape: [1] },
        "image.status": { dtype: "uint16", entryShape: [1] },
        "header.pulseCount": { dtype: "uint64" },
        "header.trainId": { dtype: "uint64" },
        "trailer.trainId": { dtype: "uint64" },
        "detector.trainId": { dtype: "uint64" },
      },
    });
  }
  const dtype = { dtype: "float64" as const };
  writer.addControlSource(det.controlSource, {
    aggregator: "DA01",
    properties: {
      "bunchStructure.nPulses": { dtype: "int32" },
      "bunchStructure.repetitionRate": dtype,
      "bunchStructure.firstPulse": { dtype: "int32" },
      gain: { dtype: "int32" },
      gainModeIndex: { dtype: "int32" },
      integrationTime: { dtype: "int32" },
      "highVoltage.target": dtype,
    },
    runValues: {
      "bunchStructure.nPulses": o.cells,
      "bunchStructure.repetitionRate": 4.5,
      "bunchStructure.firstPulse": 0,
      gain: op.gainSetting,
      gainModeIndex: op.gainMode,
      integrationTime: op.integrationTime,
      "highVoltage.target": op.biasVoltage,
    },
  });
  writer.addControlSource(XGM_SOURCE, {
    aggregator: "DA01",
    properties: { "pulseEnergy.photonFlux": { dtype: "float32" } },
  });
  writer.addInstrumentSource(XGM_OUTPUT, {
    aggregator: "DA01",
    keys: { "data.intensityTD": { dtype: "float32", entryShape: [XGM_PULSES] } },
  });
  const first = o.firstTrain ?? 10000;
  const ids: number[] = [];
  try {
    for (let t = 0; t < o.trains; t++) {
      const trainId = first + t;
      const tid = BigInt(trainId);
      const data: Record<string, Record<string, unknown>> = {};
      for (let m = 0; m < o.modules; m++) {
        const tr = sim.moduleTrain(m, tid);
        data[rawSourceName(det, m)] = {
          "image.data": { dtype: "uint16", shape: [tr.frames, 2, ns, nf], data: tr.data },
          "image.cellId": tr.cellId,
          "image.pulseId": tr.pulseId,
          "image.trainId": new BigUint64Array(tr.frames).fill(tid),
          "image.length": tr.length,
          "image.status": tr.status,
          "header.pulseCount": BigInt(tr.frames),
          "header.trainId": tid,
          "trailer.trainId": tid,
          "detector.trainId": tid,
        };
      }
      const energies = new Float32Array(XGM_PULSES);
      // The XGM sees no pulses in dark runs (beam off).
      if (!o.dark) energies.set(sim.pulseEnergies(tid));
      let mean = 0;
      for (let i = 0; i < o.cells; i++) mean += energies[i]! / o.cells;
      data[XGM_SOURCE] = { "pulseEnergy.photonFlux": mean };
      data[XGM_OUTPUT] = { "data.intensityTD": energies };
      data[det.controlSource] = {
        "bunchStructure.nPulses": o.cells,
        "bunchStructure.repetitionRate": 4.5,
        "bunchStructure.firstPulse": 0,
        gain: op.gainSetting,
        gainModeIndex: op.gainMode,
        integrationTime: op.integrationTime,
        "highVoltage.target": op.biasVoltage,
      };
      writer.writeTrain(trainId, data as TrainInput);
      ids.push(trainId);
      o.onTrain?.(t + 1, o.trains);
    }
  } finally {
    await writer.close();
  }
  return ids;
}
