// The constants store: each constant version is an HDF5 file (array in the facility's order, with
// its operating conditions as attributes) and a row in a SQLite catalogue, which finds the version
// valid for given conditions and time as the facility's calibration database (CalCat) does.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import Database from "better-sqlite3";
import h5wasm from "h5wasm/node";
import { ConstantsError } from "./constants.ts";

/** Calibration types the store holds (the facility's names). */
export type CalibrationType =
  | "Offset"
  | "Noise"
  | "ThresholdsDark"
  | "BadPixelsDark"
  | "RelativeGain"
  | "BadPixelsPC";

/** Operating conditions: CalCat parameter name → value (e.g. "Memory cells": 352). */
export type Conditions = Readonly<Record<string, number>>;

/** Builds the usual AGIPD condition set; "Gain mode" 0 and "Integration time" 12 are left out, as CalCat does. */
export function agipdConditions(c: {
  memoryCells: number;
  acquisitionRate: number;
  biasVoltage: number;
  gainSetting: number;
  gainMode?: number;
  integrationTime?: number;
  pixelsX?: number;
  pixelsY?: number;
}): Conditions {
  const out: Record<string, number> = {
    "Sensor Bias Voltage": c.biasVoltage,
    "Pixels X": c.pixelsX ?? 512,
    "Pixels Y": c.pixelsY ?? 128,
    "Memory cells": c.memoryCells,
    "Acquisition rate": c.acquisitionRate,
    "Gain setting": c.gainSetting,
  };
  if (c.gainMode) out["Gain mode"] = c.gainMode;
  if (c.integrationTime !== undefined && c.integrationTime !== 12)
    out["Integration time"] = c.integrationTime;
  return out;
}

/**
 * The conditions a pulse-capacitor constant is stored and looked up with: as for darks without "Gain
 * mode" (the facility's SlopesPC take base conditions and integration time only).
 */
export function pcConditions(c: Conditions): Conditions {
  const { "Gain mode": _mode, ...rest } = c;
  return rest;
}

/** How far a stored condition may be from the asked one and still match (default: exact). */
export const CONDITION_TOLERANCE: Readonly<Record<string, number>> = {
  "Sensor Bias Voltage": 5,
  "Acquisition rate": 0.05,
};

/** One stored constant version. */
export interface ConstantRecord {
  readonly id: number;
  readonly detector: string;
  readonly module: string;
  readonly calibration: CalibrationType;
  readonly conditions: Conditions;
  /** Start of validity, ISO 8601 UTC. */
  readonly beginValidity: string;
  /** HDF5 file, relative to the store root. */
  readonly file: string;
  /** Group inside the file; the array is `<dataset>/data`. */
  readonly dataset: string;
  readonly shape: readonly number[];
  readonly dtype: "float32" | "uint32";
  /** When the version was stored, ISO 8601 UTC. */
  readonly createdAt: string;
  /** What it was characterised from, e.g. "dark runs p900001 r0003, r0004, r0005" ("" if unknown). */
  readonly origin: string;
}

/** What to look for. */
export interface ConstantQuery {
  readonly detector: string;
  readonly module: string;
  readonly calibration: CalibrationType;
  readonly conditions: Conditions;
  /** Time the constant must be valid for (usually the run start). */
  readonly eventAt: Date;
  /** "closest": validity start closest to eventAt; "prior": latest start not after it. Default prior. */
  readonly strategy?: "closest" | "prior";
  /**
   * The detector's memory-cell options (e.g. AGIPD's 4, 32, 64, ...). Given, "Memory cells" matches
   * as the facility's database does with its snapped counts: a constant stored for N cells serves a
   * run of M ≤ N cells when both snap to the same option. Constants record a run's own count (16, not
   * 32), and a 12-cell run still finds constants of a 16-cell dark. Without it, exact.
   */
  readonly cellOptions?: readonly number[];
}

/** The smallest of `options` that holds `cells` cells (the facility's snapped "Memory cells"). */
export function snapMemoryCells(cells: number, options: readonly number[]): number {
  for (const n of options) if (n >= cells) return n;
  return Number.POSITIVE_INFINITY;
}

/** A constant to store: array in the facility's order (fast scan, slow scan, cells, planes). */
export interface NewConstant {
  readonly detector: string;
  readonly module: string;
  readonly calibration: CalibrationType;
  readonly conditions: Conditions;
  readonly beginValidity: Date;
  readonly data: Float32Array | Uint32Array;
  readonly shape: readonly number[];
  /** Axis names, e.g. ["fast_scan", "slow_scan", "cell", "gain"]. */
  readonly dims: readonly string[];
  /** What it was characterised from (shown where the constant is used). */
  readonly origin?: string;
}

interface Row {
  id: number;
  detector: string;
  module: string;
  calibration: string;
  conditions: string;
  begin_at: string;
  file: string;
  dataset: string;
  shape: string;
  dtype: string;
  created_at: string;
  origin: string | null;
}

function conditionsMatch(stored: Conditions, asked: Conditions, cellOptions?: readonly number[]): boolean {
  const a = Object.keys(stored);
  if (a.length !== Object.keys(asked).length) return false;
  for (const name of a) {
    const want = asked[name];
    if (want === undefined) return false;
    if (name === "Memory cells" && cellOptions) {
      const have = stored[name]!;
      if (have < want || snapMemoryCells(have, cellOptions) !== snapMemoryCells(want, cellOptions))
        return false;
      continue;
    }
    if (Math.abs(stored[name]! - want) > (CONDITION_TOLERANCE[name] ?? 1e-9)) return false;
  }
  return true;
}

function canonical(c: Conditions): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(c)
        .sort()
        .map((k) => [k, c[k]]),
    ),
  );
}

function toRecord(r: Row): ConstantRecord {
  return {
    id: r.id,
    detector: r.detector,
    module: r.module,
    calibration: r.calibration as CalibrationType,
    conditions: JSON.parse(r.conditions) as Conditions,
    beginValidity: r.begin_at,
    file: r.file,
    dataset: r.dataset,
    shape: JSON.parse(r.shape) as number[],
    dtype: r.dtype === "uint32" ? "uint32" : "float32",
    createdAt: r.created_at,
    origin: r.origin ?? "",
  };
}

/** A constants store in a directory: catalogue.sqlite plus one HDF5 file per constant version. */
export class ConstantStore {
  readonly #db: Database.Database;

  private constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
    this.#db = new Database(join(root, "catalogue.sqlite"));
    this.#db.pragma("journal_mode = WAL");
    // Worker threads characterising several modules add constants at the same time.
    this.#db.pragma("busy_timeout = 30000");
    this.#db.exec(`CREATE TABLE IF NOT EXISTS constants (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      detector TEXT NOT NULL, module TEXT NOT NULL, calibration TEXT NOT NULL,
      conditions TEXT NOT NULL, begin_at TEXT NOT NULL,
      file TEXT NOT NULL, dataset TEXT NOT NULL, shape TEXT NOT NULL, dtype TEXT NOT NULL,
      created_at TEXT NOT NULL)`);
    // Stores made before constants recorded their origin get the column (empty for old rows).
    const columns = this.#db.prepare("PRAGMA table_info(constants)").all() as { name: string }[];
    if (!columns.some((c) => c.name === "origin")) {
      this.#db.exec("ALTER TABLE constants ADD COLUMN origin TEXT NOT NULL DEFAULT ''");
    }
    this.#db.exec(
      "CREATE INDEX IF NOT EXISTS constants_lookup ON constants (detector, module, calibration, begin_at)",
    );
  }

  /** Opens (creating if needed) the store at `root`. */
  static async open(root: string): Promise<ConstantStore> {
    await h5wasm.ready;
    return new ConstantStore(root);
  }

  /** Opens the store for catalogue queries only (find, list, get): no HDF5, so no waiting for h5wasm. */
  static catalogueOnly(root: string): ConstantStore {
    return new ConstantStore(root);
  }

  /** Writes the HDF5 file (whole or not at all) and then catalogues it. */
  add(c: NewConstant): ConstantRecord {
    const n = c.shape.reduce((a, b) => a * b, 1);
    if (n !== c.data.length)
      throw new ConstantsError(
        `${c.calibration}: shape [${c.shape}] needs ${n} values, got ${c.data.length}`,
      );
    if (c.dims.length !== c.shape.length)
      throw new ConstantsError(`${c.calibration}: ${c.dims.length} dims for ${c.shape.length} axes`);
    const stamp = c.beginValidity
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z");
    const dir = join(this.root, c.detector, c.module);
    mkdirSync(dir, { recursive: true });
    const base = `${c.calibration}-${stamp}-${process.pid}-${Date.now().toString(36)}`;
    const final = join(dir, `${base}.h5`);
    const tmp = join(dir, `.${base}.h5.part`);
    const dataset = `${c.module}/${c.calibration}/0`;
    try {
      const f = new h5wasm.File(tmp, "w");
      try {
        const g = f.create_group(c.module).create_group(c.calibration).create_group("0");
        const chunk = [...c.shape];
        chunk[0] = 1;
        const ds = g.create_dataset({
          name: "data",
          data: c.data,
          shape: [...c.shape],
          chunks: chunk,
          compression: "gzip",
          compression_opts: 1,
        });
        ds.create_attribute("dims", [...c.dims]);
        g.create_attribute("conditions", JSON.stringify(c.conditions));
        g.create_attribute("detector", c.detector);
        g.create_attribute("begin_validity_at", c.beginValidity.toISOString());
      } finally {
        f.close();
      }
      renameSync(tmp, final);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    const info = this.#db
      .prepare(
        `INSERT INTO constants (detector, module, calibration, conditions, begin_at, file, dataset, shape, dtype, created_at, origin)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        c.detector,
        c.module,
        c.calibration,
        canonical(c.conditions),
        c.beginValidity.toISOString(),
        relative(this.root, final),
        dataset,
        JSON.stringify(c.shape),
        c.data instanceof Uint32Array ? "uint32" : "float32",
        new Date().toISOString(),
        c.origin ?? "",
      );
    return this.get(Number(info.lastInsertRowid))!;
  }

  /** The record with this id, or undefined. */
  get(id: number): ConstantRecord | undefined {
    const r = this.#db.prepare("SELECT * FROM constants WHERE id = ?").get(id) as Row | undefined;
    return r && toRecord(r);
  }

  /** Every record, oldest first (for listings). */
  list(): ConstantRecord[] {
    return (this.#db.prepare("SELECT * FROM constants ORDER BY id").all() as Row[]).map(toRecord);
  }

  /** The constant version for these conditions and this time, or null if none matches. */
  find(q: ConstantQuery): ConstantRecord | null {
    const rows = this.#db
      .prepare(
        "SELECT * FROM constants WHERE detector = ? AND module = ? AND calibration = ? ORDER BY begin_at, id",
      )
      .all(q.detector, q.module, q.calibration) as Row[];
    const t = q.eventAt.getTime();
    let best: ConstantRecord | null = null;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const row of rows) {
      const rec = toRecord(row);
      if (!conditionsMatch(rec.conditions, q.conditions, q.cellOptions)) continue;
      const begin = Date.parse(rec.beginValidity);
      let score: number;
      if ((q.strategy ?? "prior") === "prior") {
        if (begin > t) continue;
        score = t - begin;
      } else score = Math.abs(t - begin);
      // Ties go to the newer version (later id), as a re-injected constant supersedes the old one.
      if (score <= bestScore) {
        best = rec;
        bestScore = score;
      }
    }
    return best;
  }

  /** Like find, but throws a ConstantsError naming what was asked when nothing matches. */
  require(q: ConstantQuery): ConstantRecord {
    const r = this.find(q);
    if (!r) {
      throw new ConstantsError(
        `no ${q.calibration} constant for ${q.detector} ${q.module} valid at ${q.eventAt.toISOString()} with conditions ${canonical(q.conditions)}`,
      );
    }
    return r;
  }

  /** Reads a record's array. */
  load(r: ConstantRecord): Float32Array | Uint32Array {
    const f = new h5wasm.File(join(this.root, r.file), "r");
    try {
      const ds = f.get(`${r.dataset}/data`);
      if (!(ds instanceof h5wasm.Dataset))
        throw new ConstantsError(`${r.file}: no dataset ${r.dataset}/data`);
      const shape = ds.shape ?? [];
      if (shape.join() !== r.shape.join()) {
        throw new ConstantsError(
          `${r.file}: ${r.dataset}/data has shape [${shape}], catalogue says [${r.shape}]`,
        );
      }
      const v = ds.value;
      if (r.dtype === "uint32") {
        if (!(v instanceof Uint32Array))
          throw new ConstantsError(`${r.file}: ${r.dataset}/data is not uint32`);
        return v;
      }
      if (!(v instanceof Float32Array))
        throw new ConstantsError(`${r.file}: ${r.dataset}/data is not float32`);
      return v;
    } finally {
      f.close();
    }
  }

  /** Closes the catalogue. */
  close(): void {
    this.#db.close();
  }
}
