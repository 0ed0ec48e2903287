// A worker for the thread-pool test: answers with its thread id, fails on request, or never answers.
import { parentPort, threadId } from "node:worker_threads";

parentPort!.on("message", (req: { id: number; action: "who" | "fail" | "hang" }) => {
  if (req.action === "hang") return;
  if (req.action === "fail") parentPort!.postMessage({ id: req.id, error: "asked to fail" });
  else parentPort!.postMessage({ id: req.id, thread: threadId });
});
