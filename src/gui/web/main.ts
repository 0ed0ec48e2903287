// The page: header (connection, train, user), topology on the left, live image in the middle, plots on
// the right, and below the image tabs for the device panel, runs and the change log.
import type { Role, Topology, TrainMatching } from "../api.ts";
import { AnalysisPanel } from "./analysis.ts";
import { Connection } from "./conn.ts";
import { h } from "./dom.ts";
import { ImageView } from "./image.ts";
import { DevicePanel } from "./panel.ts";
import { Plots } from "./plots.ts";
import { RunTablePanel } from "./run-table.ts";
import { AuditPanel, RunsPanel } from "./runs.ts";
import "./style.css";
import { TopologyTree } from "./tree.ts";

const conn = new Connection();
const $ = (id: string) => document.getElementById(id) as HTMLElement;

const tree = new TopologyTree($("topology"), conn);
const panel = new DevicePanel($("tab-device"), conn);
const plots = new Plots($("plots"));
new AuditPanel($("tab-log"), conn);
new AnalysisPanel($("tab-analysis"), conn);
let runs: RunsPanel | null = null;
let runTable: RunTablePanel | null = null;
let image: ImageView | null = null;
let topology: Topology = { hosts: [] };

// Tabs below the image.
document.querySelectorAll<HTMLButtonElement>(".tabs button").forEach((b) => {
  b.addEventListener("click", () => showTab(b.dataset.tab as string));
});
function showTab(name: string): void {
  document.querySelectorAll<HTMLButtonElement>(".tabs button").forEach((b) => {
    b.classList.toggle("active", b.dataset.tab === name);
  });
  document.querySelectorAll<HTMLElement>(".tab").forEach((t) => {
    t.hidden = t.id !== `tab-${name}`;
  });
}

tree.onSelect = (id) => {
  panel.show(id);
  showTab("device");
  history.replaceState(null, "", `#${encodeURIComponent(id)}`);
  const d = findDevice(id);
  if (d) panel.setState(id, d.state, d.colour);
};
panel.onTrend = (deviceId, key, label) => plots.setTrend(deviceId, key, label);
plots.onTrendChange = (prev, next) => {
  if (prev) conn.unsubscribe({ t: "trend", ...prev, on: false }, (o) => o.t === "trend");
  conn.subscribe({ t: "trend", ...next, on: true }, (o) => o.t === "trend");
};

function findDevice(id: string) {
  for (const host of topology.hosts) {
    for (const s of host.servers) {
      const d = s.devices.find((x) => x.id === id);
      if (d) return d;
    }
  }
  return null;
}

// Header: connection, user, login.
const status = $("conn");
const user = $("user");
conn.onStatus((up) => {
  status.textContent = up ? "live" : "reconnecting…";
  status.className = up ? "ok" : "bad";
});

function showUser(name: string, role: Role): void {
  document.body.dataset.role = role;
  tree.setRole(role);
  panel.setRole(role);
  runs?.setRole(role);
  runTable?.setRole(role);
  const badge = h("span", { class: `role role-${role}`, "data-testid": "role", text: role });
  if (name === "anonymous") {
    const u = h("input", {
      placeholder: "user",
      autocomplete: "username",
      "data-testid": "login-user",
      size: 9,
    });
    const p = h("input", {
      type: "password",
      placeholder: "password",
      autocomplete: "current-password",
      "data-testid": "login-password",
      size: 9,
    });
    const err = h("span", { class: "field-error", "data-testid": "login-error" });
    const form = h(
      "form",
      {
        class: "login",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const r = await fetch("/api/login", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ user: u.value, password: p.value }),
          });
          if (!r.ok) {
            err.textContent = ((await r.json()) as { error: string }).error;
            return;
          }
          conn.reconnect();
        },
      },
      u,
      p,
      h("button", { type: "submit", text: "Log in", "data-testid": "login" }),
      err,
    );
    user.replaceChildren(badge, h("span", { class: "muted", text: "viewing only" }), form);
  } else {
    user.replaceChildren(
      h("span", { class: "who", text: name }),
      badge,
      h("button", {
        text: "Log out",
        "data-testid": "logout",
        onclick: async () => {
          await fetch("/api/logout", { method: "POST" });
          conn.reconnect();
        },
      }),
    );
  }
}

// Transient errors from anywhere in the page.
const alertEl = $("alert");
let alertTimer = 0;
document.addEventListener("sase-alert", (e) => {
  alertEl.textContent = (e as CustomEvent<string>).detail;
  alertEl.hidden = false;
  clearTimeout(alertTimer);
  alertTimer = window.setTimeout(() => {
    alertEl.hidden = true;
  }, 8000);
});

conn.on((m) => {
  switch (m.t) {
    case "welcome":
      if (!runs) runs = new RunsPanel($("tab-runs"), conn, m.runsAvailable);
      if (m.tableAvailable) {
        runTable ??= new RunTablePanel($("tab-table"), conn);
        (document.querySelector('[data-tab="table"]') as HTMLElement).hidden = false;
        runTable.start();
      }
      if (!image && m.imageSource)
        image = new ImageView($("image"), conn, m.imageSource, m.imageViews ?? [], m.imageView ?? "");
      if (!m.imageSource)
        $("image").replaceChildren(h("div", { class: "empty", text: "No detector image in this facility" }));
      showUser(m.user, m.role);
      image?.start();
      break;
    case "topology": {
      topology = m.topology;
      tree.update(m.topology);
      for (const host of m.topology.hosts) {
        for (const s of host.servers) for (const d of s.devices) panel.setState(d.id, d.state, d.colour);
      }
      const want = decodeURIComponent(location.hash.slice(1));
      if (want && !document.body.dataset.selected && findDevice(want)) {
        document.body.dataset.selected = want;
        tree.select(want);
      }
      break;
    }
    case "plots":
      plots.train(m.plots);
      $("train").textContent = `train ${m.plots.trainId}${missingText(m.plots.matching)}`;
      break;
    case "trend":
      plots.trend(m.deviceId, m.key, m.points);
      break;
    case "notice":
      document.dispatchEvent(new CustomEvent("sase-alert", { detail: m.text }));
      break;
    default:
      break;
  }
});

// For tests and the benchmark: what the page has drawn.
(window as unknown as { sase: unknown }).sase = {
  get stats() {
    return image?.stats ?? null;
  },
  get plots() {
    return plots.counts;
  },
};

conn.connect();

/** " · 2 modules missing" when the live image's train came out incomplete (the matcher's figures). */
function missingText(m: TrainMatching | undefined): string {
  if (!m || m.missing === 0) return "";
  return ` · ${m.missing} module${m.missing === 1 ? "" : "s"} missing (${m.incomplete} of ${m.trains} trains incomplete, ${m.late} late)`;
}
