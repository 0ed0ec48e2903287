// Relative gain from a recorded pulse-capacitor scan run: per module, the dark thresholds of the run's
// conditions tell the gain stage of each value, the scan is fitted, and RelativeGain and BadPixelsPC
// are stored with the run's conditions (less gain mode) and validity from its start.
import { basename, resolve } from "node:path";
import type { DetectorDescription, PulseCapacitorScan } from "../detector/index.ts";
import { pulseCapacitorCharge, pulseCapacitorLadder, rawSourceName } from "../detector/index.ts";
import { openRun } from "../files/index.ts";
import { RawDataError } from "./corrector.ts";
import { loadModuleConstants, storePcConstants } from "./module-constants.ts";
import { characterisePc, PcAccumulator } from "./pc.ts";
import { moduleFrames, readRunConditions } from "./run-io.ts";
import { ConstantStore } from "./store.ts";

/** What to characterise. */
export interface PcRunOptions {
  readonly detector: DetectorDescription;
  readonly storeRoot: string;
  /** The charges the scan injected (default: the detector's ladder, as `detector simulate --pc-scan` runs it). */
  readonly scan?: PulseCapacitorScan;
  readonly modules?: readonly number[];
  readonly beginValidity?: Date;
  readonly onModule?: (module: number, ids: readonly number[]) => void;
}

/** Characterises every (or the given) module of a scan run and stores its constants; returns their ids per module. */
export async function characterisePcRun(
  runDir: string,
  o: PcRunOptions,
): Promise<{ module: number; constantIds: number[] }[]> {
  const det = o.detector;
  const scan = o.scan ?? pulseCapacitorLadder(det);
  const dc = await openRun(runDir);
  const store = await ConstantStore.open(o.storeRoot);
  try {
    const rc = readRunConditions(dc, det);
    if (rc.gainMode !== 0)
      throw new RawDataError(
        `a pulse-capacitor scan runs in adaptive gain; this run has gain mode ${rc.gainMode}`,
      );
    const present = new Set(dc.sources);
    const modules = (o.modules ?? Array.from({ length: det.nModules }, (_, m) => m)).filter((m) =>
      present.has(rawSourceName(det, m)),
    );
    if (modules.length === 0) throw new RawDataError(`no ${det.name} module sources in ${runDir}`);
    const out: { module: number; constantIds: number[] }[] = [];
    for (const m of modules) {
      // The stage of each value comes from the dark thresholds valid for this run's conditions.
      const { constants } = loadModuleConstants(store, det, m, rc.conditions, rc.eventAt);
      const acc = new PcAccumulator(det, rc.memoryCells, constants.thresholds);
      for await (const raw of moduleFrames(dc, det, m)) acc.add(raw, pulseCapacitorCharge(scan, raw.trainId));
      const recs = storePcConstants(
        store,
        det,
        m,
        characterisePc(acc),
        rc.conditions,
        o.beginValidity ?? rc.eventAt,
        `pulse-capacitor scan ${basename(resolve(runDir))}`,
      );
      const ids = recs.map((r) => r.id);
      o.onModule?.(m, ids);
      out.push({ module: m, constantIds: ids });
    }
    return out;
  } finally {
    store.close();
    dc.close();
  }
}
