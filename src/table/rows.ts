// The table as people read it: one row per run with its quality flag, comment and every column's
// cell; printed aligned or as CSV (RFC 4180 quoting).
import type { RunRecord } from "../daq/index.ts";
import type { CellRecord, ColumnRecord, TableStore } from "./store.ts";

/** One row of a proposal's table. */
export interface TableRow {
  readonly run: RunRecord;
  readonly comment: string;
  readonly cells: Readonly<Record<string, CellRecord>>;
}

/** Columns and rows of one proposal's table (runs in order). */
export function tableOf(store: TableStore, proposal: number): { columns: ColumnRecord[]; rows: TableRow[] } {
  const columns = store.columns(proposal);
  const rows = store.cat.runs(proposal).map((run) => {
    const cells: Record<string, CellRecord> = {};
    for (const c of store.cells(run.id)) cells[c.name] = c;
    return { run, comment: store.comment(run.id), cells };
  });
  return { columns, rows };
}

/** A cell as text: the value, or "error: message", or "" before it is computed. */
export function cellText(c: CellRecord | undefined): string {
  if (!c) return "";
  if (c.kind === "error") return `error: ${c.error}`;
  if (typeof c.value === "number")
    return Number.isInteger(c.value) ? String(c.value) : c.value.toPrecision(6);
  return String(c.value ?? "");
}

function header(columns: ColumnRecord[]): string[] {
  return ["run", "quality", ...columns.map((c) => (c.unit ? `${c.title} [${c.unit}]` : c.title)), "comment"];
}

function rowTexts(columns: ColumnRecord[], r: TableRow): string[] {
  return [
    String(r.run.number),
    r.run.quality ?? "",
    ...columns.map((c) => cellText(r.cells[c.name])),
    r.comment,
  ];
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The table as CSV with a header line. */
export function tableCsv(columns: ColumnRecord[], rows: TableRow[]): string {
  return `${[header(columns), ...rows.map((r) => rowTexts(columns, r))].map((l) => l.map(csvField).join(",")).join("\r\n")}\r\n`;
}

/** The table as aligned text for a terminal. */
export function tableText(columns: ColumnRecord[], rows: TableRow[]): string {
  const lines = [header(columns), ...rows.map((r) => rowTexts(columns, r))];
  const widths = lines[0]!.map((_, i) => Math.min(40, Math.max(...lines.map((l) => l[i]!.length))));
  return lines
    .map((l) =>
      l
        .map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
