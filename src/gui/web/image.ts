// The live detector image: colour-mapped on a canvas, zoom (wheel) and pan (drag), a colour scale
// (auto percentiles or fixed limits, linear or log), per-pixel readout under the mouse, and a region of
// interest (shift-drag) whose sum the server plots per train, and mask shapes drawn for the analysis
// graph (rectangle and circle by dragging, polygon by clicking its corners; see `DrawRequest`). Frames are drawn on the next animation
// frame; only then is the server told to send another, so a slow page skips trains instead of lagging.
import type { Shape } from "../analysis-api.ts";
import type { ClientMessage, ImageHeader, ImageRegion } from "../api.ts";
import { applyColormap, COLORMAPS, colormapLut, lutCss, percentiles } from "./colormap.ts";
import type { Connection } from "./conn.ts";
import { fmt, h } from "./dom.ts";

/** What the page measured about the live stream (read by the tests and the benchmark). */
export interface LiveStats {
  frames: number;
  lastTrainId: number;
  /** Train-to-screen latency of each drawn frame, ms (last 2000). */
  latencies: number[];
  /** Time spent colour-mapping and drawing each frame, ms (last 2000). */
  paintMs: number[];
  /** Train-to-arrival latency of each received frame (before waiting for the next animation frame). */
  arrivalMs: number[];
  /** Size and binning of the last frame drawn, e.g. "364×418 px, 3×3 binned, of 1092×1256". */
  view: string;
}

const MAX_VIEW_BINNING = 4;

/**
 * Page events between the analysis tab and the image (neither holds the other): `sase-draw` with a
 * `DrawRequest` (or null to stop) starts drawing one shape; the image answers `sase-shape` with a
 * `DrawnShape`; `sase-mask-overlay` with `Shape[]` sets the masks outlined on the image.
 */
export interface DrawRequest {
  tool: Shape["type"];
  /** The node the shape is for. */
  owner: string;
}

/** A finished shape, in image pixels (row 0 at the top, as the analysis graph counts them). */
export interface DrawnShape {
  owner: string;
  shape: Shape;
}

/** Full-resolution size of a (possibly binned) frame. */
function fullSize(h: ImageHeader): [number, number] {
  return [h.fullWidth, h.fullHeight];
}

const GAP = (255 << 24) | (0x1c << 16) | (0x18 << 8) | 0x16; // module gaps: the panel background

/** The image view. */
export class ImageView {
  readonly #conn: Connection;
  readonly #canvas: HTMLCanvasElement;
  readonly #ctx: CanvasRenderingContext2D;
  readonly #bitmap = document.createElement("canvas");
  readonly #bctx = this.#bitmap.getContext("2d") as CanvasRenderingContext2D;
  readonly #bar: HTMLCanvasElement;
  readonly #barHi = h("span", { class: "bar-label", "data-testid": "bar-max" });
  readonly #barLo = h("span", { class: "bar-label", "data-testid": "bar-min" });
  readonly #readout: HTMLElement;
  readonly #info: HTMLElement;
  readonly #loInput: HTMLInputElement;
  readonly #hiInput: HTMLInputElement;
  readonly #auto: HTMLInputElement;
  readonly #log: HTMLInputElement;
  #lut = colormapLut("viridis");
  #rgba: ImageData | null = null;
  #pending: { header: ImageHeader; pixels: Float32Array } | null = null;
  #shown: { header: ImageHeader; pixels: Float32Array } | null = null;
  #scheduled = false;
  #lastDrawn = 0;
  // View transform: screen = image * scale + offset (CSS pixels).
  #scale = 1;
  #view: { binning: number; region: ImageRegion | null } = { binning: 1, region: null };
  #fullW = 0;
  #fullH = 0;
  #ox = 0;
  #oy = 0;
  #fitted = false;
  #roi: { x: number; y: number; w: number; h: number } | null = null;
  #drag: { mode: "pan" | "roi" | "shape"; x: number; y: number; ox: number; oy: number } | null = null;
  #tool: DrawRequest | null = null;
  /** The shape being drawn (a polygon grows by clicks). */
  #draft: Shape | null = null;
  #overlay: readonly Shape[] = [];
  readonly #hint = h("span", { class: "muted draw-hint", "data-testid": "draw-hint" });
  #mouse: { x: number; y: number } | null = null;
  readonly stats: LiveStats = {
    frames: 0,
    lastTrainId: 0,
    latencies: [],
    paintMs: [],
    arrivalMs: [],
    view: "",
  };

  constructor(root: HTMLElement, conn: Connection, source: string, views: string[] = [], view = "") {
    this.#conn = conn;
    this.#canvas = h("canvas", { class: "image-canvas", "data-testid": "image-canvas" });
    this.#ctx = this.#canvas.getContext("2d", { alpha: false }) as CanvasRenderingContext2D;
    this.#bar = h("canvas", { class: "colorbar", width: 24, height: 256 });
    this.#readout = h("div", { class: "readout", "data-testid": "readout", text: "—" });
    this.#info = h("div", { class: "image-info", "data-testid": "image-train", text: "waiting for trains…" });
    this.#loInput = h("input", {
      type: "text",
      class: "num",
      title: "Colour scale minimum",
      "data-testid": "cmin",
    });
    this.#hiInput = h("input", {
      type: "text",
      class: "num",
      title: "Colour scale maximum",
      "data-testid": "cmax",
    });
    this.#auto = h("input", {
      type: "checkbox",
      checked: true,
      title: "Scale colours to the 0.5–99.5 % percentiles",
    });
    this.#log = h("input", { type: "checkbox", title: "Logarithmic colour scale" });
    const fix = () => {
      this.#auto.checked = false;
      this.#recolour();
    };
    this.#loInput.addEventListener("change", fix);
    this.#hiInput.addEventListener("change", fix);
    this.#auto.addEventListener("change", () => this.#recolour());
    this.#log.addEventListener("change", () => this.#recolour());
    const cmap = h(
      "select",
      {
        title: "Colour map",
        onchange: (e: Event) => {
          this.#lut = colormapLut((e.target as HTMLSelectElement).value);
          this.#recolour();
        },
      },
      ...COLORMAPS.map((n) => h("option", { value: n, text: n })),
    );
    const controls = h(
      "div",
      { class: "image-controls" },
      h("label", {}, this.#auto, "auto"),
      h("label", {}, this.#log, "log"),
      this.#loInput,
      h("span", { class: "muted", text: "…" }),
      this.#hiInput,
      cmap,
      this.#hint,
      h("button", { text: "Fit", title: "Fit the image (or double-click it)", onclick: () => this.#fit() }),
      h("button", {
        text: "Clear ROI",
        title: "Shift-drag on the image to draw a region of interest",
        onclick: () => {
          this.#roi = null;
          this.#redraw();
        },
      }),
    );
    const stage = h(
      "div",
      { class: "image-stage" },
      this.#canvas,
      h("div", { class: "bar-wrap" }, this.#barHi, this.#bar, this.#barLo),
    );
    const sourceLabel = h("span", { class: "muted", "data-testid": "image-source", text: source });
    // Raw or corrected detector data: the server switches its feed for every viewer.
    const viewSwitch = h("select", { "data-testid": "image-view", title: "raw or corrected data" });
    for (const v of views) viewSwitch.append(h("option", { value: v, text: v }));
    viewSwitch.value = view || views[0] || "";
    viewSwitch.addEventListener("change", () => {
      conn.send({ t: "imageSelect", view: viewSwitch.value });
      sourceLabel.textContent = source.replace(/\((corrected|raw)\b/, `(${viewSwitch.value}`);
    });
    root.append(
      h(
        "div",
        { class: "panel-head" },
        h("h2", { text: "Live image" }),
        sourceLabel,
        ...(views.length > 1 ? [viewSwitch] : []),
        this.#info,
      ),
      controls,
      stage,
      this.#readout,
    );
    this.#wire();
    new ResizeObserver(() => this.#resize()).observe(stage);
    // No silent failures: say so when trains stop coming, rather than showing an old image as live.
    setInterval(() => {
      const idle = (performance.now() - this.#lastDrawn) / 1000;
      if (this.#lastDrawn > 0 && idle > 2) {
        this.#info.textContent = `no new trains for ${Math.floor(idle)} s (last ${this.stats.lastTrainId})`;
        this.#info.classList.add("stale");
      }
    }, 500);
    conn.onImage((header, pixels) => {
      this.stats.arrivalMs.push(performance.timeOrigin + performance.now() - header.sentMs);
      if (this.stats.arrivalMs.length > 2000) this.stats.arrivalMs.splice(0, 1000);
      this.#pending = { header, pixels };
      this.#schedule();
    });
  }

  /** Asks the server for frames (again after a reconnect). */
  start(): void {
    this.#conn.subscribe({ t: "watchImage", on: true }, (o) => o.t === "watchImage");
    if (this.#roi) this.#conn.subscribe({ t: "setRoi", ...this.#roi }, (o) => o.t === "setRoi");
  }

  /**
   * Draws a visible page's frame as soon as it arrives: the server sends one frame at a time, so
   * frames never pile up here, and waiting for the next animation frame only delays the image (by
   * tens of ms on a loaded machine; the canvas reaches the screen at the next composite either way).
   * A hidden page draws on animation frames, which stop while it is hidden.
   */
  #schedule(): void {
    if (!document.hidden) {
      this.#drawPending();
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    requestAnimationFrame(() => {
      this.#scheduled = false;
      this.#drawPending();
    });
  }

  /** Draws the newest frame received, and tells the server it may send the next. */
  #drawPending(): void {
    const f = this.#pending;
    if (!f) return;
    this.#pending = null;
    this.#shown = f;
    const t0 = performance.now();
    this.#paintBitmap();
    this.#redraw();
    const now = performance.timeOrigin + performance.now();
    this.stats.paintMs.push(performance.now() - t0);
    this.stats.frames++;
    this.stats.lastTrainId = f.header.trainId;
    const hd = f.header;
    this.stats.view = `${hd.width}×${hd.height} px, ${hd.binning}×${hd.binning} binned, of ${hd.fullWidth}×${hd.fullHeight}`;
    this.stats.latencies.push(now - f.header.sentMs);
    if (this.stats.latencies.length > 2000) this.stats.latencies.splice(0, 1000);
    if (this.stats.paintMs.length > 2000) this.stats.paintMs.splice(0, 1000);
    this.#info.textContent = `train ${f.header.trainId} · ${Math.round(now - f.header.sentMs)} ms`;
    this.#info.classList.remove("stale");
    this.#lastDrawn = performance.now();
    this.#info.dataset.train = String(f.header.trainId);
    this.#conn.send({ t: "imageDrawn", trainId: f.header.trainId });
  }

  #limits(): [number, number] {
    const f = this.#shown;
    if (!f) return [0, 1];
    if (this.#auto.checked) {
      const [lo, hi] = percentiles(f.pixels, f.header.min, f.header.max, 0.005, 0.995);
      this.#loInput.value = fmt(lo);
      this.#hiInput.value = fmt(hi);
      return [lo, hi];
    }
    const lo = Number(this.#loInput.value);
    const hi = Number(this.#hiInput.value);
    return [Number.isFinite(lo) ? lo : f.header.min, Number.isFinite(hi) ? hi : f.header.max];
  }

  #paintBitmap(): void {
    const f = this.#shown;
    if (!f) return;
    const { width, height } = f.header;
    if (!this.#rgba || this.#rgba.width !== width || this.#rgba.height !== height) {
      // A new binning keeps the view; only a new detector shape re-fits it.
      const [fw, fh] = fullSize(f.header);
      if (fw !== this.#fullW || fh !== this.#fullH) this.#fitted = false;
      this.#fullW = fw;
      this.#fullH = fh;
      this.#rgba = new ImageData(width, height);
      this.#bitmap.width = width;
      this.#bitmap.height = height;
    }
    const [lo, hi] = this.#limits();
    applyColormap(
      f.pixels,
      new Uint32Array(this.#rgba.data.buffer),
      this.#lut,
      lo,
      hi,
      this.#log.checked,
      GAP,
    );
    this.#bctx.putImageData(this.#rgba, 0, 0);
    this.#drawBar(lo, hi);
  }

  #drawBar(lo: number, hi: number): void {
    const c = this.#bar.getContext("2d") as CanvasRenderingContext2D;
    for (let i = 0; i < 256; i++) {
      c.fillStyle = lutCss(this.#lut, 255 - i);
      c.fillRect(0, i, 24, 1);
    }
    this.#barHi.textContent = fmt(hi);
    this.#barLo.textContent = fmt(lo);
    this.#bar.title = `${fmt(lo)} … ${fmt(hi)}`;
  }

  /** Re-colours the shown frame (after a colour-scale change) and repaints. */
  #recolour(): void {
    this.#paintBitmap();
    this.#redraw();
  }

  /** Repaints the view (after zoom, pan or a new frame). */
  #redraw(): void {
    if (!this.#fitted && this.#shown) this.#fit(false);
    this.#wantView();
    const dpr = window.devicePixelRatio || 1;
    const c = this.#ctx;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.fillStyle = "#121416";
    c.fillRect(0, 0, this.#canvas.width, this.#canvas.height);
    if (!this.#shown) return;
    const { binning: b, x0, y0 } = this.#shown.header;
    c.imageSmoothingEnabled = this.#scale * b < 1;
    c.setTransform(dpr * this.#scale, 0, 0, dpr * this.#scale, dpr * this.#ox, dpr * this.#oy);
    c.drawImage(this.#bitmap, x0, y0, this.#bitmap.width * b, this.#bitmap.height * b);
    if (this.#roi) {
      c.strokeStyle = "#ff5c8a";
      c.lineWidth = 2 / this.#scale;
      c.strokeRect(this.#roi.x, this.#roi.y, this.#roi.w, this.#roi.h);
    }
    c.lineWidth = 1.5 / this.#scale;
    c.setLineDash([6 / this.#scale, 4 / this.#scale]);
    c.strokeStyle = "#ffb74d";
    for (const s of this.#overlay) this.#outline(s);
    c.setLineDash([]);
    if (this.#draft) {
      c.strokeStyle = "#ffffff";
      this.#outline(this.#draft);
    }
    this.#updateReadout();
  }

  /** Strokes `s` in image coordinates (the context already holds the view transform). */
  #outline(s: Shape): void {
    const c = this.#ctx;
    c.beginPath();
    if (s.type === "rect") c.rect(s.x, s.y, s.w, s.h);
    else if (s.type === "circle") c.arc(s.x, s.y, s.r, 0, 2 * Math.PI);
    else {
      for (const [x, y] of s.points) c.lineTo(x, y); // the first lineTo of a path moves there
      c.closePath();
    }
    c.stroke();
  }

  /** Starts drawing one shape for the analysis graph, or stops (null). */
  #startDrawing(req: DrawRequest | null): void {
    this.#tool = req;
    this.#draft = null;
    this.#canvas.classList.toggle("drawing", req !== null);
    const how = {
      rect: "drag a rectangle",
      circle: "drag from the centre",
      polygon: "click the corners, double-click to close",
    };
    this.#hint.textContent = req ? `${req.owner}: ${how[req.tool]} (Esc cancels)` : "";
    this.#redraw();
  }

  /** Hands the drawn shape to the analysis tab and leaves drawing. */
  #finishShape(): void {
    const tool = this.#tool;
    const s = this.#draft;
    const round = (v: number) => Math.round(v * 10) / 10;
    let shape: Shape | null = null;
    if (s?.type === "rect" && s.w >= 1 && s.h >= 1)
      shape = { ...s, x: round(s.x), y: round(s.y), w: round(s.w), h: round(s.h) };
    else if (s?.type === "circle" && s.r >= 0.5)
      shape = { type: "circle", x: round(s.x), y: round(s.y), r: round(s.r) };
    else if (s?.type === "polygon") {
      // A double-click also lands as clicks: drop corners that repeat the previous one.
      const pts = s.points.filter(
        (p, i) => i === 0 || Math.hypot(p[0] - s.points[i - 1]![0], p[1] - s.points[i - 1]![1]) >= 1,
      );
      if (pts.length >= 3)
        shape = { type: "polygon", points: pts.map(([x, y]) => [round(x), round(y)] as const) };
    }
    if (tool && shape) {
      const detail: DrawnShape = { owner: tool.owner, shape };
      document.dispatchEvent(new CustomEvent("sase-shape", { detail }));
    }
    this.#startDrawing(null);
  }

  #fit(redraw = true): void {
    const f = this.#shown;
    if (!f) return;
    const w = this.#canvas.clientWidth;
    const hgt = this.#canvas.clientHeight;
    const [fw, fh] = fullSize(f.header);
    this.#scale = Math.min(w / fw, hgt / fh);
    this.#ox = (w - fw * this.#scale) / 2;
    this.#oy = (hgt - fh * this.#scale) / 2;
    this.#fitted = true;
    if (redraw) this.#redraw();
  }

  /**
   * Asks the server for what the view shows: binned when zoomed out, only the visible part (plus a
   * margin for panning) when zoomed in, so a frame never carries many more pixels than the canvas.
   */
  #wantView(): void {
    const f = this.#shown;
    if (!f) return;
    const dpr = window.devicePixelRatio || 1;
    // Round, not floor: a little undersampling while zoomed out halves what travels and is drawn.
    const b = Math.max(1, Math.min(MAX_VIEW_BINNING, Math.round(1 / (this.#scale * dpr))));
    const [fw, fh] = fullSize(f.header);
    const vx = Math.max(0, -this.#ox / this.#scale);
    const vy = Math.max(0, -this.#oy / this.#scale);
    const vw = Math.min(fw, (this.#canvas.clientWidth - this.#ox) / this.#scale) - vx;
    const vh = Math.min(fh, (this.#canvas.clientHeight - this.#oy) / this.#scale) - vy;
    const whole = vw * vh > 0.6 * fw * fh;
    const cur = this.#view;
    const inside =
      cur.region === null ||
      (vx >= cur.region.x &&
        vy >= cur.region.y &&
        vx + vw <= cur.region.x + cur.region.w &&
        vy + vh <= cur.region.y + cur.region.h);
    const tooBig = cur.region === null ? !whole : cur.region.w * cur.region.h > 6 * vw * vh;
    if (b === cur.binning && (whole ? cur.region === null : inside && !tooBig)) return;
    let region: ImageRegion | null = null;
    if (!whole) {
      const mx = vw * 0.25;
      const my = vh * 0.25;
      region = {
        x: Math.floor(Math.max(0, vx - mx)),
        y: Math.floor(Math.max(0, vy - my)),
        w: Math.ceil(vw + 2 * mx),
        h: Math.ceil(vh + 2 * my),
      };
    }
    this.#view = { binning: b, region };
    const m: ClientMessage = region ? { t: "imageView", binning: b, region } : { t: "imageView", binning: b };
    this.#conn.subscribe(m, (o) => o.t === "imageView");
  }

  #resize(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = this.#canvas.clientWidth;
    const hgt = this.#canvas.clientHeight;
    this.#canvas.width = Math.max(1, Math.round(w * dpr));
    this.#canvas.height = Math.max(1, Math.round(hgt * dpr));
    this.#bar.style.height = `${Math.max(20, hgt - 40)}px`;
    this.#fitted = false;
    this.#redraw();
  }

  #toImage(ev: MouseEvent): { x: number; y: number } {
    const r = this.#canvas.getBoundingClientRect();
    return {
      x: (ev.clientX - r.left - this.#ox) / this.#scale,
      y: (ev.clientY - r.top - this.#oy) / this.#scale,
    };
  }

  #updateReadout(): void {
    const f = this.#shown;
    const m = this.#mouse;
    if (!f || !m) return;
    const { binning: b, x0, y0 } = f.header;
    const x = Math.floor(m.x);
    const y = Math.floor(m.y);
    const bx = Math.floor((x - x0) / b);
    const by = Math.floor((y - y0) / b);
    if (bx < 0 || by < 0 || bx >= f.header.width || by >= f.header.height) {
      this.#readout.textContent = "—";
      return;
    }
    const v = f.pixels[by * f.header.width + bx] as number;
    const what = b > 1 ? `mean of ${b}×${b} (zoom in for single pixels)` : "";
    this.#readout.textContent = `x ${x}  y ${y}  value ${Number.isNaN(v) ? "gap" : fmt(v)}  ${what}  train ${f.header.trainId}`;
  }

  #wire(): void {
    const cv = this.#canvas;
    cv.addEventListener(
      "wheel",
      (ev) => {
        ev.preventDefault();
        const r = cv.getBoundingClientRect();
        const sx = ev.clientX - r.left;
        const sy = ev.clientY - r.top;
        const k = Math.exp(-ev.deltaY * 0.0015);
        const next = Math.min(64, Math.max(0.05, this.#scale * k));
        // Keep the pixel under the cursor where it is.
        this.#ox = sx - ((sx - this.#ox) * next) / this.#scale;
        this.#oy = sy - ((sy - this.#oy) * next) / this.#scale;
        this.#scale = next;
        this.#redraw();
      },
      { passive: false },
    );
    document.addEventListener("sase-draw", (ev) => {
      this.#startDrawing((ev as CustomEvent<DrawRequest | null>).detail);
    });
    document.addEventListener("sase-mask-overlay", (ev) => {
      this.#overlay = (ev as CustomEvent<Shape[]>).detail;
      this.#redraw();
    });
    window.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.#tool) this.#startDrawing(null);
    });
    cv.addEventListener("mousedown", (ev) => {
      const p = this.#toImage(ev);
      const tool = this.#tool?.tool;
      if (tool === "polygon") {
        const prev = this.#draft?.type === "polygon" ? this.#draft.points : [];
        this.#draft = { type: "polygon", points: [...prev, [p.x, p.y]] };
        this.#redraw();
        return;
      }
      if (tool) {
        this.#draft =
          tool === "rect"
            ? { type: "rect", x: p.x, y: p.y, w: 0, h: 0 }
            : { type: "circle", x: p.x, y: p.y, r: 0 };
        this.#drag = { mode: "shape", x: p.x, y: p.y, ox: 0, oy: 0 };
        return;
      }
      this.#drag = ev.shiftKey
        ? { mode: "roi", x: p.x, y: p.y, ox: 0, oy: 0 }
        : { mode: "pan", x: ev.clientX, y: ev.clientY, ox: this.#ox, oy: this.#oy };
    });
    window.addEventListener("mouseup", () => {
      if (this.#drag?.mode === "shape") this.#finishShape();
      if (this.#drag?.mode === "roi" && this.#roi && this.#roi.w > 0 && this.#roi.h > 0) {
        this.#conn.subscribe({ t: "setRoi", ...this.#roi }, (o) => o.t === "setRoi");
        document.dispatchEvent(new CustomEvent("sase-roi", { detail: this.#roi }));
      }
      this.#drag = null;
    });
    cv.addEventListener("mousemove", (ev) => {
      this.#mouse = this.#toImage(ev);
      const d = this.#drag;
      if (d?.mode === "pan") {
        this.#ox = d.ox + ev.clientX - d.x;
        this.#oy = d.oy + ev.clientY - d.y;
        this.#redraw();
      } else if (d?.mode === "shape") {
        const p = this.#mouse;
        this.#draft =
          this.#draft?.type === "circle"
            ? { type: "circle", x: d.x, y: d.y, r: Math.hypot(p.x - d.x, p.y - d.y) }
            : {
                type: "rect",
                x: Math.min(d.x, p.x),
                y: Math.min(d.y, p.y),
                w: Math.abs(p.x - d.x),
                h: Math.abs(p.y - d.y),
              };
        this.#redraw();
      } else if (d?.mode === "roi") {
        const p = this.#mouse;
        this.#roi = {
          x: Math.round(Math.min(d.x, p.x)),
          y: Math.round(Math.min(d.y, p.y)),
          w: Math.round(Math.abs(p.x - d.x)),
          h: Math.round(Math.abs(p.y - d.y)),
        };
        this.#redraw();
      } else {
        this.#updateReadout();
      }
    });
    cv.addEventListener("mouseleave", () => {
      this.#mouse = null;
      this.#readout.textContent = "—";
    });
    cv.addEventListener("dblclick", () => {
      if (this.#tool?.tool === "polygon") this.#finishShape();
      else if (!this.#tool) this.#fit();
    });
  }
}
