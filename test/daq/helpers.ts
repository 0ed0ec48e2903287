// Shared helpers for daq tests: a throwaway data directory with a catalogue and a fake online run.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  addFacilityDaq,
  type Catalogue,
  DAQ_DEVICE_ID,
  type DataRoots,
  type RunRecord,
  rawRunDir,
  resolveDataRoots,
} from "../../src/daq/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { type CliRun, runCliInProcess } from "../helpers/cli.ts";
import { UNTIL_MS, until } from "../helpers/until.ts";

/** A fresh data directory; `done()` removes it. */
export function tempRoots(): DataRoots & { done(): void } {
  const dir = mkdtempSync(join(tmpdir(), "sase-daq-"));
  const roots = resolveDataRoots({ dataDir: dir }, {});
  return { ...roots, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Opens a run in the catalogue, writes `files` (name -> bytes) into its online folder and closes it. */
export function fakeRun(
  cat: Catalogue,
  roots: DataRoots,
  proposal: number,
  files: Record<string, number>,
): RunRecord {
  const run = cat.openRun({ proposal, onlinePath: (n) => rawRunDir(roots.online, proposal, n) });
  mkdirSync(run.onlinePath, { recursive: true });
  let size = 0;
  for (const [name, bytes] of Object.entries(files)) {
    const data = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) data[i] = (i * 31 + name.length) & 0xff;
    writeFileSync(join(run.onlinePath, name), data);
    size += bytes;
  }
  return cat.closeRun(run.id, {
    firstTrain: 1000,
    lastTrain: 1009,
    trains: 10,
    sizeBytes: size,
    sources: ["SA1/XGM/DOOCS"],
  });
}

/** Waits until the DAQ device reports at least `n` trains recorded (load on CI machines varies). */
export async function waitForTrains(
  client: { get(deviceId: string, key: string): Promise<unknown> },
  daqId: string,
  n: number,
  timeoutMs = UNTIL_MS,
): Promise<void> {
  await until(
    async () => ((await client.get(daqId, "trainsRecorded")) as number) >= n,
    `${daqId} to record ${n} trains`,
    timeoutMs,
    100,
  );
}

/** Runs `sase <args>` of the daq commands in this process; returns what it printed and its exit code. */
export async function saseInProcess(...args: string[]): Promise<CliRun> {
  const { registerDaqCommands } = await import("../../src/cli/daq.ts");
  return runCliInProcess(registerDaqCommands, args);
}

/** A standard facility with the DAQ and one small detector module (16 rows, 2 cells) for procedures. */
export async function procedureFacility(roots: DataRoots): Promise<Facility> {
  const facility = await Facility.standard({ trainRate: 10, heartbeatIntervalMs: 60_000 });
  await addFacilityDaq(facility, {
    modules: 1,
    cells: 2,
    rows: 16,
    onlineRoot: roots.online,
    cataloguePath: roots.catalogue,
  });
  return facility;
}

/** Waits for a run-control procedure's state (darkState, pcState) to end; gives the states seen. */
export async function procedureEnd(
  client: { waitFor(id: string, key: string, until: (v: unknown) => boolean, ms: number): Promise<unknown> },
  key: string,
  deadlineMs: number,
): Promise<{ final: string; seen: string[] }> {
  const seen: string[] = [];
  const final = await client.waitFor(
    DAQ_DEVICE_ID,
    key,
    (s) => {
      seen.push(String(s));
      return /^(done|failed)/.test(String(s));
    },
    deadlineMs,
  );
  return { final: String(final), seen };
}
