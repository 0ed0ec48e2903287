// One train grid per detector for the whole facility. A stage that handles a detector's trains (a
// module's simulation, a module's correction) backs off to every 2nd, 4th, ... train when it is too
// slow; the assembler needs every module's piece of a train, so every stage must take the same trains.
// Stages in one process agree at once: each process takes the largest need of its members. Across
// processes each device server tells the timing server its need for each detector it serves (when it
// changes, and every TRAIN_GRID_REPORT_MS), and the timing server publishes, per detector, the largest
// need of all participants (its `trainGrids` table) that every process applies. A larger stride takes
// effect at once (the stage that needs it loses trains until it does); a smaller one from a train a
// little ahead (TRAIN_GRID_LEAD trains, on the grid of both strides), announced with it, so that every
// process takes up the extra trains from the same train on rather than each when the news reaches it:
// a train that some stages take and others do not is work for nothing. A participant that stops
// reporting (a crashed or stopped process) no longer counts after TRAIN_GRID_EXPIRY_MS, so the grid
// comes back down once the ones still there are quick again. A server's own stages apply the largest
// need among them at once, with or without a timing server.

import type { Broker, PropertySubscription } from "./broker.ts";
import type { Logger } from "./log.ts";

/** How often a participant tells the timing server its need, changed or not (ms). */
export const TRAIN_GRID_REPORT_MS = 1000;
/** A participant not heard from for this long (ms) no longer counts in the facility's grid. */
export const TRAIN_GRID_EXPIRY_MS = 5000;
/** How many trains ahead of its decision the timing server lets a new stride take effect. */
export const TRAIN_GRID_LEAD = 5;

/** One member's place on a shared grid (see TrainGrids.join). */
export interface GridShare {
  /** The grid's latest stride (every how many facility trains it takes one), for display. */
  readonly stride: number;
  /** The stride that decides whether train `trainId` is taken. */
  strideAt(trainId: number): number;
  /** Tells the grid that this member's own need changed (reported to the timing server at once). */
  changed(): void;
  /** Leaves the grid: this member's need no longer counts. */
  leave(): void;
}

/** A detector's grid as the timing server decided it: `before` up to train `fromTrain`, `stride` from it on. */
export interface TrainGridSchedule {
  readonly stride: number;
  readonly fromTrain: number;
  readonly before: number;
}

/** The stride of `schedule` for train `trainId`. */
export function scheduledStride(schedule: TrainGridSchedule, trainId: number): number {
  return trainId >= schedule.fromTrain ? schedule.stride : schedule.before;
}

/** A row of the timing server's `trainGrids` table (train IDs may come as bigint). */
interface TrainGridRow {
  readonly detector: string;
  readonly stride: number | bigint;
  readonly fromTrain: number | bigint;
  readonly before: number | bigint;
}

class Grid {
  readonly members = new Set<() => number>();
  /** The largest need of this process's members. */
  local = 1;
  /** The facility's schedule, and when the timing server last confirmed it (ms). */
  facility: TrainGridSchedule | null = null;
  heardAt = 0;

  /** This server's need, or the facility's stride while the timing server answers, the larger. */
  strideAt(trainId: number): number {
    const f = this.facility;
    if (!f || Date.now() - this.heardAt > TRAIN_GRID_EXPIRY_MS) return this.local;
    return Math.max(this.local, scheduledStride(f, trainId));
  }

  get stride(): number {
    return this.strideAt(Number.MAX_SAFE_INTEGER);
  }

  /** Takes the timing server's schedule (a row of its table, or its reply). */
  heard(row: TrainGridRow | undefined): void {
    this.heardAt = Date.now();
    this.facility = row
      ? { stride: Number(row.stride), fromTrain: Number(row.fromTrain), before: Number(row.before) }
      : null;
  }

  /** Recomputes the local need; true when it changed. */
  update(): boolean {
    let need = 1;
    for (const m of this.members) need = Math.max(need, m());
    const changed = need !== this.local;
    this.local = need;
    return changed;
  }
}

/** The train grids of one device server: its members' needs, shared with the facility through the timing server. */
export class TrainGrids {
  readonly #grids = new Map<string, Grid>();
  readonly #participant: string;
  readonly #broker: Broker;
  readonly #timeServerId: string | undefined;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #table: PropertySubscription | undefined;
  #warned = false;

  /** `participant`: this server's id; without `timeServerId` the grids are this server's alone. */
  constructor(options: { participant: string; broker: Broker; timeServerId?: string; log: Logger }) {
    this.#participant = options.participant;
    this.#broker = options.broker;
    this.#timeServerId = options.timeServerId;
    this.#log = options.log;
  }

  /** Joins `detector`'s grid with a member whose own need (a stride in facility trains) `need` reads. */
  join(detector: string, need: () => number): GridShare {
    const known = this.#grids.get(detector);
    const g = known ?? new Grid();
    if (!known) {
      this.#grids.set(detector, g);
      this.#start();
    }
    g.members.add(need);
    // A new participant reports at once: its reply says the facility's stride.
    if (g.update() || !known) this.#report(detector, g);
    let left = false;
    return {
      get stride() {
        return g.stride;
      },
      strideAt: (trainId) => g.strideAt(trainId),
      changed: () => {
        if (!left && g.update()) this.#report(detector, g);
      },
      leave: () => {
        if (left) return;
        left = true;
        g.members.delete(need);
        if (g.members.size > 0) {
          if (g.update()) this.#report(detector, g);
          return;
        }
        // The last member: this server no longer takes part (stride 0 takes it off at once).
        this.#grids.delete(detector);
        g.local = 0;
        this.#report(detector, g);
        if (this.#grids.size === 0) this.#stop();
      },
    };
  }

  /** Stops reporting and following the timing server (the server is going away). */
  close(): void {
    this.#grids.clear();
    this.#stop();
  }

  #start(): void {
    if (!this.#timeServerId || this.#timer) return;
    this.#timer = setInterval(() => {
      for (const [detector, grid] of this.#grids) this.#report(detector, grid);
    }, TRAIN_GRID_REPORT_MS);
    this.#timer.unref();
    // The table changes as soon as any participant's need does: every process follows at once.
    this.#table = this.#broker.subscribe(this.#timeServerId, "trainGrids", (c) => {
      if (Array.isArray(c.value)) this.#apply(c.value as TrainGridRow[]);
    });
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#table?.close();
    this.#table = undefined;
  }

  #apply(rows: readonly TrainGridRow[]): void {
    for (const [detector, grid] of this.#grids) grid.heard(rows.find((r) => r.detector === detector));
  }

  #report(detector: string, grid: Grid): void {
    const timeServer = this.#timeServerId;
    if (!timeServer) return;
    this.#broker
      .call<TrainGridRow | null>(
        timeServer,
        "reportTrainGrid",
        { detector, participant: this.#participant, stride: grid.local },
        { caller: { user: this.#participant, accessLevel: "observer" }, timeoutMs: 5000 },
      )
      .then((reply) => {
        // The reply carries the detector's schedule: a server that joined after the table last changed
        // learns it here, and it confirms the timing server still answers.
        if (this.#grids.get(detector) === grid && reply && reply.stride !== undefined) grid.heard(reply);
        if (this.#warned) this.#log.info("reporting train grids to the timing server again");
        this.#warned = false;
      })
      .catch((err: unknown) => {
        if (this.#warned) return;
        this.#warned = true;
        // An older timing server, or none up yet: the grid is this server's own meanwhile.
        this.#log.warn("cannot report the train grid to the timing server; sharing it in this server only", {
          timeServer,
          error: err instanceof Error ? err.message : String(err),
        });
      });
  }
}
