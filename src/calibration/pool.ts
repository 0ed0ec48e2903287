// A small pool of worker threads running TypeScript task handlers: modules and sequence files are
// corrected in parallel, one task per message. Workers load TypeScript through tsx's API (a worker
// started on a .ts file does not inherit the parent's --import tsx loader).
import { availableParallelism } from "node:os";
import { isMainThread, parentPort, type Worker } from "node:worker_threads";
import { type ErrorDetails, SaseError, startTsWorker, workerInput } from "../core/index.ts";

export { startTsWorker, workerInput };

/** Messages a worker sends back. */
type FromWorker =
  | { type: "progress"; id: number; value: unknown }
  | { type: "done"; id: number; result: unknown }
  | { type: "error"; id: number; message: string; name: string };

/** Default worker count: every core. */
export function defaultWorkers(): number {
  return availableParallelism();
}

/** Error a task threw inside a worker, with the worker's message. */
export class WorkerTaskError extends SaseError {
  override readonly name = "WorkerTaskError";
  constructor(message: string, details?: ErrorDetails) {
    super("TASK_FAILED", message, details);
  }
}

/**
 * Runs `tasks` on `workers` threads of `entry` (a module that calls serveTasks). Results come back in
 * task order; the first failure rejects after the running tasks finish, and no new task starts.
 */
export async function runPool<T, R>(
  entry: URL,
  tasks: readonly T[],
  options: {
    workers?: number;
    data?: unknown;
    onProgress?: (taskIndex: number, value: unknown) => void;
  } = {},
): Promise<R[]> {
  const n = Math.max(1, Math.min(options.workers ?? defaultWorkers(), tasks.length));
  const results: R[] = new Array(tasks.length);
  let next = 0;
  let failure: Error | null = null;
  const one = (w: Worker) =>
    new Promise<void>((resolve) => {
      const give = () => {
        if (failure || next >= tasks.length) {
          resolve();
          return;
        }
        const id = next++;
        w.postMessage({ id, task: tasks[id] });
      };
      w.on("message", (m: FromWorker) => {
        if (m.type === "progress") options.onProgress?.(m.id, m.value);
        else if (m.type === "done") {
          results[m.id] = m.result as R;
          give();
        } else {
          failure ??= new WorkerTaskError(m.message);
          resolve();
        }
      });
      w.on("error", (e) => {
        failure ??= e;
        resolve();
      });
      w.on("exit", () => resolve());
      give();
    });
  const workers = Array.from({ length: n }, () => startTsWorker(entry, options.data ?? null));
  try {
    await Promise.all(workers.map(one));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  if (failure) throw failure;
  return results;
}

/** Inside a worker: answers tasks with `handler`, which may report progress. */
export function serveTasks<T, R>(
  handler: (task: T, progress: (value: unknown) => void) => Promise<R> | R,
): void {
  if (isMainThread || !parentPort)
    throw new SaseError("WRONG_THREAD", "serveTasks runs inside a worker thread");
  const port = parentPort;
  port.on("message", async ({ id, task }: { id: number; task: T }) => {
    try {
      const result = await handler(task, (value) => port.postMessage({ type: "progress", id, value }));
      port.postMessage({ type: "done", id, result });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      port.postMessage({ type: "error", id, message: err.message, name: err.name });
    }
  });
}
