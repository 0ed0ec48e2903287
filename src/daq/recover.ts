// Recovery of runs a killed DAQ left open: the files hold every train flushed before the kill, so the
// run is closed in the catalogue from what its folder holds.
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { openRun } from "../files/index.ts";
import type { Catalogue, RunRecord } from "./catalogue.ts";

/** Closes one open run from the files in its folder; returns the closed record. */
export async function recoverRun(cat: Catalogue, run: RunRecord): Promise<RunRecord> {
  const names = await readdir(run.onlinePath).catch(() => [] as string[]);
  // A sequence file the DAQ was still creating (hidden, ".part") holds no train yet: drop it.
  for (const n of names.filter((n) => n.startsWith(".") && n.endsWith(".h5.part")))
    await rm(join(run.onlinePath, n), { force: true });
  const files = names.filter((n) => n.endsWith(".h5"));
  let size = 0;
  let latest = 0;
  for (const f of files) {
    const s = await stat(join(run.onlinePath, f));
    size += s.size;
    latest = Math.max(latest, s.mtimeMs);
  }
  let trainIds: readonly number[] = [];
  let sources: string[] = [];
  if (files.length) {
    const data = await openRun(run.onlinePath);
    trainIds = data.trainIds;
    sources = data.sources;
    data.close();
  }
  const closed = cat.closeRun(run.id, {
    endTime: new Date(latest || Date.now()).toISOString(),
    firstTrain: trainIds[0] ?? null,
    lastTrain: trainIds[trainIds.length - 1] ?? null,
    trains: trainIds.length,
    sizeBytes: size,
    sources,
  });
  const note = "closed by recovery: the DAQ stopped while recording";
  cat.db.prepare("UPDATE runs SET comment = TRIM(comment || ' ' || ?) WHERE id = ?").run(note, run.id);
  return cat.runById(closed.id);
}

/** Recovers every run still marked recording under `onlineRoot` whose files have been quiet for
 * `quietMs` (so a run another DAQ is writing right now is left alone). */
export async function recoverRuns(cat: Catalogue, onlineRoot: string, quietMs = 5000): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  for (const run of cat
    .runs()
    .filter((r) => r.state === "recording" && r.onlinePath.startsWith(onlineRoot))) {
    const names = await readdir(run.onlinePath).catch(() => [] as string[]);
    let latest = 0;
    for (const n of names) latest = Math.max(latest, (await stat(join(run.onlinePath, n))).mtimeMs);
    if (Date.now() - latest < quietMs) continue;
    out.push(await recoverRun(cat, run));
  }
  return out;
}
