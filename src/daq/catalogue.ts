// The proposal and run catalogue: one SQLite file that records every run the DAQ took, its quality
// flag, where its files are, whether it is migrated (with a checksum per file) and which calibration
// jobs ran on it. Several processes (DAQ, migration worker, CLI) share it, hence WAL + busy timeout.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { type ErrorDetails, SaseError } from "../core/index.ts";

/** Quality flag an operator gives a run. */
export type RunQuality = "good" | "unclear" | "bad";
export const RUN_QUALITIES: readonly RunQuality[] = ["good", "unclear", "bad"];
/** Where a run stands in being copied to the offline store. */
export type MigrationStatus = "none" | "migrating" | "migrated" | "failed";
/** State of a batch job (calibration) or of a run's calibration as a whole ("none": never submitted). */
export type JobState = "queued" | "running" | "done" | "failed";
export type CalibrationStatus = "none" | JobState;
/** Per-file migration state: copied = bytes on the offline side, verified = checksums agree. */
export type FileState = "pending" | "copied" | "verified" | "corrupt";

/** One run as the catalogue knows it. */
export interface RunRecord {
  readonly id: number;
  readonly proposal: number;
  readonly number: number;
  readonly state: "recording" | "closed";
  readonly startTime: string;
  readonly endTime: string | null;
  readonly firstTrain: number | null;
  readonly lastTrain: number | null;
  readonly trains: number;
  readonly sizeBytes: number;
  readonly runType: string;
  readonly sample: string;
  readonly sources: string[];
  readonly quality: RunQuality | null;
  readonly comment: string;
  readonly onlinePath: string;
  readonly offlinePath: string | null;
  readonly migration: MigrationStatus;
  readonly migrationError: string | null;
  readonly calibration: CalibrationStatus;
}

/** One file of a run and its migration state. */
export interface RunFileRecord {
  readonly runId: number;
  readonly path: string;
  readonly size: number;
  readonly state: FileState;
  readonly sourceSha256: string | null;
  readonly copySha256: string | null;
}

/** One batch job (an offline correction of one run). */
export interface JobRecord {
  readonly id: number;
  readonly runId: number;
  readonly kind: string;
  readonly executor: string;
  readonly externalId: string | null;
  readonly state: JobState;
  readonly command: string[];
  readonly logPath: string;
  /** Folder the job writes (e.g. the run's proc folder), if known. */
  readonly outputDir: string | null;
  readonly exitCode: number | null;
  readonly error: string | null;
  readonly submittedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** Thrown when a proposal, run or value the caller named does not exist or is invalid. */
export class CatalogueError extends SaseError {
  override readonly name = "CatalogueError";
  constructor(message: string, details?: ErrorDetails) {
    super("CATALOGUE", message, details);
  }
}

// Each entry moves the schema one version up; never edit an entry once released, append a new one.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE proposals (
     number INTEGER PRIMARY KEY, title TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL);
   CREATE TABLE runs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     proposal INTEGER NOT NULL REFERENCES proposals(number),
     number INTEGER NOT NULL,
     state TEXT NOT NULL DEFAULT 'recording' CHECK (state IN ('recording','closed')),
     start_time TEXT NOT NULL, end_time TEXT,
     first_train INTEGER, last_train INTEGER, trains INTEGER NOT NULL DEFAULT 0,
     size_bytes INTEGER NOT NULL DEFAULT 0,
     run_type TEXT NOT NULL DEFAULT '', sample TEXT NOT NULL DEFAULT '',
     sources TEXT NOT NULL DEFAULT '[]',
     quality TEXT CHECK (quality IN ('good','unclear','bad')), comment TEXT NOT NULL DEFAULT '',
     online_path TEXT NOT NULL, offline_path TEXT,
     migration TEXT NOT NULL DEFAULT 'none' CHECK (migration IN ('none','migrating','migrated','failed')),
     migration_error TEXT,
     calibration TEXT NOT NULL DEFAULT 'none',
     UNIQUE (proposal, number));
   CREATE TABLE run_files (
     run_id INTEGER NOT NULL REFERENCES runs(id), path TEXT NOT NULL, size INTEGER NOT NULL,
     state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','copied','verified','corrupt')),
     source_sha256 TEXT, copy_sha256 TEXT, PRIMARY KEY (run_id, path));
   CREATE TABLE jobs (
     id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL REFERENCES runs(id),
     kind TEXT NOT NULL, executor TEXT NOT NULL, external_id TEXT,
     state TEXT NOT NULL CHECK (state IN ('queued','running','done','failed')),
     command TEXT NOT NULL, log_path TEXT NOT NULL, exit_code INTEGER, error TEXT,
     submitted_at TEXT NOT NULL, started_at TEXT, finished_at TEXT);`,
  // v2: where a job writes its output (for the lineage written beside it).
  "ALTER TABLE jobs ADD COLUMN output_dir TEXT",
];

type Row = Record<string, unknown>;

function runFromRow(r: Row): RunRecord {
  return {
    id: r.id as number,
    proposal: r.proposal as number,
    number: r.number as number,
    state: r.state as RunRecord["state"],
    startTime: r.start_time as string,
    endTime: (r.end_time as string | null) ?? null,
    firstTrain: (r.first_train as number | null) ?? null,
    lastTrain: (r.last_train as number | null) ?? null,
    trains: r.trains as number,
    sizeBytes: r.size_bytes as number,
    runType: r.run_type as string,
    sample: r.sample as string,
    sources: JSON.parse(r.sources as string) as string[],
    quality: (r.quality as RunQuality | null) ?? null,
    comment: r.comment as string,
    onlinePath: r.online_path as string,
    offlinePath: (r.offline_path as string | null) ?? null,
    migration: r.migration as MigrationStatus,
    migrationError: (r.migration_error as string | null) ?? null,
    calibration: r.calibration as CalibrationStatus,
  };
}

function fileFromRow(r: Row): RunFileRecord {
  return {
    runId: r.run_id as number,
    path: r.path as string,
    size: r.size as number,
    state: r.state as FileState,
    sourceSha256: (r.source_sha256 as string | null) ?? null,
    copySha256: (r.copy_sha256 as string | null) ?? null,
  };
}

function jobFromRow(r: Row): JobRecord {
  return {
    id: r.id as number,
    runId: r.run_id as number,
    kind: r.kind as string,
    executor: r.executor as string,
    externalId: (r.external_id as string | null) ?? null,
    state: r.state as JobState,
    command: JSON.parse(r.command as string) as string[],
    logPath: r.log_path as string,
    outputDir: (r.output_dir as string | null) ?? null,
    exitCode: (r.exit_code as number | null) ?? null,
    error: (r.error as string | null) ?? null,
    submittedAt: r.submitted_at as string,
    startedAt: (r.started_at as string | null) ?? null,
    finishedAt: (r.finished_at as string | null) ?? null,
  };
}

const now = () => new Date().toISOString();

/** What the DAQ knows when a run opens. */
export interface RunOpening {
  proposal: number;
  /** Run number; omitted: the next free number of the proposal. */
  number?: number;
  onlinePath: string | ((number: number) => string);
  runType?: string;
  sample?: string;
  startTime?: string;
}

/** What the DAQ knows when a run closes. */
export interface RunClosing {
  endTime?: string;
  firstTrain: number | null;
  lastTrain: number | null;
  trains: number;
  sizeBytes: number;
  sources: string[];
}

/** The catalogue database. Open with `Catalogue.open(path)`; close when done. */
export class Catalogue {
  private constructor(readonly db: Database.Database) {}

  /** Opens (creating if needed) the catalogue at `path` and brings its schema up to date. */
  static open(path: string): Catalogue {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 10000");
    db.pragma("foreign_keys = ON");
    const cat = new Catalogue(db);
    cat.migrate();
    return cat;
  }

  /** Schema version this file is at (number of applied migrations). */
  get schemaVersion(): number {
    const r = this.db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as {
      v: number | null;
    };
    return r.v ?? 0;
  }

  private migrate(): void {
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)",
    );
    const apply = this.db.transaction(() => {
      for (let v = this.schemaVersion; v < MIGRATIONS.length; v++) {
        this.db.exec(MIGRATIONS[v]!);
        this.db.prepare("INSERT INTO schema_migrations VALUES (?, ?)").run(v + 1, now());
      }
    });
    apply.immediate();
  }

  close(): void {
    this.db.close();
  }

  /** Creates the proposal if it is new (title updated if given). */
  ensureProposal(number: number, title?: string): void {
    if (!Number.isInteger(number) || number <= 0)
      throw new CatalogueError(`invalid proposal number ${number}`);
    this.db
      .prepare("INSERT OR IGNORE INTO proposals (number, title, created_at) VALUES (?, ?, ?)")
      .run(number, title ?? "", now());
    if (title !== undefined)
      this.db.prepare("UPDATE proposals SET title = ? WHERE number = ?").run(title, number);
  }

  /** All proposals, lowest number first. */
  proposals(): { number: number; title: string; createdAt: string; runs: number }[] {
    return (
      this.db
        .prepare(
          `SELECT p.number, p.title, p.created_at, COUNT(r.id) AS runs FROM proposals p
           LEFT JOIN runs r ON r.proposal = p.number GROUP BY p.number ORDER BY p.number`,
        )
        .all() as Row[]
    ).map((r) => ({
      number: r.number as number,
      title: r.title as string,
      createdAt: r.created_at as string,
      runs: r.runs as number,
    }));
  }

  /** Opens a run: allocates its number (next free in the proposal unless given) atomically. */
  openRun(o: RunOpening): RunRecord {
    const tx = this.db.transaction((): number => {
      this.ensureProposal(o.proposal);
      const next = this.db
        .prepare("SELECT COALESCE(MAX(number), 0) + 1 AS n FROM runs WHERE proposal = ?")
        .get(o.proposal) as { n: number };
      const number = o.number ?? next.n;
      if (this.findRun(o.proposal, number)) {
        throw new CatalogueError(
          `run ${number} of proposal ${o.proposal} already exists (next free: ${next.n})`,
        );
      }
      const path = typeof o.onlinePath === "function" ? o.onlinePath(number) : o.onlinePath;
      const info = this.db
        .prepare(
          `INSERT INTO runs (proposal, number, start_time, run_type, sample, online_path)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run(o.proposal, number, o.startTime ?? now(), o.runType ?? "", o.sample ?? "", path);
      return Number(info.lastInsertRowid);
    });
    return this.runById(tx.immediate());
  }

  /** Closes a run with what was recorded. */
  closeRun(id: number, c: RunClosing): RunRecord {
    this.db
      .prepare(
        `UPDATE runs SET state = 'closed', end_time = ?, first_train = ?, last_train = ?, trains = ?,
         size_bytes = ?, sources = ? WHERE id = ?`,
      )
      .run(
        c.endTime ?? now(),
        c.firstTrain,
        c.lastTrain,
        c.trains,
        c.sizeBytes,
        JSON.stringify(c.sources),
        id,
      );
    return this.runById(id);
  }

  /** A run by its catalogue id. */
  runById(id: number): RunRecord {
    const r = this.db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as Row | undefined;
    if (!r) throw new CatalogueError(`no run with catalogue id ${id}`);
    return runFromRow(r);
  }

  /** A run by proposal and number, or undefined. */
  findRun(proposal: number, number: number): RunRecord | undefined {
    const r = this.db.prepare("SELECT * FROM runs WHERE proposal = ? AND number = ?").get(proposal, number) as
      | Row
      | undefined;
    return r ? runFromRow(r) : undefined;
  }

  /** Resolves "run N" as a user types it: with a proposal, or the only proposal that has run N. */
  resolveRun(number: number, proposal?: number): RunRecord {
    if (proposal !== undefined) {
      const run = this.findRun(proposal, number);
      if (!run) throw new CatalogueError(`proposal ${proposal} has no run ${number}`);
      return run;
    }
    const rows = this.db.prepare("SELECT * FROM runs WHERE number = ?").all(number) as Row[];
    if (rows.length === 0) throw new CatalogueError(`no proposal has a run ${number}`);
    if (rows.length > 1) {
      const ps = rows.map((r) => r.proposal).join(", ");
      throw new CatalogueError(`run ${number} exists in proposals ${ps}: name one with --proposal`);
    }
    return runFromRow(rows[0]!);
  }

  /** Runs by proposal and run number; optionally of one proposal only. */
  runs(proposal?: number): RunRecord[] {
    const rows =
      proposal === undefined
        ? this.db.prepare("SELECT * FROM runs ORDER BY proposal, number").all()
        : this.db.prepare("SELECT * FROM runs WHERE proposal = ? ORDER BY number").all(proposal);
    return (rows as Row[]).map(runFromRow);
  }

  /** Sets a run's quality flag and comment (the comment is kept when not given). */
  flagRun(id: number, quality: RunQuality, comment?: string): RunRecord {
    if (!RUN_QUALITIES.includes(quality)) {
      throw new CatalogueError(`quality must be one of ${RUN_QUALITIES.join(", ")}, not "${quality}"`);
    }
    this.db
      .prepare("UPDATE runs SET quality = ?, comment = COALESCE(?, comment) WHERE id = ?")
      .run(quality, comment ?? null, id);
    return this.runById(id);
  }

  /** Runs the migration worker should handle: flagged good/unclear, closed, not migrated or failed. */
  runsToMigrate(): RunRecord[] {
    return (
      this.db
        .prepare(
          `SELECT * FROM runs WHERE state = 'closed' AND quality IN ('good','unclear')
           AND migration IN ('none','migrating') ORDER BY id`,
        )
        .all() as Row[]
    ).map(runFromRow);
  }

  /** Sets a run's migration status (and error text, cleared unless given). */
  setMigration(
    id: number,
    status: MigrationStatus,
    opts: { error?: string; offlinePath?: string } = {},
  ): void {
    this.db
      .prepare(
        "UPDATE runs SET migration = ?, migration_error = ?, offline_path = COALESCE(?, offline_path) WHERE id = ?",
      )
      .run(status, opts.error ?? null, opts.offlinePath ?? null, id);
  }

  /** Files of a run with their migration state. */
  runFiles(runId: number): RunFileRecord[] {
    return (
      this.db.prepare("SELECT * FROM run_files WHERE run_id = ? ORDER BY path").all(runId) as Row[]
    ).map(fileFromRow);
  }

  /** Records a file of a run (kept as it is if already known with the same size). */
  addRunFile(runId: number, path: string, size: number): void {
    this.db
      .prepare(
        `INSERT INTO run_files (run_id, path, size) VALUES (?, ?, ?)
         ON CONFLICT (run_id, path) DO UPDATE SET size = excluded.size,
           state = CASE WHEN run_files.size = excluded.size THEN run_files.state ELSE 'pending' END`,
      )
      .run(runId, path, size);
  }

  /** Updates one file's migration state and checksums. */
  setFileState(
    runId: number,
    path: string,
    state: FileState,
    sums: { source?: string; copy?: string } = {},
  ): void {
    this.db
      .prepare(
        `UPDATE run_files SET state = ?, source_sha256 = COALESCE(?, source_sha256), copy_sha256 = ?
         WHERE run_id = ? AND path = ?`,
      )
      .run(state, sums.source ?? null, sums.copy ?? null, runId, path);
  }

  /** Adds a job in state queued; returns it. */
  addJob(j: {
    runId: number;
    kind: string;
    executor: string;
    command: string[];
    logPath: string;
    outputDir?: string;
  }): JobRecord {
    const info = this.db
      .prepare(
        `INSERT INTO jobs (run_id, kind, executor, state, command, log_path, output_dir, submitted_at)
         VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)`,
      )
      .run(j.runId, j.kind, j.executor, JSON.stringify(j.command), j.logPath, j.outputDir ?? null, now());
    const job = this.job(Number(info.lastInsertRowid));
    this.syncCalibration(j.runId);
    return job;
  }

  /** One job by id. */
  job(id: number): JobRecord {
    const r = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as Row | undefined;
    if (!r) throw new CatalogueError(`no job ${id}`);
    return jobFromRow(r);
  }

  /** Jobs, optionally of one run or in given states, oldest first. */
  jobs(filter: { runId?: number; states?: JobState[] } = {}): JobRecord[] {
    const rows = this.db.prepare("SELECT * FROM jobs ORDER BY id").all() as Row[];
    return rows
      .map(jobFromRow)
      .filter(
        (j) =>
          (filter.runId === undefined || j.runId === filter.runId) &&
          (!filter.states || filter.states.includes(j.state)),
      );
  }

  /** Moves a job to a new state; timestamps and the run's calibration status follow. */
  updateJob(
    id: number,
    state: JobState,
    extra: { externalId?: string; exitCode?: number; error?: string } = {},
  ): void {
    const t = now();
    this.db
      .prepare(
        `UPDATE jobs SET state = ?, external_id = COALESCE(?, external_id), exit_code = COALESCE(?, exit_code),
         error = COALESCE(?, error),
         started_at = CASE WHEN ? IN ('running','done','failed') THEN COALESCE(started_at, ?) ELSE started_at END,
         finished_at = CASE WHEN ? IN ('done','failed') THEN ? ELSE finished_at END WHERE id = ?`,
      )
      .run(
        state,
        extra.externalId ?? null,
        extra.exitCode ?? null,
        extra.error ?? null,
        state,
        t,
        state,
        t,
        id,
      );
    this.syncCalibration(this.job(id).runId);
  }

  // A run's calibration status is that of its newest correction job (other kinds, e.g. the run
  // table's, run on the same executors but say nothing about calibration).
  private syncCalibration(runId: number): void {
    this.db
      .prepare(
        `UPDATE runs SET calibration = COALESCE((SELECT state FROM jobs WHERE run_id = ? AND kind = 'correct'
         ORDER BY id DESC LIMIT 1), 'none') WHERE id = ?`,
      )
      .run(runId, runId);
  }
}
