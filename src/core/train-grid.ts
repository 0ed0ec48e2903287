// One train grid per detector for the whole facility. A stage that handles a detector's trains (a
// module's simulation, a module's correction) backs off to every 2nd, 4th, ... train when it is too
// slow; the assembler needs every module's piece of a train, so every stage must take the same trains.
// Stages in one process agree at once: each process takes the largest need of its members. Across
// processes each device server tells the timing server its need for each detector it serves (when it
// changes, and every TRAIN_GRID_REPORT_MS), and the timing server publishes, per detector, the largest
// need of all participants (its `trainGrids` table) that every process applies. A participant that stops
// reporting (a crashed or stopped process) no longer counts after TRAIN_GRID_EXPIRY_MS, so the grid
// comes back down once the ones still there are quick again.

import type { Broker, PropertySubscription } from "./broker.ts";
import type { Logger } from "./log.ts";

/** How often a participant tells the timing server its need, changed or not (ms). */
export const TRAIN_GRID_REPORT_MS = 1000;
/** A participant not heard from for this long (ms) no longer counts in the facility's grid. */
export const TRAIN_GRID_EXPIRY_MS = 5000;

/** One member's place on a shared grid (see TrainGrids.join). */
export interface GridShare {
  /** Every how many facility trains the grid takes one now: the largest need of this process and the facility. */
  readonly stride: number;
  /** The facility's stride as the timing server last said (1 before it said anything). */
  readonly facilityStride: number;
  /** Tells the grid that this member's own need changed (reported to the timing server at once). */
  changed(): void;
  /** Leaves the grid: this member's need no longer counts. */
  leave(): void;
}

/** A row of the timing server's `trainGrids` table. */
export interface TrainGridRow {
  readonly detector: string;
  readonly stride: number;
}

class Grid {
  readonly members = new Set<() => number>();
  /** The largest need of this process's members. */
  local = 1;
  /** The facility's stride (all participants, this process included). */
  facility = 1;

  get stride(): number {
    return Math.max(this.local, this.facility);
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
      get facilityStride() {
        return g.facility;
      },
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
    for (const [detector, grid] of this.#grids) {
      const row = rows.find((r) => r.detector === detector);
      grid.facility = row ? Math.max(1, Number(row.stride)) : 1;
    }
  }

  #report(detector: string, grid: Grid): void {
    const timeServer = this.#timeServerId;
    if (!timeServer) return;
    this.#broker
      .call<{ stride?: unknown }>(
        timeServer,
        "reportTrainGrid",
        { detector, participant: this.#participant, stride: grid.local },
        { caller: { user: this.#participant, accessLevel: "observer" }, timeoutMs: 5000 },
      )
      .then((reply) => {
        // The reply carries the facility's stride: a server that joined after the table last changed
        // learns it here.
        if (this.#grids.get(detector) === grid && typeof reply?.stride === "number")
          grid.facility = Math.max(1, reply.stride);
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
