// Worker threads running TypeScript modules: every layer that moves work off the event loop (detector
// simulation, correction) starts its threads here. A worker started on a .ts file does not inherit the
// parent's --import tsx loader, so the worker registers tsx's API before importing its module.
import { Worker, workerData } from "node:worker_threads";

/** Starts a worker thread on a TypeScript module (`entry`) with `data` as its workerData.data. */
export function startTsWorker(entry: URL, data: unknown = null): Worker {
  // Compiled (dist/, see scripts/build.js), the worker module is the .js beside this one: no tsx.
  if (import.meta.url.endsWith(".js")) {
    return new Worker(new URL(entry.href.replace(/\.ts$/, ".js")), { workerData: { data } });
  }
  const tsx = import.meta.resolve("tsx/esm/api");
  // scripts/untranspiled.mjs (npm test, benches, bin/sase.js from a checkout) keeps tsx off h5wasm's
  // 4 MB build; a worker that opens HDF5 files needs it as much as its parent (seconds of CPU each).
  const asIs = (globalThis as Record<symbol, unknown>)[Symbol.for("sase.untranspiled")];
  const boot = `const { workerData } = require("node:worker_threads");
import(workerData.tsx)
  .then((m) => { m.register(); return workerData.asIs ? import(workerData.asIs) : null; })
  .then(() => import(workerData.entry)).catch((e) => { throw e; });`;
  return new Worker(boot, {
    eval: true,
    workerData: { tsx, asIs: typeof asIs === "string" ? asIs : null, entry: entry.href, data },
  });
}

/** The workerData.data given to startTsWorker (inside a worker). */
export function workerInput<T>(): T {
  return (workerData as { data: T }).data;
}
