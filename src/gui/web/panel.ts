// The device panel, generated from the device's schema: every property with value, unit, timestamp and
// train ID; reconfigurable ones editable (applied all together or not at all, the error beside the
// field); slot buttons enabled only in their allowed states and for the roles that may press them.
import { type JsonValue, type PropertyInfo, type Role, roleLevel, type WireValue } from "../api.ts";
import { type Connection, RequestError } from "./conn.ts";
import { clock, fmt, h } from "./dom.ts";

interface Row {
  info: PropertyInfo;
  value: HTMLElement;
  stamp: HTMLElement;
  train: HTMLElement;
  input: HTMLInputElement | HTMLSelectElement | null;
  error: HTMLElement;
  tr: HTMLElement;
}

/** Shows one device at a time. */
export class DevicePanel {
  readonly #root: HTMLElement;
  readonly #conn: Connection;
  #deviceId: string | null = null;
  #role: Role = "observer";
  #rows = new Map<string, Row>();
  #slots = new Map<string, HTMLButtonElement>();
  #state = "UNKNOWN";
  #colour = "#FFAA00";
  #header: HTMLElement | null = null;
  #applyBar: HTMLElement | null = null;
  #dirty = new Set<string>();
  readonly #slotInfo = new Map<string, PropertyInfo>();
  /** Last value of each property, for Revert. */
  readonly #last = new Map<string, WireValue>();
  /** Asked to plot a property over time. */
  onTrend: (deviceId: string, key: string, label: string) => void = () => {};

  constructor(root: HTMLElement, conn: Connection) {
    this.#root = root;
    this.#conn = conn;
    this.#root.replaceChildren(h("div", { class: "empty", text: "Select a device in the topology" }));
    conn.on((m) => {
      if (m.t === "schema" && m.deviceId === this.#deviceId) this.#build(m.classId, m.properties);
      else if (m.t === "values" && m.deviceId === this.#deviceId) this.#values(m.values);
      else if (m.t === "deviceGone" && m.deviceId === this.#deviceId) this.#gone();
    });
  }

  /** Starts showing a device (and stops watching the previous one). */
  show(deviceId: string): void {
    if (deviceId === this.#deviceId) return;
    const prev = this.#deviceId;
    if (prev) this.#conn.unsubscribe({ t: "unwatchDevice", deviceId: prev }, (o) => o.t === "watchDevice");
    this.#deviceId = deviceId;
    this.#root.replaceChildren(h("div", { class: "empty", text: `Loading ${deviceId}…` }));
    this.#conn.subscribe({ t: "watchDevice", deviceId }, (o) => o.t === "watchDevice");
  }

  /** The device's state and its colour as the topology reports them. */
  setState(deviceId: string, state: string, colour: string): void {
    if (deviceId === this.#deviceId && (state !== this.#state || colour !== this.#colour)) {
      this.#state = state;
      this.#colour = colour;
      this.#refreshControls();
    }
  }

  /** Re-evaluates what the user may edit. */
  setRole(role: Role): void {
    this.#role = role;
    if (this.#deviceId) {
      const id = this.#deviceId;
      this.#deviceId = null;
      this.show(id);
    }
  }

  #gone(): void {
    this.#root.replaceChildren(h("div", { class: "empty", text: `${this.#deviceId} has gone` }));
  }

  #build(classId: string, props: PropertyInfo[]): void {
    const id = this.#deviceId as string;
    this.#rows.clear();
    this.#slots.clear();
    this.#slotInfo.clear();
    this.#last.clear();
    this.#dirty.clear();
    const stateBadge = h("span", { class: "state-badge", "data-testid": "panel-state", text: this.#state });
    this.#header = h(
      "div",
      { class: "panel-head" },
      h("h2", { text: id }),
      h("span", { class: "muted", text: classId }),
      stateBadge,
    );
    const slotBar = h("div", { class: "slots" });
    const tbody = h("tbody");
    for (const p of props) {
      if (p.kind === "slot") {
        const b = h("button", {
          class: "slot",
          "data-testid": `slot-${p.key}`,
          title: p.description || p.key,
          text: p.displayedName || p.key,
          onclick: () => this.#call(p.key),
        });
        this.#slots.set(p.key, b);
        this.#slotInfo.set(p.key, p);
        slotBar.append(b);
        continue;
      }
      if (p.kind === "node") {
        tbody.append(h("tr", { class: "node-row" }, h("td", { colspan: 5, text: p.displayedName || p.key })));
        continue;
      }
      tbody.append(this.#row(p));
    }
    this.#applyBar = h(
      "div",
      { class: "apply-bar" },
      h("button", {
        class: "primary",
        "data-testid": "apply",
        text: "Apply changes",
        onclick: () => this.#apply(),
      }),
      h("button", { text: "Revert", onclick: () => this.#revert() }),
      h("span", { class: "apply-msg", "data-testid": "apply-msg" }),
    );
    const table = h(
      "table",
      { class: "props", "data-testid": "props" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { text: "Property" }),
          h("th", { text: "Value" }),
          h("th", { text: "Set to" }),
          h("th", { text: "Time" }),
          h("th", { text: "Train" }),
        ),
      ),
      tbody,
    );
    this.#root.replaceChildren(
      this.#header,
      slotBar,
      this.#applyBar,
      h("div", { class: "table-wrap" }, table),
    );
    this.#refreshControls();
  }

  #row(p: PropertyInfo): HTMLElement {
    const value = h("span", { class: "value", "data-testid": `value-${p.key}` });
    const unit = p.unit ? h("span", { class: "unit", text: p.unit }) : null;
    const error = h("div", { class: "field-error", "data-testid": `error-${p.key}` });
    let input: HTMLInputElement | HTMLSelectElement | null = null;
    if (p.accessMode === "reconfigurable") {
      if (p.options && p.options.length > 0) {
        input = h("select", {}, ...p.options.map((o) => h("option", { value: String(o), text: String(o) })));
      } else if (p.valueType === "BOOL") {
        input = h("input", { type: "checkbox" });
      } else {
        input = h("input", { type: "text", spellcheck: false, autocomplete: "off" });
      }
      input.dataset.testid = `input-${p.key}`;
      const inp = input;
      const mark = () => {
        this.#dirty.add(p.key);
        inp.classList.add("dirty");
        this.#refreshApply();
      };
      inp.addEventListener("input", mark);
      inp.addEventListener("change", mark);
      inp.addEventListener("keydown", (e) => {
        if ((e as KeyboardEvent).key === "Enter") this.#apply();
        if ((e as KeyboardEvent).key === "Escape") this.#revert();
      });
    }
    const numeric = /^(U?INT|FLOAT|DOUBLE)/.test(p.valueType);
    const name = h(
      "td",
      { class: "pname", title: `${p.key}${p.description ? ` — ${p.description}` : ""}` },
      p.displayedName || p.key,
      numeric
        ? h("button", {
            class: "mini trend",
            title: "Plot over time",
            text: "↗",
            onclick: () => this.onTrend(this.#deviceId as string, p.key, `${this.#deviceId}.${p.key}`),
          })
        : null,
    );
    const stamp = h("td", { class: "stamp" });
    const train = h("td", { class: "train" });
    const tr = h(
      "tr",
      { "data-key": p.key },
      name,
      h("td", { class: "val-cell" }, value, unit),
      h("td", { class: "edit-cell" }, input, error),
      stamp,
      train,
    );
    this.#rows.set(p.key, { info: p, value, stamp, train, input, error, tr });
    return tr;
  }

  #values(values: { key: string; value: WireValue; stamp: { ms: number; trainId: number } }[]): void {
    for (const { key, value, stamp } of values) {
      if (key === "state" && typeof value === "string") {
        this.#state = value;
        this.#refreshControls();
      }
      const r = this.#rows.get(key);
      if (!r) continue;
      this.#last.set(key, value);
      if (value !== null && typeof value === "object" && "table" in value)
        r.value.replaceChildren(tableOf(value.table));
      else r.value.textContent = show(value);
      r.stamp.textContent = stamp.ms ? clock(stamp.ms) : "";
      r.train.textContent = stamp.trainId ? String(stamp.trainId) : "";
      r.tr.classList.remove("warn", "alarm");
      const level = limitLevel(r.info, value);
      if (level) r.tr.classList.add(level);
      if (key === "state") r.value.classList.add("state-value");
      if (r.input && !this.#dirty.has(key)) setInput(r.input, value);
    }
  }

  #editable(p: PropertyInfo): boolean {
    return roleLevel(this.#role) >= Math.max(1, p.requiredAccessLevel);
  }

  #refreshControls(): void {
    if (this.#header) {
      const badge = this.#header.querySelector(".state-badge") as HTMLElement;
      badge.textContent = this.#state;
      badge.style.background = this.#colour;
      const sv = this.#rows.get("state")?.value;
      if (sv) sv.style.color = this.#colour;
    }
    for (const r of this.#rows.values()) {
      if (!r.input) continue;
      const ok = this.#editable(r.info) && allowed(r.info, this.#state);
      r.input.disabled = !ok;
      r.input.title = !this.#editable(r.info)
        ? `Needs the ${r.info.requiredAccessLevel >= 2 ? "expert" : "operator"} role`
        : ok
          ? ""
          : `Only in ${r.info.allowedStates.join("/")}`;
    }
    this.#refreshSlots();
    this.#refreshApply();
  }

  #refreshSlots(): void {
    for (const [key, b] of this.#slots) {
      const p = this.#slotInfo.get(key);
      if (!p) continue;
      const may = this.#editable(p);
      const inState = allowed(p, this.#state);
      b.disabled = !may || !inState;
      b.title = !may
        ? `Needs the ${p.requiredAccessLevel >= 2 ? "expert" : "operator"} role — log in`
        : inState
          ? p.description || p.key
          : `Allowed in ${p.allowedStates.join(", ")} (now ${this.#state})`;
    }
  }

  #refreshApply(): void {
    if (!this.#applyBar) return;
    this.#applyBar.classList.toggle("visible", this.#dirty.size > 0);
  }

  #revert(): void {
    this.#dirty.clear();
    for (const r of this.#rows.values()) {
      r.error.textContent = "";
      r.input?.classList.remove("dirty", "bad");
      if (r.input) setInput(r.input, this.#last.get(r.info.key) ?? null);
    }
    this.#refreshApply();
  }

  #apply(): void {
    const id = this.#deviceId;
    if (!id || this.#dirty.size === 0) return;
    const values: Record<string, JsonValue> = {};
    for (const key of this.#dirty) {
      const r = this.#rows.get(key);
      if (r?.input) values[key] = readInput(r.input, r.info);
    }
    for (const r of this.#rows.values()) {
      r.error.textContent = "";
      r.input?.classList.remove("bad");
    }
    const msg = this.#applyBar?.querySelector(".apply-msg") as HTMLElement;
    msg.textContent = "applying…";
    this.#conn
      .request({ t: "set", deviceId: id, values })
      .then(() => {
        msg.textContent = "";
        for (const key of Object.keys(values)) this.#rows.get(key)?.input?.classList.remove("dirty");
        this.#dirty.clear();
        this.#refreshApply();
      })
      .catch((e: Error) => {
        const field = e instanceof RequestError ? e.field : undefined;
        const r = field ? this.#rows.get(field) : undefined;
        if (r) {
          r.error.textContent = e.message;
          r.input?.classList.add("bad");
          msg.textContent = "nothing was applied";
        } else {
          msg.textContent = e.message;
        }
      });
  }

  #call(slot: string): void {
    const id = this.#deviceId;
    if (!id) return;
    const b = this.#slots.get(slot);
    if (b) b.classList.add("busy");
    this.#conn
      .request({ t: "call", deviceId: id, slot })
      .catch((e: Error) => {
        document.dispatchEvent(new CustomEvent("sase-alert", { detail: `${slot}: ${e.message}` }));
      })
      .finally(() => b?.classList.remove("busy"));
  }
}

function allowed(p: PropertyInfo, state: string): boolean {
  return p.allowedStates.length === 0 || p.allowedStates.includes(state);
}

/**
 * Limit colouring of a number against its declared range: outside it is an alarm (a read-only value
 * can drift out of what its schema promises); within 5 % of either end is a warning.
 */
function limitLevel(p: PropertyInfo, v: WireValue): "warn" | "alarm" | null {
  if (typeof v !== "number") return null;
  const lo = p.minInc ?? p.minExc;
  const hi = p.maxInc ?? p.maxExc;
  if (
    (p.minInc !== undefined && v < p.minInc) ||
    (p.maxInc !== undefined && v > p.maxInc) ||
    (p.minExc !== undefined && v <= p.minExc) ||
    (p.maxExc !== undefined && v >= p.maxExc)
  ) {
    return "alarm";
  }
  // Near-limit warnings only for measured (read-only) values: a setpoint near its limit is a choice.
  if (p.accessMode === "read" && lo !== undefined && hi !== undefined && hi > lo) {
    const margin = 0.05 * (hi - lo);
    if (v < lo + margin || v > hi - margin) return "warn";
  }
  return null;
}

/** Display text of a wire value. */
function show(v: WireValue): string {
  if (v === null) return "—";
  if (typeof v === "number") return fmt(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const items = (v as (number | string | boolean)[])
      .slice(0, 8)
      .map((x) => (typeof x === "number" ? fmt(x) : String(x)));
    return `[${items.join(", ")}${v.length > 8 ? `, … (${v.length})` : ""}]`;
  }
  if ("table" in v) return `${v.table.rows.length} rows`;
  return `${v.array.dtype}[${v.array.shape.join("×")}] ${v.array.head.map(fmt).join(", ")}…`;
}

/** A table property as a small table. */
function tableOf(t: { columns: string[]; rows: (string | number | boolean | null)[][] }): HTMLElement {
  if (t.rows.length === 0) return h("span", { class: "muted", text: "(empty)" });
  return h(
    "table",
    { class: "mini-table" },
    h("tr", {}, ...t.columns.map((c) => h("th", { text: c }))),
    ...t.rows.map((row) =>
      h(
        "tr",
        {},
        ...row.map((x) => h("td", { text: x === null ? "" : typeof x === "number" ? fmt(x) : String(x) })),
      ),
    ),
  );
}

function setInput(input: HTMLInputElement | HTMLSelectElement, v: WireValue): void {
  if (input instanceof HTMLInputElement && input.type === "checkbox") input.checked = v === true;
  else if (Array.isArray(v)) input.value = v.join(", ");
  else input.value = v === null || typeof v === "object" ? "" : String(v);
}

/** What the user typed, as the JSON the server validates (left as text when it does not parse). */
function readInput(input: HTMLInputElement | HTMLSelectElement, p: PropertyInfo): JsonValue {
  if (input instanceof HTMLInputElement && input.type === "checkbox") return input.checked;
  const text = input.value.trim();
  const numeric = /^(U?INT|FLOAT|DOUBLE)/.test(p.valueType);
  if (p.valueType.startsWith("VECTOR_")) {
    if (text === "") return [];
    const parts = text.split(",").map((s) => s.trim());
    return p.valueType === "VECTOR_STRING"
      ? parts
      : parts.map((s) => (s === "" || Number.isNaN(Number(s)) ? s : Number(s)));
  }
  if (numeric) return text !== "" && !Number.isNaN(Number(text)) ? Number(text) : text;
  return text;
}
