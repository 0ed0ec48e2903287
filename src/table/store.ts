// The run table's storage: values in the catalogue database (tables of their own beside the DAQ's),
// one row per run and variable with the versions that made it; arrays and images in one HDF5 file
// per value under `<catalogue folder>/table/`. Comments are kept as an audit trail (who, when, what);
// the newest is the run's comment.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import h5wasm from "h5wasm/node";
import type { Catalogue } from "../daq/index.ts";
import { proposalDirName, runDirName } from "../daq/index.ts";
import type { StoredResult } from "./variables.ts";
import { SaseError } from "../core/index.ts";

/** One cell of the table as stored. */
export interface CellRecord {
  readonly runId: number;
  readonly name: string;
  readonly kind: "number" | "string" | "array" | "image" | "error";
  /** Numbers and strings; for arrays and images a short summary ("1000 values", "64×64 image"). */
  readonly value: number | string | null;
  readonly shape: readonly number[] | null;
  /** The HDF5 file holding an array or image (dataset "value"). */
  readonly h5Path: string | null;
  readonly error: string | null;
  readonly variableVersion: string;
  readonly contextVersion: string;
  readonly dataVersion: string;
  readonly computedAt: string;
  readonly seconds: number;
}

/** A column: a variable as the newest context that computed it declared it. */
export interface ColumnRecord {
  readonly proposal: number;
  readonly name: string;
  readonly title: string;
  readonly unit: string;
  readonly position: number;
  readonly contextVersion: string;
}

/** One comment edit. */
export interface CommentRecord {
  readonly runId: number;
  readonly comment: string;
  readonly user: string;
  readonly at: string;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS table_columns (
    proposal INTEGER NOT NULL, name TEXT NOT NULL, title TEXT NOT NULL, unit TEXT NOT NULL,
    position INTEGER NOT NULL, context_version TEXT NOT NULL, PRIMARY KEY (proposal, name));
  CREATE TABLE IF NOT EXISTS table_values (
    run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('number','string','array','image','error')),
    num REAL, text TEXT, shape TEXT, h5_path TEXT, error TEXT,
    variable_version TEXT NOT NULL, context_version TEXT NOT NULL, data_version TEXT NOT NULL,
    computed_at TEXT NOT NULL, seconds REAL NOT NULL, PRIMARY KEY (run_id, name));
  CREATE TABLE IF NOT EXISTS table_comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL REFERENCES runs(id),
    comment TEXT NOT NULL, user TEXT NOT NULL, at TEXT NOT NULL);`;

type Row = Record<string, unknown>;

function cellFromRow(r: Row): CellRecord {
  const kind = r.kind as CellRecord["kind"];
  const shape = r.shape ? (JSON.parse(r.shape as string) as number[]) : null;
  let value: number | string | null = null;
  if (kind === "number") value = (r.num as number | null) ?? Number.NaN;
  else if (kind === "string") value = r.text as string;
  else if (kind === "array") value = `${shape?.[0]} values`;
  else if (kind === "image") value = `${shape?.join("×")} image`;
  return {
    runId: r.run_id as number,
    name: r.name as string,
    kind,
    value,
    shape,
    h5Path: (r.h5_path as string | null) ?? null,
    error: (r.error as string | null) ?? null,
    variableVersion: r.variable_version as string,
    contextVersion: r.context_version as string,
    dataVersion: r.data_version as string,
    computedAt: r.computed_at as string,
    seconds: r.seconds as number,
  };
}

/** The run table of one catalogue. */
export class TableStore {
  /** Folder of the HDF5 files of arrays and images. */
  readonly arraysRoot: string;

  constructor(
    readonly cat: Catalogue,
    catalogueFile: string,
  ) {
    cat.db.exec(SCHEMA);
    this.arraysRoot = join(dirname(catalogueFile), "table");
  }

  /** Records the columns a context declares for a proposal (columns it no longer has are dropped). */
  setColumns(
    proposal: number,
    contextVersion: string,
    cols: { name: string; title: string; unit: string }[],
  ) {
    const tx = this.cat.db.transaction(() => {
      this.cat.db.prepare("DELETE FROM table_columns WHERE proposal = ?").run(proposal);
      const ins = this.cat.db.prepare(
        "INSERT INTO table_columns (proposal, name, title, unit, position, context_version) VALUES (?, ?, ?, ?, ?, ?)",
      );
      for (const [i, c] of cols.entries()) ins.run(proposal, c.name, c.title, c.unit, i, contextVersion);
    });
    tx.immediate();
  }

  /** Columns of a proposal, in the context's order. */
  columns(proposal: number): ColumnRecord[] {
    return (
      this.cat.db
        .prepare("SELECT * FROM table_columns WHERE proposal = ? ORDER BY position")
        .all(proposal) as Row[]
    ).map((r) => ({
      proposal: r.proposal as number,
      name: r.name as string,
      title: r.title as string,
      unit: r.unit as string,
      position: r.position as number,
      contextVersion: r.context_version as string,
    }));
  }

  /** Where a run's array or image variable is kept. */
  arrayPath(proposal: number, run: number, name: string): string {
    return join(this.arraysRoot, proposalDirName(proposal), runDirName(run), `${name}.h5`);
  }

  /** Stores one computed value (or the error that took its place). */
  async put(
    run: { id: number; proposal: number; number: number },
    name: string,
    result: StoredResult | { kind: "error"; message: string },
    versions: { variable: string; context: string; data: string },
    seconds: number,
  ): Promise<void> {
    let num: number | null = null;
    let text: string | null = null;
    let shape: string | null = null;
    let h5: string | null = null;
    let error: string | null = null;
    if (result.kind === "error") error = result.message;
    else if (result.kind === "number") num = Number.isNaN(result.value) ? null : result.value;
    else if (result.kind === "string") text = result.value;
    else {
      shape = JSON.stringify(result.shape);
      h5 = this.arrayPath(run.proposal, run.number, name);
      await writeArray(h5, result.value, result.shape);
    }
    this.cat.db
      .prepare(
        `INSERT OR REPLACE INTO table_values (run_id, name, kind, num, text, shape, h5_path, error,
         variable_version, context_version, data_version, computed_at, seconds)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        run.id,
        name,
        result.kind,
        num,
        text,
        shape,
        h5,
        error,
        versions.variable,
        versions.context,
        versions.data,
        new Date().toISOString(),
        seconds,
      );
  }

  /** Stored cells, of one run or of every run. */
  cells(runId?: number): CellRecord[] {
    const rows =
      runId === undefined
        ? this.cat.db.prepare("SELECT * FROM table_values").all()
        : this.cat.db.prepare("SELECT * FROM table_values WHERE run_id = ?").all(runId);
    return (rows as Row[]).map(cellFromRow);
  }

  /** One cell, or undefined. */
  cell(runId: number, name: string): CellRecord | undefined {
    const r = this.cat.db
      .prepare("SELECT * FROM table_values WHERE run_id = ? AND name = ?")
      .get(runId, name);
    return r ? cellFromRow(r as Row) : undefined;
  }

  /** Reads an array or image cell's data back. */
  async readArray(cell: CellRecord): Promise<{ data: Float64Array; shape: number[] }> {
    if (!cell.h5Path || !cell.shape)
      throw new SaseError("WRONG_TYPE", `${cell.name} is a ${cell.kind}, not an array or image`, {
        key: cell.name,
      });
    await h5wasm.ready;
    const f = new h5wasm.File(cell.h5Path, "r");
    try {
      const ds = f.get("value");
      if (!(ds instanceof h5wasm.Dataset))
        throw new SaseError("BAD_FILE", `${cell.h5Path} has no dataset "value"`);
      return { data: Float64Array.from(ds.value as Float64Array), shape: [...(ds.shape ?? [])] };
    } finally {
      f.close();
    }
  }

  /** Changes a run's comment; every edit is kept with its user and time. */
  setComment(runId: number, comment: string, user: string): CommentRecord {
    this.cat.runById(runId); // names a missing run
    const rec = { runId, comment, user, at: new Date().toISOString() };
    this.cat.db
      .prepare("INSERT INTO table_comments (run_id, comment, user, at) VALUES (?, ?, ?, ?)")
      .run(runId, comment, user, rec.at);
    return rec;
  }

  /** Every comment edit of a run, oldest first. */
  commentHistory(runId: number): CommentRecord[] {
    return (
      this.cat.db.prepare("SELECT * FROM table_comments WHERE run_id = ? ORDER BY id").all(runId) as Row[]
    ).map((r) => ({
      runId: r.run_id as number,
      comment: r.comment as string,
      user: r.user as string,
      at: r.at as string,
    }));
  }

  /** A run's comment: the newest table edit, else the comment given with its quality flag. */
  comment(runId: number): string {
    const r = this.cat.db
      .prepare("SELECT comment FROM table_comments WHERE run_id = ? ORDER BY id DESC LIMIT 1")
      .get(runId) as { comment: string } | undefined;
    return r ? r.comment : this.cat.runById(runId).comment;
  }

  /** A number that grows whenever a value or comment is stored (for live views to poll cheaply). */
  changeStamp(): string {
    const v = this.cat.db
      .prepare(
        "SELECT (SELECT COUNT(*) || ':' || COALESCE(MAX(computed_at), '') FROM table_values) || '/' || (SELECT COALESCE(MAX(id), 0) FROM table_comments) || '/' || (SELECT COUNT(*) FROM runs) AS s",
      )
      .get() as { s: string };
    return v.s;
  }
}

// Written under a temporary name and renamed, so readers never see half a file.
async function writeArray(path: string, data: Float64Array, shape: readonly number[]): Promise<void> {
  await h5wasm.ready;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.part`;
  try {
    const f = new h5wasm.File(tmp, "w");
    try {
      f.create_dataset({ name: "value", data, shape: [...shape] });
    } finally {
      f.close();
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
