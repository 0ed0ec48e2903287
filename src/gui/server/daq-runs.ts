// Runs for the GUI from the facility's DAQ: run control through the run-control device (as the
// logged-in user, so the device checks access and logs who), the run list and quality flags from the
// run catalogue the DAQ writes.
import type { Caller, DeviceClient, PropertySubscription } from "../../core/index.ts";
import { Catalogue, type RunQuality, type RunRecord, RUN_QUALITIES } from "../../daq/index.ts";
import type { RunInfo } from "../api.ts";
import type { Identity } from "./auth.ts";
import { asRequestError, GuiRequestError, type RunsBackend } from "./backend.ts";

function callerOf(who: Identity): Caller {
  return { user: who.user, accessLevel: who.role };
}

function runInfo(r: RunRecord): RunInfo {
  return {
    proposal: r.proposal,
    run: r.number,
    runType: r.runType,
    sample: r.sample,
    startMs: Date.parse(r.startTime),
    stopMs: r.endTime ? Date.parse(r.endTime) : null,
    trains: r.trains,
    quality: r.quality ?? "",
  };
}

/** RunsBackend over a DaqController device and its catalogue. */
export class DaqRunsBackend implements RunsBackend {
  readonly #client: DeviceClient;
  readonly #daqId: string;
  readonly #catalogue: Catalogue;
  readonly #listeners = new Set<() => void>();
  readonly #sub: PropertySubscription;

  /** Follows the run-control device `daqId`; `cataloguePath` is the SQLite catalogue it writes. */
  constructor(client: DeviceClient, daqId: string, cataloguePath: string) {
    this.#client = client;
    this.#daqId = daqId;
    this.#catalogue = Catalogue.open(cataloguePath);
    this.#sub = client.broker.subscribe(daqId, ["runState", "runNumber"], () => this.#changed());
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }

  /** Stops following the device and closes the catalogue. */
  close(): void {
    this.#sub.close();
    this.#catalogue.close();
  }

  async list(): Promise<RunInfo[]> {
    return this.#catalogue
      .runs()
      .map(runInfo)
      .sort((a, b) => b.startMs - a.startMs)
      .slice(0, 200);
  }

  async status(): Promise<{ state: string; current: RunInfo | null }> {
    const config = await this.#client.getConfiguration(this.#daqId, ["runState", "runNumber", "proposal"]);
    const state = String(config.values.runState ?? "UNKNOWN");
    if (state !== "RECORDING") return { state, current: null };
    const r = this.#catalogue.findRun(Number(config.values.proposal), Number(config.values.runNumber));
    return { state, current: r ? runInfo(r) : null };
  }

  async start(runType: string, sample: string, who: Identity): Promise<void> {
    const client = this.#client.as(callerOf(who));
    try {
      await client.reconfigure(this.#daqId, { runType, sample });
      await client.execute(this.#daqId, "record");
    } catch (e) {
      throw asRequestError(e);
    }
  }

  async stop(who: Identity): Promise<void> {
    try {
      await this.#client.as(callerOf(who)).execute(this.#daqId, "stopRecording");
    } catch (e) {
      throw asRequestError(e);
    }
  }

  async setQuality(proposal: number, run: number, quality: string, _who: Identity): Promise<void> {
    const r = this.#catalogue.findRun(proposal, run);
    if (!r)
      throw new GuiRequestError(
        `no run ${run} of proposal ${proposal} in the catalogue`,
        undefined,
        "NOT_FOUND",
      );
    this.#catalogue.flagRun(r.id, quality as RunQuality);
    this.#changed();
  }

  qualities(): string[] {
    return [...RUN_QUALITIES];
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
