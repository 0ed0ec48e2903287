// Writes a simulated raw run in EXDF, laid out as the facility's DAQ writes AGIPD runs: one
// aggregator (AGIPD00..15) per module with image.* per frame and header/trailer per train, plus an
// XGM (pulse energies) and the detector's control device (operating conditions) in DA01.
import { createRunWriter, type RunWriter, type TrainInput } from "../files/index.ts";
import type { DetectorDescription, GainStageName } from "./description.ts";
import { aggregatorName, rawPlanes, rawSourceName } from "./description.ts";
import { type PulseCapacitorScan, SimulatedDetector } from "./detector.ts";
import type { RawModuleTrain } from "./simulate.ts";

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
  /** A pulse-capacitor scan (no beam, adaptive gain) instead of photons. */
  readonly pulseCapacitor?: PulseCapacitorScan;
  readonly firstTrain?: number;
  readonly trainsPerSequence?: number;
  readonly operating?: Partial<OperatingConditions>;
  /** Called after every train (progress bars). */
  readonly onTrain?: (done: number, total: number) => void;
}

/** Options of a raw run writer. */
export interface RawRunOptions {
  readonly detector: DetectorDescription;
  readonly run: number;
  readonly proposal?: number;
  /** Module sources to declare (the first N). */
  readonly modules: number;
  /** Frames per train (recorded as bunchStructure.nPulses). */
  readonly cells: number;
  readonly trainsPerSequence?: number;
  readonly operating?: Partial<OperatingConditions>;
  readonly runType?: string;
  readonly sample?: string;
}

/**
 * Writes raw module trains as the DAQ records them (used by the simulator, and by tests and tools that
 * record a live stream). One train = one RawModuleTrain per module plus the pulse energies.
 */
export class RawRunWriter {
  private constructor(
    private readonly writer: RunWriter,
    readonly options: RawRunOptions,
  ) {}

  /** Creates the writer and declares the module, XGM and control sources. */
  static async create(dir: string, o: RawRunOptions): Promise<RawRunWriter> {
    const det = o.detector;
    const writer = await createRunWriter(dir, {
      proposal: o.proposal ?? 900001,
      run: o.run,
      trainsPerSequence: o.trainsPerSequence ?? 256,
      runType: o.runType ?? "",
      sample: o.sample ?? "",
    });
    const [ns, nf] = det.moduleShape;
    for (let m = 0; m < o.modules; m++) {
      writer.addInstrumentSource(rawSourceName(det, m), {
        aggregator: aggregatorName(det, m),
        keys: {
          "image.data": { dtype: "uint16", entryShape: [rawPlanes(det), ns, nf] },
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
    const f64 = { dtype: "float64" as const };
    const i32 = { dtype: "int32" as const };
    writer.addControlSource(det.controlSource, {
      aggregator: "DA01",
      properties: {
        "bunchStructure.nPulses": i32,
        "bunchStructure.repetitionRate": f64,
        "bunchStructure.firstPulse": i32,
        gain: i32,
        gainModeIndex: i32,
        integrationTime: i32,
        "highVoltage.target": f64,
      },
      runValues: controlValues(o),
    });
    writer.addControlSource(XGM_SOURCE, {
      aggregator: "DA01",
      properties: { "pulseEnergy.photonFlux": { dtype: "float32" } },
    });
    writer.addInstrumentSource(XGM_OUTPUT, {
      aggregator: "DA01",
      keys: { "data.intensityTD": { dtype: "float32", entryShape: [XGM_PULSES] } },
    });
    return new RawRunWriter(writer, o);
  }

  /** Writes one train: `modules[m]` is module m's data; `pulseEnergies` (µJ) go to the XGM. */
  writeTrain(trainId: number, modules: readonly RawModuleTrain[], pulseEnergies: Float32Array | null): void {
    const det = this.options.detector;
    const [ns, nf] = det.moduleShape;
    const tid = BigInt(trainId);
    const data: Record<string, Record<string, unknown>> = {};
    modules.forEach((tr, m) => {
      data[rawSourceName(det, m)] = {
        "image.data": { dtype: "uint16", shape: [tr.frames, rawPlanes(det), ns, nf], data: tr.data },
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
    });
    const energies = new Float32Array(XGM_PULSES);
    if (pulseEnergies) energies.set(pulseEnergies.subarray(0, XGM_PULSES));
    const n = Math.min(this.options.cells, XGM_PULSES);
    let mean = 0;
    for (let i = 0; i < n; i++) mean += energies[i]! / n;
    data[XGM_SOURCE] = { "pulseEnergy.photonFlux": mean };
    data[XGM_OUTPUT] = { "data.intensityTD": energies };
    data[det.controlSource] = controlValues(this.options);
    this.writer.writeTrain(trainId, data as TrainInput);
  }

  /** Finishes the files and writes the run index. */
  close(): Promise<void> {
    return this.writer.close();
  }
}

function controlValues(o: RawRunOptions): Record<string, number> {
  const op = { ...DEFAULT_OPERATING, ...o.operating };
  return {
    "bunchStructure.nPulses": o.cells,
    "bunchStructure.repetitionRate": 4.5,
    "bunchStructure.firstPulse": 0,
    gain: op.gainSetting,
    gainModeIndex: op.gainMode,
    integrationTime: op.integrationTime,
    "highVoltage.target": op.biasVoltage,
  };
}

/** Simulates and writes a raw run into `dir` (which must exist); returns the written train ids. */
export async function writeSimulatedRun(dir: string, o: SimulatedRunOptions): Promise<number[]> {
  const det = o.detector;
  const sim = new SimulatedDetector(det, {
    seed: o.seed,
    cells: o.cells,
    modules: o.modules,
    dark: o.dark ?? null,
    ...(o.pulseCapacitor ? { pulseCapacitor: o.pulseCapacitor } : {}),
  });
  const beamOff = Boolean(o.dark || o.pulseCapacitor);
  const writer = await RawRunWriter.create(dir, {
    ...o,
    runType: o.dark ? `dark ${o.dark} gain` : o.pulseCapacitor ? "pulse-capacitor scan" : "simulated photons",
    sample: beamOff ? "No Sample" : "simulated rings",
  });
  const first = o.firstTrain ?? 10000;
  const ids: number[] = [];
  try {
    for (let t = 0; t < o.trains; t++) {
      const trainId = first + t;
      const modules = Array.from({ length: o.modules }, (_, m) => sim.moduleTrain(m, BigInt(trainId)));
      // The XGM sees no pulses in dark runs and scans (beam off).
      writer.writeTrain(trainId, modules, beamOff ? null : sim.pulseEnergies(BigInt(trainId)));
      ids.push(trainId);
      o.onTrain?.(t + 1, o.trains);
    }
  } finally {
    await writer.close();
  }
  return ids;
}
