// The run table for the GUI: the table layer's store over the catalogue. Jobs in other processes
// fill it, so the backend looks at the database once a second and tells the pages when their
// table changed (a few small queries; the page gets the new table only then).
import { Catalogue, CatalogueError } from "../../daq/index.ts";
import { type CellRecord, TableStore, tableCsv, tableOf } from "../../table/index.ts";
import type { RunTableInfo, TableCellDetail, TableCellInfo } from "../api.ts";
import type { Identity } from "./auth.ts";
import { asRequestError, GuiRequestError } from "./backend.ts";

/** Largest image side sent to a page (larger ones are binned). */
const MAX_IMAGE_SIDE = 512;

function cellInfo(c: CellRecord): TableCellInfo {
  if (c.kind === "error") return { kind: "error", value: null, error: c.error ?? "" };
  // NaN does not survive JSON: it travels as null and shows as such.
  const value = typeof c.value === "number" && !Number.isFinite(c.value) ? null : c.value;
  return { kind: c.kind, value };
}

/** The run table of one catalogue, for the GUI server. */
export class RunTableBackend {
  readonly #cat: Catalogue;
  readonly #store: TableStore;
  readonly #listeners = new Set<() => void>();
  readonly #timer: NodeJS.Timeout;
  #last = "";

  constructor(cataloguePath: string, pollMs = 1000) {
    this.#cat = Catalogue.open(cataloguePath);
    this.#store = new TableStore(this.#cat, cataloguePath);
    this.#last = JSON.stringify(this.tables());
    this.#timer = setInterval(() => this.#poll(), pollMs);
    this.#timer.unref();
  }

  #poll(): void {
    const now = JSON.stringify(this.tables());
    if (now === this.#last) return;
    this.#last = now;
    for (const l of this.#listeners) l();
  }

  /** Every proposal's table, newest proposal first, runs newest first. */
  tables(): RunTableInfo[] {
    return this.#cat
      .proposals()
      .reverse()
      .map(({ number }) => {
        const { columns, rows } = tableOf(this.#store, number);
        return {
          proposal: number,
          columns: columns.map((c) => ({ name: c.name, title: c.title, unit: c.unit })),
          rows: rows.reverse().map((r) => ({
            run: r.run.number,
            quality: r.run.quality ?? "",
            comment: r.comment,
            cells: Object.fromEntries(Object.entries(r.cells).map(([k, c]) => [k, cellInfo(c)])),
          })),
        };
      });
  }

  /** A proposal's table as CSV. */
  csv(proposal: number): string {
    const { columns, rows } = tableOf(this.#store, proposal);
    return tableCsv(columns, rows);
  }

  #run(proposal: number, run: number) {
    const r = this.#cat.findRun(proposal, run);
    if (!r)
      throw new GuiRequestError(
        `no run ${run} of proposal ${proposal} in the catalogue`,
        undefined,
        "NOT_FOUND",
      );
    return r;
  }

  /** What a click on a cell shows. */
  async cell(proposal: number, run: number, name: string): Promise<TableCellDetail> {
    const r = this.#run(proposal, run);
    const col = this.#store.columns(proposal).find((c) => c.name === name);
    if (!col)
      throw new GuiRequestError(`proposal ${proposal} has no variable ${name}`, undefined, "NOT_FOUND");
    const title = col.unit ? `${col.title} [${col.unit}]` : col.title;
    const c = this.#store.cell(r.id, name);
    if (!c) return { kind: "text", title, text: "not computed yet" };
    if (c.kind === "error") return { kind: "text", title, text: `error: ${c.error}` };
    if (c.kind === "string") return { kind: "text", title, text: String(c.value) };
    if (c.kind === "number") {
      const runs: number[] = [];
      const values: (number | null)[] = [];
      for (const other of this.#cat.runs(proposal)) {
        const v = this.#store.cell(other.id, name);
        if (v?.kind !== "number") continue;
        runs.push(other.number);
        values.push(Number.isFinite(v.value) ? (v.value as number) : null);
      }
      return { kind: "series", title, runs, values };
    }
    const { data, shape } = await this.#store.readArray(c);
    if (c.kind === "array") return { kind: "array", title, values: Array.from(data) };
    return { kind: "image", title, ...binned(data, shape[0] as number, shape[1] as number) };
  }

  /** Sets a run's comment (the store keeps every edit with its user). */
  setComment(proposal: number, run: number, comment: string, who: Identity): void {
    try {
      this.#store.setComment(this.#run(proposal, run).id, comment, who.user);
    } catch (e) {
      if (e instanceof CatalogueError) throw asRequestError(e);
      throw e;
    }
    this.#poll();
  }

  /** Calls `listener` whenever a table changed; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#cat.close();
  }
}

// Mean-bins an image so that neither side exceeds MAX_IMAGE_SIDE.
function binned(data: Float64Array, height: number, width: number) {
  const b = Math.max(1, Math.ceil(Math.max(height, width) / MAX_IMAGE_SIDE));
  const h = Math.ceil(height / b);
  const w = Math.ceil(width / b);
  const values = new Array<number>(h * w).fill(0);
  const counts = new Array<number>(h * w).fill(0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = data[y * width + x] as number;
      if (!Number.isFinite(v)) continue;
      const i = Math.floor(y / b) * w + Math.floor(x / b);
      values[i] = (values[i] as number) + v;
      counts[i] = (counts[i] as number) + 1;
    }
  }
  for (let i = 0; i < values.length; i++)
    values[i] = counts[i] ? (values[i] as number) / (counts[i] as number) : 0;
  return { width: w, height: h, values };
}
