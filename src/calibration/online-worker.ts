// An online correction thread (see online-threads.ts): loads modules' constants from the store and
// corrects their trains, handing corrected arrays back by transfer.
import { parentPort } from "node:worker_threads";
import { lowerThisThreadPriority, threadNice } from "../core/index.ts";
import { detectorByName, reducedDetector } from "../detector/index.ts";
import { ConstantsError } from "./constants.ts";
import { ModuleCorrector } from "./corrector.ts";
import { loadModuleConstants } from "./module-constants.ts";
import type { ConstantUse, OnlineReply, OnlineRequest } from "./online-threads.ts";
import { ConstantStore } from "./store.ts";

const correctors = new Map<string, ModuleCorrector>();
lowerThisThreadPriority(threadNice("correction"));

async function handle(req: OnlineRequest): Promise<[OnlineReply, ArrayBuffer[]]> {
  if (req.type === "drop") {
    correctors.delete(req.slot);
    return [{ id: req.id, dropped: true }, []];
  }
  if (req.type === "load") {
    const s = req.setup;
    let det = detectorByName(s.detector);
    if (s.rows > 0) det = reducedDetector(det, { rows: s.rows });
    const store = await ConstantStore.open(s.storeRoot);
    try {
      const { constants, provenance } = loadModuleConstants(
        store,
        det,
        s.module,
        s.conditions,
        new Date(s.eventAt),
      );
      correctors.set(req.slot, new ModuleCorrector(det, s.module, constants, s.options));
      const used: ConstantUse[] = [
        provenance.offset,
        provenance.thresholds,
        provenance.badPixels,
        ...(provenance.relativeGain ? [provenance.relativeGain] : []),
        ...(provenance.badPixelsPC ? [provenance.badPixelsPC] : []),
      ].map((r) => ({
        id: r.id,
        calibration: r.calibration,
        beginValidity: r.beginValidity,
        createdAt: r.createdAt,
        origin: r.origin,
      }));
      return [{ id: req.id, loaded: used }, []];
    } finally {
      store.close();
    }
  }
  const corrector = correctors.get(req.slot);
  if (!corrector) throw new ConstantsError(`${req.slot}: no constants loaded`);
  const { staged, length, ...raw } = req.raw;
  const out = corrector.correctTrain({ ...raw, data: new Uint16Array(staged, 0, length) }, req.into);
  const transfer = [out.data, out.gain, out.mask, out.cellId, out.pulseId]
    .map((a) => a.buffer)
    .filter((b, i, all): b is ArrayBuffer => b instanceof ArrayBuffer && all.indexOf(b) === i);
  return [{ id: req.id, out }, transfer];
}

parentPort!.on("message", (req: OnlineRequest) => {
  handle(req).then(
    ([reply, transfer]) => parentPort!.postMessage(reply, transfer),
    (e: unknown) => {
      parentPort!.postMessage({
        id: req.id,
        error: e instanceof Error ? e.message : String(e),
        // Missing or unusable constants are a condition to show, not a crash.
        constants: e instanceof ConstantsError,
      } satisfies OnlineReply);
    },
  );
});
