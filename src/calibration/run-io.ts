// Reading what calibration needs from raw EXDF runs: a module's frames train by train, and the
// operating conditions (from the detector's control device, else inferred from the data, as the
// facility's tools fall back to the XTDF pulse ids).
import { isNDArray } from "../core/index.ts";
import type { DetectorDescription } from "../detector/index.ts";
import { decodeRaw, memoryCellsCondition, rawPlanes, rawSourceName } from "../detector/index.ts";
import type { DataCollection, RunValue } from "../files/index.ts";
import type { RawFrames } from "./corrector.ts";
import { RawDataError } from "./corrector.ts";
import type { Conditions } from "./store.ts";
import { agipdConditions } from "./store.ts";

/** Conditions of a run and the time constants must be valid for. */
export interface RunConditions {
  readonly conditions: Conditions;
  /** Run start (METADATA creationDate). */
  readonly eventAt: Date;
  readonly memoryCells: number;
  /** 0 adaptive, 1/2/3 fixed high/medium/low. */
  readonly gainMode: number;
}

/** Parses the facility's compact UTC time "20261125T211049Z". */
export function parseExdfDate(text: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return null;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

function num(values: Record<string, RunValue>, key: string): number | undefined {
  const v = values[`${key}.value`] ?? values[key];
  return typeof v === "number" ? v : undefined;
}

/** Reads (or infers) the operating conditions of a raw run of `det`. */
export function readRunConditions(
  dc: DataCollection,
  det: DetectorDescription,
  defaults: { biasVoltage?: number; gainSetting?: number } = {},
): RunConditions {
  const sources = new Set(dc.sources);
  const modules = Array.from({ length: det.nModules }, (_, m) => rawSourceName(det, m)).filter((s) =>
    sources.has(s),
  );
  const first = modules[0];
  if (!first)
    throw new RawDataError(`no ${det.name} module sources (${rawSourceName(det, 0)}, ...) in this run`);
  const ctrl = sources.has(det.controlSource) ? dc.runValues(det.controlSource) : {};
  // Highest cell id and smallest pulse-id step over the first module's first trains with frames (a
  // module that skipped the run's first trains, e.g. backed off on a loaded host, has none there).
  const { trainIds, counts } = dc.keyData(first, "image.cellId").dataCounts();
  const withFrames = trainIds.filter((_, i) => counts[i]! > 0).slice(0, 3);
  if (withFrames.length === 0) throw new RawDataError(`${first} has no frames in this run`);
  const sel = dc.selectTrains({ ids: withFrames });
  const cells = sel.keyData(first, "image.cellId").ndarray().data;
  const pulses = sel.keyData(first, "image.pulseId").ndarray().data;
  let maxCell = 0;
  for (const c of cells) maxCell = Math.max(maxCell, Number(c));
  let step = Number.POSITIVE_INFINITY;
  for (let i = 1; i < pulses.length; i++) {
    const d = Number(pulses[i]!) - Number(pulses[i - 1]!);
    if (d > 0) step = Math.min(step, d);
  }
  const nPulses = num(ctrl, "bunchStructure.nPulses");
  // The run's own count (constants record it; lookups snap it to the detector's options).
  const memoryCells = Math.max(maxCell + 1, nPulses ?? 1);
  memoryCellsCondition(det, memoryCells - 1); // throws beyond the detector's largest count
  const rate =
    num(ctrl, "bunchStructure.repetitionRate") ??
    (Number.isFinite(step) ? Math.round((Math.floor(45 / step) / 10) * 10) / 10 : 4.5);
  const gainMode = num(ctrl, "gainModeIndex") ?? 0;
  const conditions = agipdConditions({
    memoryCells,
    acquisitionRate: rate,
    biasVoltage: num(ctrl, "highVoltage.target") ?? defaults.biasVoltage ?? 300,
    gainSetting: num(ctrl, "gain") ?? defaults.gainSetting ?? 0,
    gainMode,
    integrationTime: num(ctrl, "integrationTime") ?? 12,
    pixelsX: det.moduleShape[0],
    pixelsY: det.moduleShape[1],
  });
  const created = dc.runMetadata()["creationDate"];
  const eventAt = (typeof created === "string" && parseExdfDate(created)) || new Date();
  return { conditions, eventAt, memoryCells, gainMode };
}

/** A module's raw frames, train by train (trains without frames are skipped). */
export async function* moduleFrames(
  dc: DataCollection,
  det: DetectorDescription,
  module: number,
): AsyncGenerator<RawFrames> {
  const source = rawSourceName(det, module);
  const kd = dc.keyData(source, "image.data");
  const [ns, nf] = det.moduleShape;
  const planes = rawPlanes(det);
  if (kd.entryShape.join() !== [planes, ns, nf].join()) {
    throw new RawDataError(
      `${source} image.data entries are [${kd.entryShape}], ${det.name} raw data is [${planes}, ${ns}, ${nf}]`,
    );
  }
  const sel = dc.select(source, ["image.data", "image.cellId", "image.pulseId"]);
  for await (const { trainId, data } of sel.trains({ batch: 4 })) {
    const d = data[source];
    const img = d?.["image.data"];
    const cell = d?.["image.cellId"];
    const pulse = d?.["image.pulseId"];
    if (!isNDArray(img) || !isNDArray(cell) || !isNDArray(pulse)) continue;
    const frames = img.shape[0] ?? 0;
    if (frames === 0) continue;
    yield {
      trainId: BigInt(trainId),
      frames,
      data: decodeRaw(det, img.data as Uint16Array, frames),
      cellId: cell.data as Uint16Array,
      pulseId: pulse.data as BigUint64Array,
    };
  }
}
