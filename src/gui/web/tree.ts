// The topology tree: hosts → servers → classes → devices, each device with its state colour. A search
// box filters it; operators can start a device of a class and stop a device.
import type { Role, Topology } from "../api.ts";
import type { Connection } from "./conn.ts";
import { h } from "./dom.ts";

/** Renders the topology into `root` and reports the device the user selects. */
export class TopologyTree {
  readonly #list: HTMLElement;
  readonly #search: HTMLInputElement;
  readonly #conn: Connection;
  #topology: Topology = { hosts: [] };
  #selected: string | null = null;
  #role: Role = "observer";
  #armedKill: string | null = null;
  // Kept outside the DOM so a re-render (any state change) does not wipe what the user is typing.
  #form: { serverId: string; classId: string; value: string; error: string } | null = null;
  onSelect: (deviceId: string) => void = () => {};

  constructor(root: HTMLElement, conn: Connection) {
    this.#conn = conn;
    this.#search = h("input", {
      type: "search",
      placeholder: "Filter devices, classes, servers…",
      "data-testid": "tree-search",
      oninput: () => this.#render(),
    });
    this.#list = h("div", { class: "tree", "data-testid": "tree" });
    root.append(h("div", { class: "panel-head" }, h("h2", { text: "Topology" }), this.#search), this.#list);
  }

  /** Shows a new topology. */
  update(t: Topology): void {
    const shape = (x: Topology) =>
      JSON.stringify(
        x.hosts.map((hh) => [
          hh.host,
          hh.servers.map((s) => [s.id, s.classes, s.devices.map((d) => d.id + d.classId)]),
        ]),
      );
    const same = shape(t) === shape(this.#topology);
    this.#topology = t;
    if (!same) {
      this.#render();
      return;
    }
    // Only states changed: recolour rows in place so focus and typing in the tree survive.
    for (const hh of t.hosts) {
      for (const s of hh.servers) {
        for (const d of s.devices) {
          const row = this.#list.querySelector<HTMLElement>(`[data-testid="device-${CSS.escape(d.id)}"]`);
          if (!row || row.dataset.state === d.state) continue;
          row.dataset.state = d.state;
          row.title = `${d.id} (${d.classId}) — ${d.state}`;
          (row.querySelector(".state-dot") as HTMLElement).style.background = d.colour;
          const st = row.querySelector(".dev-state") as HTMLElement;
          st.style.color = d.colour;
          st.textContent = d.state;
        }
      }
    }
  }

  /** Changes what the controls offer (instantiate/kill need operator). */
  setRole(role: Role): void {
    this.#role = role;
    this.#render();
  }

  /** Marks a device as selected. */
  select(deviceId: string): void {
    this.#selected = deviceId;
    this.#render();
    this.onSelect(deviceId);
  }

  #render(): void {
    const q = this.#search.value.trim().toLowerCase();
    const match = (...s: string[]) => !q || s.some((x) => x.toLowerCase().includes(q));
    const canEdit = this.#role !== "observer";
    const out: HTMLElement[] = [];
    let shown = 0;
    for (const host of this.#topology.hosts) {
      const hostEl = h(
        "div",
        { class: "node host" },
        h("div", { class: "label" }, h("span", { class: "icon", text: "▣" }), host.host),
      );
      let hostHas = false;
      for (const srv of host.servers) {
        const srvEl = h(
          "div",
          { class: "node server" },
          h("div", { class: "label" }, h("span", { class: "icon", text: "◇" }), srv.id),
        );
        let srvHas = false;
        const classes = new Set([...srv.classes, ...srv.devices.map((d) => d.classId)]);
        for (const cls of [...classes].sort()) {
          const devs = srv.devices.filter(
            (d) => d.classId === cls && match(d.id, d.classId, srv.id, host.host, d.state),
          );
          if (devs.length === 0 && !match(cls, srv.id)) continue;
          const clsLabel = h("div", { class: "label" }, h("span", { class: "icon", text: "◆" }), cls);
          const clsEl = h("div", { class: "node cls" }, clsLabel);
          if (canEdit && srv.classes.includes(cls)) {
            clsLabel.append(
              h("button", {
                class: "mini",
                title: `Start a ${cls} device on ${srv.id}`,
                "data-testid": `instantiate-${cls}`,
                text: "+",
                onclick: (e: Event) => {
                  e.stopPropagation();
                  this.#form = { serverId: srv.id, classId: cls, value: "", error: "" };
                  this.#render();
                  (
                    this.#list.querySelector("[data-testid=instantiate-id]") as HTMLInputElement | null
                  )?.focus();
                },
              }),
            );
          }
          if (this.#form && this.#form.serverId === srv.id && this.#form.classId === cls) {
            clsEl.append(this.#instantiateForm(this.#form));
          }
          for (const d of devs) {
            shown++;
            const row = h(
              "div",
              {
                class: `device${d.id === this.#selected ? " selected" : ""}`,
                "data-testid": `device-${d.id}`,
                "data-state": d.state,
                title: `${d.id} (${d.classId}) — ${d.state}`,
                onclick: () => this.select(d.id),
              },
              h("span", { class: "state-dot", style: `background:${d.colour}` }),
              h("span", { class: "dev-id", text: shortId(d.id) }),
              h("span", { class: "dev-state", style: `color:${d.colour}`, text: d.state }),
            );
            if (canEdit) {
              const armed = this.#armedKill === d.id;
              row.append(
                h("button", {
                  class: `mini danger${armed ? " armed" : ""}`,
                  title: armed ? "Click again to stop this device" : "Stop this device",
                  "data-testid": `kill-${d.id}`,
                  text: armed ? "stop?" : "✕",
                  onclick: (e: Event) => {
                    e.stopPropagation();
                    if (!armed) {
                      this.#armedKill = d.id;
                      this.#render();
                      setTimeout(() => {
                        if (this.#armedKill === d.id) {
                          this.#armedKill = null;
                          this.#render();
                        }
                      }, 3000);
                      return;
                    }
                    this.#armedKill = null;
                    this.#conn
                      .request({ t: "kill", deviceId: d.id })
                      .catch((err: Error) => alertBar(err.message));
                  },
                }),
              );
            }
            clsEl.append(row);
          }
          srvEl.append(clsEl);
          srvHas = true;
        }
        if (srvHas || match(srv.id)) {
          hostEl.append(srvEl);
          hostHas = true;
        }
      }
      if (hostHas) out.push(hostEl);
    }
    if (out.length === 0)
      out.push(h("div", { class: "empty", text: q ? `Nothing matches “${q}”` : "No devices yet" }));
    this.#list.replaceChildren(...out);
    this.#list.dataset.count = String(shown);
  }

  #instantiateForm(f: { serverId: string; classId: string; value: string; error: string }): HTMLElement {
    const input = h("input", {
      placeholder: "new device id",
      class: "id-input",
      "data-testid": "instantiate-id",
      required: true,
      value: f.value,
      oninput: () => {
        f.value = input.value;
      },
    });
    const submit = (e: Event) => {
      e.preventDefault();
      this.#conn
        .request({
          t: "instantiate",
          serverId: f.serverId,
          classId: f.classId,
          deviceId: f.value.trim(),
          config: {},
        })
        .then(() => {
          this.#form = null;
          this.#render();
        })
        .catch((x: Error) => {
          f.error = x.message;
          this.#render();
        });
    };
    const cancel = () => {
      this.#form = null;
      this.#render();
    };
    return h(
      "form",
      { class: "inline-form", onsubmit: submit },
      input,
      h("button", { type: "submit", text: "Start" }),
      h("button", { type: "button", text: "Cancel", onclick: cancel }),
      f.error ? h("div", { class: "field-error", text: f.error }) : null,
    );
  }
}

/** Shows an error in the page's alert bar. */
export function alertBar(text: string): void {
  document.dispatchEvent(new CustomEvent("sase-alert", { detail: text }));
}

/** A long device id shortened at the front: the end (member, module number) tells devices apart. */
function shortId(id: string): string {
  return id.length > 24 ? `…${id.slice(-23)}` : id;
}
