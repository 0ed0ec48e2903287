// Worker thread entry of FramePool: corrects frame ranges of shared-memory trains in place.
import { parentPort } from "node:worker_threads";
import type { FrameWorkerReply, FrameWorkerRequest } from "./frame-pool.ts";
import { correctFrames } from "./kernel.ts";

const modules = new Map<string, Extract<FrameWorkerRequest, { type: "constants" }>>();
const port = parentPort!;

port.on("message", (m: FrameWorkerRequest) => {
  if (m.type === "constants") {
    modules.set(m.key, m);
    return;
  }
  const c = modules.get(m.key);
  let reply: FrameWorkerReply;
  if (!c) reply = { type: "error", job: m.job, message: `no constants for ${m.key}` };
  else {
    try {
      correctFrames(
        c.constants,
        m.raw,
        m.cellId,
        m.first,
        m.last,
        m.out,
        c.options,
        c.detector.asics,
        c.detector.moduleShape[1],
      );
      reply = { type: "done", job: m.job };
    } catch (e) {
      reply = { type: "error", job: m.job, message: e instanceof Error ? e.message : String(e) };
    }
  }
  port.postMessage(reply);
});
