// Runs: run control (start/stop with run type and sample) and the run catalogue, whose quality flags
// operators can set. Plus the change log: who changed what, refused attempts included.
import type { AuditEntry, Role, RunInfo } from "../api.ts";
import type { Connection } from "./conn.ts";
import { clock, h } from "./dom.ts";

/** Run control and catalogue. */
export class RunsPanel {
  readonly #conn: Connection;
  readonly #state: HTMLElement;
  readonly #table: HTMLElement;
  readonly #runType: HTMLSelectElement;
  readonly #sample: HTMLInputElement;
  readonly #start: HTMLButtonElement;
  readonly #stop: HTMLButtonElement;
  readonly #msg: HTMLElement;
  #role: Role = "observer";
  #last: { runs: RunInfo[]; state: string; current: RunInfo | null; qualities: string[] } | null = null;

  constructor(root: HTMLElement, conn: Connection, available: boolean) {
    this.#conn = conn;
    this.#state = h("span", {
      class: "run-state",
      "data-testid": "run-state",
      text: available ? "…" : "no DAQ",
    });
    this.#runType = h(
      "select",
      { "data-testid": "run-type" },
      ...["data", "dark", "calibration", "alignment"].map((t) => h("option", { value: t, text: t })),
    );
    this.#sample = h("input", { type: "text", placeholder: "sample", "data-testid": "run-sample" });
    this.#start = h("button", {
      class: "primary",
      text: "Start run",
      "data-testid": "run-start",
      onclick: () => this.#control("start"),
    });
    this.#stop = h("button", {
      class: "danger",
      text: "Stop run",
      "data-testid": "run-stop",
      onclick: () => this.#control("stop"),
    });
    this.#msg = h("span", { class: "field-error" });
    this.#table = h("tbody");
    root.append(
      h("div", { class: "panel-head" }, h("h2", { text: "Runs" }), this.#state),
      h("div", { class: "run-control" }, this.#runType, this.#sample, this.#start, this.#stop, this.#msg),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "runs", "data-testid": "runs" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...["Run", "Type", "Sample", "Start", "Length", "Trains", "Quality"].map((t) =>
                h("th", { text: t }),
              ),
            ),
          ),
          this.#table,
        ),
      ),
    );
    if (!available) {
      for (const el of [this.#runType, this.#sample, this.#start, this.#stop]) el.disabled = true;
    }
    conn.on((m) => {
      if (m.t === "runs") {
        this.#last = m;
        this.#render();
      }
    });
  }

  setRole(role: Role): void {
    this.#role = role;
    this.#render();
  }

  #control(action: "start" | "stop"): void {
    this.#msg.textContent = "";
    this.#conn
      .request({ t: "runControl", action, runType: this.#runType.value, sample: this.#sample.value.trim() })
      .catch((e: Error) => {
        this.#msg.textContent = e.message;
      });
  }

  #render(): void {
    const m = this.#last;
    if (!m) return;
    const op = this.#role !== "observer";
    this.#state.textContent = m.current ? `${m.state} · run ${m.current.run}` : m.state;
    const recording = m.current !== null;
    this.#start.disabled = !op || recording;
    this.#stop.disabled = !op || !recording;
    this.#runType.disabled = !op || recording;
    this.#sample.disabled = !op || recording;
    this.#table.replaceChildren(
      ...m.runs.map((r) => {
        const q = op
          ? h(
              "select",
              {
                "data-testid": `quality-${r.run}`,
                onchange: (e: Event) => {
                  const quality = (e.target as HTMLSelectElement).value;
                  this.#conn
                    .request({ t: "setQuality", proposal: r.proposal, run: r.run, quality })
                    .catch((x: Error) => {
                      this.#msg.textContent = x.message;
                    });
                },
              },
              r.quality === ""
                ? h("option", { value: "", text: "— not flagged", selected: true, disabled: true })
                : null,
              ...m.qualities.map((o) => h("option", { value: o, text: o, selected: o === r.quality })),
            )
          : h("span", { class: `quality q-${r.quality}`, text: r.quality || "—" });
        const len = r.stopMs ? `${Math.round((r.stopMs - r.startMs) / 1000)} s` : "recording";
        return h(
          "tr",
          { class: r.stopMs ? "" : "live" },
          h("td", { text: `${r.proposal}/${r.run}` }),
          h("td", { text: r.runType }),
          h("td", { text: r.sample }),
          h("td", { text: clock(r.startMs) }),
          h("td", { text: len }),
          h("td", { text: String(r.trains) }),
          h("td", {}, q),
        );
      }),
    );
  }
}

/** The change log. */
export class AuditPanel {
  readonly #list: HTMLElement;

  constructor(root: HTMLElement, conn: Connection) {
    this.#list = h("div", { class: "audit", "data-testid": "audit" });
    root.append(h("div", { class: "panel-head" }, h("h2", { text: "Change log" })), this.#list);
    conn.on((m) => {
      if (m.t === "audit") this.#add(m.entries);
    });
  }

  #add(entries: AuditEntry[]): void {
    for (const e of entries) {
      this.#list.prepend(
        h(
          "div",
          { class: `entry${e.ok ? "" : " refused"}` },
          h("span", { class: "when", text: clock(e.ms) }),
          h("span", { class: "who", text: `${e.user} (${e.role})` }),
          h("span", { class: "what", text: `${e.action} ${e.target}` }),
          h("span", { class: "detail", text: e.detail }),
        ),
      );
    }
    while (this.#list.childElementCount > 200) this.#list.lastElementChild?.remove();
  }
}
