// The run table: one row per run with its quality flag, a column per variable of the proposal's
// context and the comment. It follows the server's table as jobs fill cells; clicking a cell shows
// its variable over all runs (numbers), its array as a plot or its image with a colour bar;
// operators edit comments in place (the server logs who); CSV export is a link to the server.
import uPlot from "uplot";
import type { Role, RunTableInfo, TableCellDetail, TableCellInfo } from "../api.ts";
import { applyColormap, colormapLut, lutCss } from "./colormap.ts";
import type { Connection } from "./conn.ts";
import { fmt, h } from "./dom.ts";

function cellText(c: TableCellInfo | undefined): string {
  if (!c) return "…";
  if (c.kind === "error") return `⚠ ${c.error}`;
  if (typeof c.value === "number") return fmt(c.value);
  return c.value === null ? "NaN" : c.value;
}

/** The run-table tab. */
export class RunTablePanel {
  readonly #conn: Connection;
  readonly #proposal: HTMLSelectElement;
  readonly #csv: HTMLAnchorElement;
  readonly #body: HTMLElement;
  readonly #detail: HTMLElement;
  readonly #msg: HTMLElement;
  #tables: RunTableInfo[] = [];
  #role: Role = "observer";
  #plot: uPlot | null = null;

  constructor(root: HTMLElement, conn: Connection) {
    this.#conn = conn;
    this.#proposal = h("select", { "data-testid": "table-proposal", onchange: () => this.#render() });
    this.#csv = h("a", { class: "button", text: "Export CSV", "data-testid": "table-csv", download: "" });
    this.#msg = h("span", { class: "field-error", "data-testid": "table-error" });
    this.#body = h("div", { class: "table-wrap" });
    this.#detail = h("div", { class: "cell-detail", "data-testid": "cell-detail" });
    root.append(
      h("div", { class: "panel-head" }, h("h2", { text: "Run table" }), this.#proposal, this.#csv, this.#msg),
      h("div", { class: "run-table-split" }, this.#body, this.#detail),
    );
    conn.on((m) => {
      if (m.t !== "runTable") return;
      this.#tables = m.tables;
      this.#render();
    });
  }

  /** Asks for the table (and its updates); called when the page (re)connects. */
  start(): void {
    this.#conn.request({ t: "runTable" }).catch((e: Error) => {
      this.#msg.textContent = e.message;
    });
  }

  setRole(role: Role): void {
    this.#role = role;
    this.#render();
  }

  #render(): void {
    const chosen = Number(this.#proposal.value) || this.#tables[0]?.proposal;
    this.#proposal.replaceChildren(
      ...this.#tables.map((t) =>
        h("option", { value: t.proposal, text: `proposal ${t.proposal}`, selected: t.proposal === chosen }),
      ),
    );
    const t = this.#tables.find((x) => x.proposal === chosen);
    if (!t) {
      this.#body.replaceChildren(h("p", { class: "muted", text: "no runs in the catalogue yet" }));
      return;
    }
    this.#csv.href = `/api/table.csv?proposal=${t.proposal}`;
    const op = this.#role !== "observer";
    const head = h(
      "tr",
      {},
      h("th", { text: "Run" }),
      h("th", { text: "Quality" }),
      ...t.columns.map((c) => h("th", { text: c.unit ? `${c.title} [${c.unit}]` : c.title, title: c.name })),
      h("th", { text: "Comment" }),
    );
    const rows = t.rows.map((r) => {
      const comment = op
        ? h("input", {
            type: "text",
            value: r.comment,
            "data-testid": `comment-${r.run}`,
            onchange: (e: Event) => {
              const text = (e.target as HTMLInputElement).value;
              this.#conn
                .request({ t: "tableComment", proposal: t.proposal, run: r.run, comment: text })
                .catch((x: Error) => {
                  this.#msg.textContent = x.message;
                });
            },
          })
        : h("span", { text: r.comment, "data-testid": `comment-${r.run}` });
      return h(
        "tr",
        { "data-testid": `table-row-${r.run}` },
        h("td", { text: String(r.run) }),
        h("td", {}, h("span", { class: `quality q-${r.quality}`, text: r.quality || "—" })),
        ...t.columns.map((c) => {
          const cell = r.cells[c.name];
          return h("td", {
            class: `cell ${cell?.kind === "error" ? "cell-error" : ""}`,
            text: cellText(cell),
            title: cell?.kind === "error" ? (cell.error ?? "") : "",
            "data-testid": `cell-${r.run}-${c.name}`,
            onclick: () => this.#show(t.proposal, r.run, c.name),
          });
        }),
        h("td", {}, comment),
      );
    });
    this.#body.replaceChildren(
      h(
        "table",
        { class: "runs run-table", "data-testid": "run-table" },
        h("thead", {}, head),
        h("tbody", {}, ...rows),
      ),
    );
  }

  #show(proposal: number, run: number, name: string): void {
    this.#conn
      .request({ t: "tableCell", proposal, run, name })
      .then((d) => this.#draw(d as unknown as TableCellDetail, run))
      .catch((e: Error) => {
        this.#msg.textContent = e.message;
      });
  }

  #draw(d: TableCellDetail, run: number): void {
    this.#plot?.destroy();
    this.#plot = null;
    const title = h("h3", { text: `${d.title} · run ${run}`, "data-testid": "cell-detail-title" });
    if (d.kind === "text") {
      this.#detail.replaceChildren(title, h("p", { text: d.text }));
      return;
    }
    if (d.kind === "image") {
      this.#detail.replaceChildren(title, imageWithColourBar(d.width, d.height, d.values));
      return;
    }
    const holder = h("div", { "data-testid": "cell-plot" });
    this.#detail.replaceChildren(title, holder);
    const x = d.kind === "series" ? d.runs : d.values.map((_, i) => i);
    const y = d.values;
    this.#plot = new uPlot(
      {
        width: 360,
        height: 220,
        legend: { show: false },
        scales: { x: { time: false } },
        axes: [
          { stroke: "#9aa4ad", label: d.kind === "series" ? "run" : "index" },
          { stroke: "#9aa4ad", label: d.title },
        ],
        series: [{}, { stroke: "#4fc3f7", points: { show: d.kind === "series" } }],
      },
      [x, y as number[]],
      holder,
    );
  }
}

// An image drawn with the viridis map, beside a colour bar labelled with its limits.
function imageWithColourBar(width: number, height: number, values: number[]): HTMLElement {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const lut = colormapLut("viridis");
  const canvas = h("canvas", { width, height, class: "cell-image", "data-testid": "cell-image" });
  const img = new ImageData(width, height);
  applyColormap(Float32Array.from(values), new Uint32Array(img.data.buffer), lut, lo, hi, false, 0);
  canvas.getContext("2d")?.putImageData(img, 0, 0);
  const bar = h("canvas", { width: 12, height: 128, class: "colour-bar" });
  const ctx = bar.getContext("2d");
  for (let i = 0; i < 128 && ctx; i++) {
    ctx.fillStyle = lutCss(lut, 255 - i * 2);
    ctx.fillRect(0, i, 12, 1);
  }
  return h(
    "div",
    { class: "cell-image-wrap" },
    canvas,
    h("div", { class: "colour-bar-wrap" }, h("span", { text: fmt(hi) }), bar, h("span", { text: fmt(lo) })),
  );
}
