// Worker thread entry of FramePool: corrects frame ranges of shared-memory trains in place. Arrays in
// the pool's arena are re-viewed on this thread's handle of that memory, so the SIMD kernel (which
// addresses the memory by byte offset) can run on them.
import { parentPort } from "node:worker_threads";
import type { ModuleConstants } from "./constants.ts";
import type { FrameWorkerReply, FrameWorkerRequest } from "./frame-pool.ts";
import { correctFrames } from "./kernel.ts";
import { workerInput } from "./pool.ts";
import { Arena, SimdKernel, simdAvailable } from "./simd.ts";

type ConstantsMessage = Extract<FrameWorkerRequest, { type: "constants" }>;
const modules = new Map<string, { msg: ConstantsMessage; constants: ModuleConstants; simd?: SimdKernel }>();
const { memory } = workerInput<{ memory: WebAssembly.Memory | null }>();
const arena = memory ? Arena.wrap(memory) : null;
const useSimd = arena !== null && simdAvailable();
const port = parentPort!;

port.on("message", (m: FrameWorkerRequest) => {
  if (m.type === "constants") {
    let constants = m.constants;
    let simd: SimdKernel | undefined;
    if (m.inArena && arena && useSimd) {
      constants = {
        ...constants,
        thresholds: arena.view(constants.thresholds),
        offset: arena.view(constants.offset),
        relativeGain: arena.view(constants.relativeGain),
        badPixels: arena.view(constants.badPixels),
      };
      if (constants.pixels % 4 === 0) simd = SimdKernel.create(arena, constants.pixels);
    }
    modules.set(m.key, { msg: m, constants, simd });
    return;
  }
  const c = modules.get(m.key);
  let reply: FrameWorkerReply;
  if (!c) reply = { type: "error", job: m.job, message: `no constants for ${m.key}` };
  else {
    try {
      let { raw, cellId, out } = m;
      if (m.inArena && arena && c.simd) {
        raw = arena.view(raw);
        cellId = arena.view(cellId);
        out = { data: arena.view(out.data), gain: arena.view(out.gain), mask: arena.view(out.mask) };
      }
      const det = c.msg.detector;
      correctFrames(
        c.constants,
        raw,
        cellId,
        m.first,
        m.last,
        out,
        c.msg.options,
        det.asics,
        det.moduleShape[1],
        c.simd,
      );
      reply = { type: "done", job: m.job };
    } catch (e) {
      reply = { type: "error", job: m.job, message: e instanceof Error ? e.message : String(e) };
    }
  }
  port.postMessage(reply);
});
