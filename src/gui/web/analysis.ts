// The analysis tab: compose the live analysis graph without code. Nodes are added from the kinds the
// server offers, parameters are edited in forms drawn from their descriptions, inputs are chosen from
// the outputs of the other nodes that have the right type; Save validates and runs the graph on the
// server (errors name the field at fault) and stores it for the proposal. Each node shows its rate and
// latency; curves (correlations, I(q), histograms, projections) are drawn live with uPlot. Mask shapes
// are drawn on the live image (image.ts) and outlined there while the graph holds them.
import uPlot from "uplot";
import type { Shape } from "../analysis-api.ts";
import type { NodeKindInfo, WireNodeStats, WireResult } from "../api.ts";
import { type Connection, RequestError } from "./conn.ts";
import { fmt, h } from "./dom.ts";
import type { DrawnShape, DrawRequest } from "./image.ts";

interface NodeDoc {
  id: string;
  kind: string;
  params: Record<string, unknown>;
  inputs: Record<string, string>;
}

interface GraphDoc {
  format: string;
  version: number;
  proposal: number;
  name: string;
  revision: number;
  nodes: NodeDoc[];
}

interface Curve {
  plot: uPlot;
  el: HTMLElement;
  data: [number[], number[]];
}

/** The analysis tab. */
export class AnalysisPanel {
  readonly #el: HTMLElement;
  readonly #conn: Connection;
  #kinds: NodeKindInfo[] = [];
  #doc: GraphDoc | null = null;
  #curves = new Map<string, Curve>();
  #values = new Map<string, HTMLElement>();
  #stats = new Map<string, HTMLElement>();
  #status: HTMLElement = h("span", { class: "muted", "data-testid": "analysis-status" });
  #nodesEl: HTMLElement = h("div", { class: "analysis-nodes" });
  #pending: { results: Record<string, WireResult>; stats: WireNodeStats[]; trainId: number } | null = null;
  #frame = 0;
  /** The text field of each node's shapes parameter, rewritten when a shape is drawn. */
  #shapeFields = new Map<string, { param: string; input: HTMLInputElement }>();

  constructor(el: HTMLElement, conn: Connection) {
    this.#el = el;
    this.#conn = conn;
    document.addEventListener("sase-shape", (ev) => {
      const { owner, shape } = (ev as CustomEvent<DrawnShape>).detail;
      const node = this.#doc?.nodes.find((n) => n.id === owner);
      const field = this.#shapeFields.get(owner);
      if (!node || !field) return;
      const shapes = Array.isArray(node.params[field.param]) ? (node.params[field.param] as Shape[]) : [];
      node.params[field.param] = [...shapes, shape];
      field.input.value = JSON.stringify(node.params[field.param]);
      this.#status.textContent = `${shape.type} added to ${owner}; Save to apply`;
      this.#status.className = "muted";
      this.#publishOverlay();
    });
    conn.on((m) => {
      if (m.t === "welcome") void this.#watch();
      else if (m.t === "analysisGraph") {
        this.#kinds = m.kinds;
        this.#doc = (m.graph as GraphDoc | null) ?? {
          format: "sase.analysis-graph",
          version: 1,
          proposal: m.proposal,
          name: "live",
          revision: 0,
          nodes: [],
        };
        for (const n of this.#doc.nodes) {
          n.params ??= {};
          n.inputs ??= {};
        }
        this.#render();
      } else if (m.t === "analysisUpdate") {
        this.#pending = m;
        this.#frame ||= requestAnimationFrame(() => this.#draw());
      }
    });
  }

  async #watch(): Promise<void> {
    try {
      await this.#conn.request({ t: "analysis", op: "watch", on: true });
    } catch (e) {
      this.#el.replaceChildren(h("div", { class: "empty", text: (e as Error).message }));
    }
  }

  #kind(kind: string): NodeKindInfo | undefined {
    return this.#kinds.find((k) => k.kind === kind);
  }

  /** Outputs of nodes other than `id` whose type one of `types` accepts. */
  #candidates(id: string, types: string[]): string[] {
    const out: string[] = [];
    for (const n of this.#doc?.nodes ?? []) {
      if (n.id === id) continue;
      for (const o of this.#kind(n.kind)?.outputs ?? []) {
        if (types.includes(o.type)) out.push(`${n.id}.${o.name}`);
      }
    }
    return out;
  }

  #render(): void {
    const doc = this.#doc;
    if (!doc) return;
    for (const c of this.#curves.values()) c.plot.destroy();
    this.#curves.clear();
    this.#values.clear();
    this.#stats.clear();
    this.#shapeFields.clear();
    const name = h("input", { value: doc.name, size: 14, "data-testid": "analysis-name" });
    name.addEventListener("change", () => {
      doc.name = name.value;
    });
    const kindSel = h(
      "select",
      { "data-testid": "analysis-kind" },
      ...this.#kinds.map((k) => h("option", { value: k.kind, text: `${k.kind} — ${k.doc}` })),
    );
    const add = h("button", {
      text: "Add node",
      "data-testid": "analysis-add",
      onclick: () => this.#add(kindSel.value),
    });
    const save = h("button", {
      text: "Save",
      "data-testid": "analysis-save",
      onclick: () => void this.#save(),
    });
    const reset = h("button", {
      text: "Reset accumulations",
      "data-testid": "analysis-reset",
      onclick: () => void this.#reset(),
    });
    const header = h(
      "div",
      { class: "analysis-bar" },
      h("label", { text: `Proposal ${doc.proposal} · graph ` }),
      name,
      h("span", { class: "muted", text: ` rev ${doc.revision} ` }),
      save,
      reset,
      this.#status,
    );
    const adder = h("div", { class: "analysis-bar" }, kindSel, add);
    this.#nodesEl = h("div", { class: "analysis-nodes" }, ...doc.nodes.map((n) => this.#nodeCard(n)));
    this.#el.replaceChildren(header, adder, this.#nodesEl);
    this.#publishOverlay();
  }

  /** Tells the image which mask shapes the graph being edited holds. */
  #publishOverlay(): void {
    const shapes: Shape[] = [];
    for (const n of this.#doc?.nodes ?? []) {
      const f = this.#shapeFields.get(n.id);
      const v = f ? n.params[f.param] : undefined;
      if (Array.isArray(v)) shapes.push(...(v as Shape[]).filter((x) => x && typeof x === "object"));
    }
    document.dispatchEvent(new CustomEvent("sase-mask-overlay", { detail: shapes }));
  }

  /** Buttons that draw a shape of each kind on the live image for `n`'s shapes parameter. */
  #drawRow(n: NodeDoc, param: string): HTMLElement {
    const tool = (t: DrawRequest["tool"], label: string) =>
      h("button", {
        text: label,
        title: `Draw a ${t} on the live image`,
        "data-testid": `draw-${n.id}-${t}`,
        onclick: () => {
          const detail: DrawRequest = { tool: t, owner: n.id };
          document.dispatchEvent(new CustomEvent("sase-draw", { detail }));
        },
      });
    const clear = h("button", {
      text: "clear",
      title: "Remove every shape",
      "data-testid": `draw-${n.id}-clear`,
      onclick: () => {
        n.params[param] = [];
        const f = this.#shapeFields.get(n.id);
        if (f) f.input.value = "[]";
        this.#publishOverlay();
      },
    });
    return h(
      "div",
      { class: "node-row" },
      h("span", { text: "draw" }),
      tool("rect", "▭ rect"),
      tool("circle", "◯ circle"),
      tool("polygon", "⬠ polygon"),
      clear,
    );
  }

  #add(kind: string): void {
    const doc = this.#doc;
    const info = this.#kind(kind);
    if (!doc || !info) return;
    let k = 1;
    while (doc.nodes.some((n) => n.id === `${kind}${k}`)) k++;
    const node: NodeDoc = { id: `${kind}${k}`, kind, params: {}, inputs: {} };
    // Wire each required input to the first output that fits, so a chain builds itself.
    for (const i of info.inputs) {
      const c = this.#candidates(node.id, i.types);
      if (c.length && !i.optional) node.inputs[i.name] = c[0]!;
    }
    doc.nodes.push(node);
    this.#render();
  }

  #nodeCard(n: NodeDoc): HTMLElement {
    const info = this.#kind(n.kind);
    const stats = h("span", { class: "muted node-stats", "data-testid": `node-stats-${n.id}` });
    this.#stats.set(n.id, stats);
    const remove = h("button", {
      text: "✕",
      title: "remove this node",
      "data-testid": `node-remove-${n.id}`,
      onclick: () => {
        if (!this.#doc) return;
        this.#doc.nodes = this.#doc.nodes.filter((x) => x !== n);
        this.#render();
      },
    });
    const rows: HTMLElement[] = [];
    for (const p of info?.params ?? []) {
      rows.push(this.#paramRow(n, p));
      if (p.type === "shapes") rows.push(this.#drawRow(n, p.name));
    }
    for (const i of info?.inputs ?? []) {
      const sel = h(
        "select",
        { "data-testid": `input-${n.id}-${i.name}` },
        h("option", { value: "", text: i.optional ? "(parameter)" : "(not connected)" }),
        ...this.#candidates(n.id, i.types).map((c) => h("option", { value: c, text: c })),
      );
      sel.value = n.inputs[i.name] ?? "";
      sel.addEventListener("change", () => {
        if (sel.value) n.inputs[i.name] = sel.value;
        else delete n.inputs[i.name];
      });
      rows.push(h("label", { class: "node-row" }, h("span", { text: `← ${i.name}` }), sel));
    }
    const outs: HTMLElement[] = [];
    for (const o of info?.outputs ?? []) {
      const key = `${n.id}.${o.name}`;
      if (o.type === "scalar") {
        const v = h("span", { class: "node-value", "data-testid": `value-${n.id}-${o.name}`, text: "–" });
        this.#values.set(key, v);
        outs.push(h("div", { class: "node-row" }, h("span", { text: `→ ${o.name}` }), v));
      } else if (o.type === "vector") {
        outs.push(this.#curve(key, n, o.name));
      }
    }
    return h(
      "div",
      { class: "node-card", "data-testid": `node-${n.id}` },
      h(
        "div",
        { class: "node-head" },
        h("b", { text: n.id }),
        h("span", { class: "muted", text: ` ${n.kind} ` }),
        stats,
        remove,
      ),
      ...rows,
      ...outs,
    );
  }

  #paramRow(n: NodeDoc, p: NodeKindInfo["params"][number]): HTMLElement {
    const id = `param-${n.id}-${p.name}`;
    const current = n.params[p.name] ?? p.default;
    let input: HTMLInputElement | HTMLSelectElement;
    let read: () => unknown;
    if (p.type === "boolean") {
      const c = h("input", { type: "checkbox", "data-testid": id });
      c.checked = current === true;
      input = c;
      read = () => c.checked;
    } else if (p.type === "enum") {
      const s = h(
        "select",
        { "data-testid": id },
        ...p.options.map((o) => h("option", { value: o, text: o })),
      );
      s.value = String(current);
      input = s;
      read = () => s.value;
    } else if (p.type === "number" || p.type === "integer") {
      const t = h("input", {
        type: "number",
        step: p.type === "integer" ? 1 : "any",
        size: 8,
        "data-testid": id,
      });
      t.value = String(current);
      input = t;
      read = () => Number(t.value);
    } else if (p.type === "string") {
      const t = h("input", { size: 22, "data-testid": id });
      t.value = String(current);
      input = t;
      read = () => t.value;
    } else {
      // Lists (pulse indices, shapes) as JSON text.
      const t = h("input", { size: 30, "data-testid": id });
      t.value = JSON.stringify(current);
      input = t;
      read = () => {
        try {
          return JSON.parse(t.value);
        } catch {
          return t.value;
        }
      };
    }
    input.title = p.doc;
    input.addEventListener("change", () => {
      n.params[p.name] = read();
      if (p.type === "shapes") this.#publishOverlay();
    });
    if (p.type === "shapes") this.#shapeFields.set(n.id, { param: p.name, input: input as HTMLInputElement });
    return h("label", { class: "node-row" }, h("span", { text: p.name }), input);
  }

  #curve(key: string, n: NodeDoc, port: string): HTMLElement {
    const el = h("div", { class: "chart", "data-testid": `plot-${n.id}-${port}`, "data-points": "0" });
    const points = n.kind === "correlation";
    const plot = new uPlot(
      {
        title: `${n.id}.${port}`,
        width: 320,
        height: 160,
        legend: { show: false },
        scales: { x: { time: false } },
        series: [
          {},
          points
            ? { stroke: "#4fc3f7", width: 0, points: { show: true, size: 5, fill: "#4fc3f7" } }
            : { stroke: "#4fc3f7", width: 1.5 },
        ],
        axes: [{ stroke: "#9aa4ad" }, { stroke: "#9aa4ad", size: 60 }],
      },
      [[], []],
      el,
    );
    this.#curves.set(key, { plot, el, data: [[], []] });
    return el;
  }

  #draw(): void {
    this.#frame = 0;
    const p = this.#pending;
    this.#pending = null;
    if (!p) return;
    for (const s of p.stats) {
      const el = this.#stats.get(s.id);
      if (!el) continue;
      el.textContent = s.error
        ? `error: ${s.error}`
        : `${s.rateHz.toFixed(1)} Hz · ${s.meanMs.toFixed(1)} ms${s.dropped ? ` · ${s.dropped} dropped` : ""}`;
      el.classList.toggle("bad", s.error !== null);
    }
    for (const [key, el] of this.#values) {
      const v = p.results[key];
      if (typeof v === "number") el.textContent = fmt(v);
    }
    for (const [key, c] of this.#curves) {
      const v = p.results[key];
      if (!v || typeof v !== "object" || !("y" in v)) continue;
      // uPlot wants x ascending: a correlation's points are sorted by x for drawing.
      const pairs = v.x.map((x, i) => [x, v.y[i]] as const).filter(([x]) => x !== null) as [
        number,
        number | null,
      ][];
      pairs.sort((a, b) => a[0] - b[0]);
      c.plot.setData([pairs.map((q) => q[0]), pairs.map((q) => q[1])] as uPlot.AlignedData);
      c.el.dataset.points = String(pairs.length);
      c.el.dataset.train = String(p.trainId);
    }
  }

  async #save(): Promise<void> {
    const doc = this.#doc;
    if (!doc) return;
    this.#status.textContent = "saving…";
    this.#status.className = "muted";
    try {
      const r = (await this.#conn.request({ t: "analysis", op: "save", graph: doc })) as { revision: number };
      this.#status.textContent = `saved revision ${r.revision}, running`;
    } catch (e) {
      this.#status.textContent = e instanceof RequestError ? e.message : String(e);
      this.#status.className = "field-error";
    }
  }

  async #reset(): Promise<void> {
    try {
      await this.#conn.request({ t: "analysis", op: "reset" });
      this.#status.textContent = "accumulations reset";
    } catch (e) {
      this.#status.textContent = (e as Error).message;
      this.#status.className = "field-error";
    }
  }
}
