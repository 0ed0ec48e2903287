// A simulation thread (see sim-threads.ts): simulates module trains on request and transfers their
// buffers back. Simulated detectors are kept per key, so sensors are built once per module.
import { parentPort } from "node:worker_threads";
import { lowerThisThreadPriority, threadNice } from "../core/index.ts";
import { detectorByName, reducedDetector } from "./description.ts";
import { pulseCapacitorLadder, SimulatedDetector } from "./detector.ts";
import type { SimulationKey, SimulationReply, SimulationRequest } from "./sim-threads.ts";

const detectors = new Map<string, SimulatedDetector>();
lowerThisThreadPriority(threadNice("simulation"));

function detectorFor(key: SimulationKey): SimulatedDetector {
  const id = JSON.stringify(key);
  let sim = detectors.get(id);
  if (!sim) {
    let det = detectorByName(key.detector);
    if (key.rows > 0) det = reducedDetector(det, { rows: key.rows });
    // A changed condition (cells, dark gain) makes a new detector; the old one is not needed again.
    if (detectors.size >= 4) detectors.clear();
    sim = new SimulatedDetector(det, {
      seed: key.seed,
      cells: key.cells,
      dark: key.dark,
      pulseCapacitor: key.pcScan ? pulseCapacitorLadder(det) : undefined,
    });
    detectors.set(id, sim);
  }
  return sim;
}

parentPort!.on("message", (req: SimulationRequest) => {
  let reply: SimulationReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const train = detectorFor(req.key).moduleTrain(req.module, req.trainId, req.into);
    for (const a of [train.data, train.cellId, train.pulseId, train.length, train.status]) {
      if (a.buffer instanceof ArrayBuffer && !transfer.includes(a.buffer)) transfer.push(a.buffer);
    }
    reply = { id: req.id, train };
  } catch (e) {
    reply = { id: req.id, error: e instanceof Error ? e.message : String(e) };
  }
  parentPort!.postMessage(reply, transfer);
});
