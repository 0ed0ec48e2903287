// What a value looks like in a notebook: sase objects richly (a run's info as a table, 2-D arrays as
// images with a colour bar, 1-D arrays as plots, figures as SVG), anything else as text.
import { inspect } from "node:util";
import type { NDArray } from "../core/index.ts";
import { DataCollection } from "../files/index.ts";
import { type Displayable, type MimeBundle, imshow, plot, SASE_DISPLAY } from "./figure.ts";

function isDisplayable(v: unknown): v is Displayable {
  return typeof v === "object" && v !== null && SASE_DISPLAY in v;
}

function isNDArray(v: unknown): v is NDArray {
  return typeof v === "object" && v !== null && "shape" in v && "data" in v && ArrayBuffer.isView(v.data);
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A run (or selection) as a table: trains, files, and every source with its keys. */
export function runInfoBundle(run: DataCollection): MimeBundle {
  const ids = run.trainIds;
  const head = [
    ["trains", `${ids.length}${ids.length ? ` (${ids[0]}…${ids[ids.length - 1]})` : ""}`],
    ["files", String(run.files.length)],
    ["sources", `${run.controlSources.length} control, ${run.instrumentSources.length} instrument`],
  ];
  const rows = run.sources.map((s) => {
    const keys = run.keys(s);
    const shown = keys.slice(0, 6).join(", ") + (keys.length > 6 ? `, … (${keys.length})` : "");
    return [s, run.section(s), shown];
  });
  const html = [
    `<table><tbody>${head.map(([k, v]) => `<tr><th style="text-align:left">${k}</th><td style="text-align:left">${esc(v as string)}</td></tr>`).join("")}</tbody></table>`,
    `<table><thead><tr><th style="text-align:left">source</th><th>section</th><th style="text-align:left">keys</th></tr></thead><tbody>`,
    ...rows.map((r) => `<tr>${r.map((c) => `<td style="text-align:left">${esc(c)}</td>`).join("")}</tr>`),
    "</tbody></table>",
  ].join("");
  const text = [
    ...head.map(([k, v]) => `${k}: ${v}`),
    ...rows.map((r) => `  ${r[0]} (${r[1]}): ${r[2]}`),
  ].join("\n");
  return { "text/html": html, "text/plain": text };
}

/** The MIME bundle Jupyter shows for `value`. */
export function mimeBundle(value: unknown): MimeBundle {
  if (isDisplayable(value)) return value[SASE_DISPLAY]();
  if (value instanceof DataCollection) return runInfoBundle(value);
  if (isNDArray(value)) {
    const squeezed = value.shape.filter((d, i) => d !== 1 || i >= value.shape.length - 2);
    if (squeezed.length === 2) return imshow({ ...value, shape: squeezed })[SASE_DISPLAY]();
    if (value.shape.length === 1) {
      const b = plot(value.data as ArrayLike<number>)[SASE_DISPLAY]();
      return { ...b, "text/plain": `<array ${value.dtype} [${value.shape}]>` };
    }
    return { "text/plain": `<array ${value.dtype} [${value.shape.join(", ")}]>` };
  }
  if (typeof value === "string") return { "text/plain": value };
  return { "text/plain": inspect(value, { depth: 3, maxArrayLength: 20, breakLength: 100 }) };
}
