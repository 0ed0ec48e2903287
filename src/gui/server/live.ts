// Fans one image feed out to every page that watches it. Each page has at most one frame in flight:
// a newer train replaces a frame still waiting, so a slow browser sees fewer trains, never older ones
// ("latest data first", as OnDA does). Images are binned here to what each page displays (a zoomed-out
// 1-Mpixel detector needs a quarter of its pixels), and per-train plots (ROI sum, radial profile, XGM)
// are computed here once per train, so the page only draws.
import { encodeImageFrame, type ImageRegion, type TrainPlots } from "../api.ts";
import type { ImageFeed, LiveFrame } from "./backend.ts";

/** A page's end of the live stream. */
export interface LiveViewer {
  /** Sends an encoded image frame (binary WebSocket message). */
  sendImage(frame: Uint8Array): void;
  /** Sends this train's plots. */
  sendPlots(plots: TrainPlots): void;
}

interface ViewerState {
  inFlight: boolean;
  /** The newest frame not yet sent (frames in between were dropped for this page). */
  pending: LiveFrame | null;
  /** Lets the feed reuse the pending frame's pixels once it has been sent or replaced (LiveFrame.hold). */
  releasePending: (() => void) | null;
  roi: { x: number; y: number; w: number; h: number } | null;
  binning: number;
  region: ImageRegion | null;
}

/** Counters for diagnostics and the benchmark. */
export interface LiveStats {
  trains: number;
  framesSent: number;
  framesDropped: number;
  /** Train-left-detector → handed to the socket, ms, of recent frames (last 1000). */
  sendLatencyMs: number[];
}

const RADIAL_BIN_PX = 4;

/**
 * The `region` (full-resolution pixels, clipped to the image and aligned to `b`) of an image, as the
 * mean of each `b`×`b` block of finite pixels (NaN where a block has none), with its value range.
 * Rows of the result run top-down; `yUp` says `px` holds its rows bottom-up (read in reverse).
 */
export function binImage(
  px: Float32Array,
  width: number,
  height: number,
  b: number,
  region: ImageRegion | null = null,
  yUp = false,
): { pixels: Float32Array; width: number; height: number; x0: number; y0: number; min: number; max: number } {
  let x0 = 0;
  let y0 = 0;
  let x1 = width;
  let y1 = height;
  if (region) {
    x0 = Math.max(0, Math.floor(region.x / b) * b);
    y0 = Math.max(0, Math.floor(region.y / b) * b);
    x1 = Math.min(width, Math.ceil((region.x + region.w) / b) * b);
    y1 = Math.min(height, Math.ceil((region.y + region.h) / b) * b);
    if (x1 <= x0 || y1 <= y0) [x0, y0, x1, y1] = [0, 0, Math.min(width, b), Math.min(height, b)];
  }
  const w = Math.floor((x1 - x0) / b);
  const h = Math.floor((y1 - y0) / b);
  const whole = b === 1 && x0 === 0 && y0 === 0 && w === width && h === height && !yUp;
  const out = whole ? px : new Float32Array(w * h);
  /** Where top-down row `y` starts in `px`. */
  const rowStart = (y: number) => (yUp ? height - 1 - y : y) * width;
  if (!whole && b === 1) {
    for (let y = 0; y < h; y++) {
      const row = rowStart(y0 + y) + x0;
      out.set(px.subarray(row, row + w), y * w);
    }
  } else if (b > 1) {
    const sum = new Float64Array(w);
    const cnt = new Uint16Array(w);
    for (let by = 0; by < h; by++) {
      sum.fill(0);
      cnt.fill(0);
      for (let dy = 0; dy < b; dy++) {
        const row = rowStart(y0 + by * b + dy) + x0;
        for (let bx = 0; bx < w; bx++) {
          const first = row + bx * b;
          let s = 0;
          let c = 0;
          for (let k = 0; k < b; k++) {
            const v = px[first + k]!;
            if (!Number.isNaN(v)) {
              s += v;
              c++;
            }
          }
          sum[bx] += s;
          cnt[bx] += c;
        }
      }
      const o = by * w;
      for (let bx = 0; bx < w; bx++) out[o + bx] = cnt[bx] ? sum[bx] / cnt[bx] : Number.NaN;
    }
  }
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (v < min) min = v; // NaN compares false both ways, so gaps are skipped
    if (v > max) max = v;
  }
  if (min > max) {
    min = 0;
    max = 0;
  }
  return { pixels: out, width: w, height: h, x0, y0, min, max };
}

/** Distributes a feed's frames with drop-oldest flow control. */
export class LiveHub {
  readonly #feed: ImageFeed;
  readonly #viewers = new Map<LiveViewer, ViewerState>();
  #unsubscribe: (() => void) | null = null;
  /** Encoded forms of the newest frame, by binning (viewers at the same zoom share one). */
  #encoded = new Map<string, Uint8Array>();
  #encodedTrain = -1;
  #rings: Uint16Array | null = null;
  #ringCount = 0;
  #ringKey = "";
  readonly stats: LiveStats = { trains: 0, framesSent: 0, framesDropped: 0, sendLatencyMs: [] };

  constructor(feed: ImageFeed) {
    this.#feed = feed;
  }

  /** What the feed shows. */
  get source(): string {
    return this.#feed.source;
  }

  /** Views the feed switches between (empty when it has one). */
  get views(): readonly string[] {
    return this.#feed.views ?? [];
  }

  /** The view shown now ("" when the feed has one). */
  get view(): string {
    return this.#feed.view ?? "";
  }

  /** Switches the feed's view for every viewer; false when `view` is not one of `views`. */
  selectView(view: string): boolean {
    if (!this.#feed.selectView || !this.views.includes(view)) return false;
    this.#feed.selectView(view);
    return true;
  }

  /** Starts sending frames to `viewer` (subscribes to the feed on the first viewer). */
  add(viewer: LiveViewer): void {
    if (this.#viewers.has(viewer)) return;
    this.#viewers.set(viewer, {
      inFlight: false,
      pending: null,
      releasePending: null,
      roi: null,
      binning: 1,
      region: null,
    });
    this.#unsubscribe ??= this.#feed.subscribe((f) => this.#onFrame(f));
  }

  /** Stops sending to `viewer` (unsubscribes from the feed after the last one). */
  remove(viewer: LiveViewer): void {
    this.#viewers.get(viewer)?.releasePending?.();
    this.#viewers.delete(viewer);
    if (this.#viewers.size === 0 && this.#unsubscribe) {
      this.#unsubscribe();
      this.#unsubscribe = null;
    }
  }

  /** The page drew its frame: send the newest waiting one, if any. */
  drawn(viewer: LiveViewer): void {
    const st = this.#viewers.get(viewer);
    if (!st) return;
    st.inFlight = false;
    if (st.pending) {
      const f = st.pending;
      const release = st.releasePending;
      st.pending = null;
      st.releasePending = null;
      this.#send(viewer, st, f);
      // Encoded (a copy) and sent: the feed may write a later train into its pixels.
      release?.();
    }
  }

  /** Sets the region of interest whose sum `viewer` gets per train (full-resolution pixels). */
  setRoi(viewer: LiveViewer, roi: { x: number; y: number; w: number; h: number }): void {
    const st = this.#viewers.get(viewer);
    if (st) st.roi = roi;
  }

  /** Sets the binning `viewer` wants (1 = full resolution) and the region it shows (null: all). */
  setView(viewer: LiveViewer, binning: number, region: ImageRegion | null): void {
    const st = this.#viewers.get(viewer);
    if (!st) return;
    st.binning = binning;
    st.region = region;
  }

  #encode(f: LiveFrame, b: number, region: ImageRegion | null): Uint8Array {
    if (this.#encodedTrain !== f.trainId) {
      this.#encoded = new Map();
      this.#encodedTrain = f.trainId;
    }
    const key = region ? `${b}:${region.x},${region.y},${region.w},${region.h}` : `${b}`;
    let e = this.#encoded.get(key);
    if (!e) {
      const yUp = f.pixelsYUp !== undefined;
      const bin = binImage(f.pixelsYUp ?? f.pixels, f.width, f.height, b, region, yUp);
      e = encodeImageFrame(
        {
          width: bin.width,
          height: bin.height,
          trainId: f.trainId,
          sentMs: f.sentMs,
          min: bin.min,
          max: bin.max,
          binning: b,
          x0: bin.x0,
          y0: bin.y0,
          fullWidth: f.width,
          fullHeight: f.height,
        },
        bin.pixels,
      );
      this.#encoded.set(key, e);
    }
    return e;
  }

  #send(viewer: LiveViewer, st: ViewerState, f: LiveFrame): void {
    st.inFlight = true;
    this.stats.framesSent++;
    viewer.sendImage(this.#encode(f, st.binning, st.region));
    const lat = this.stats.sendLatencyMs;
    lat.push(Date.now() - f.sentMs);
    if (lat.length > 1000) lat.splice(0, 500);
  }

  #onFrame(f: LiveFrame): void {
    this.stats.trains++;
    // Images first: the plots can follow a few milliseconds later, the image is what people watch.
    for (const [viewer, st] of this.#viewers) {
      if (st.inFlight) {
        if (st.pending) this.stats.framesDropped++;
        st.releasePending?.();
        st.pending = f;
        // Kept past this call: the feed must not write a later train into its pixels until it is sent.
        st.releasePending = f.hold?.() ?? null;
      } else {
        this.#send(viewer, st, f);
      }
    }
    const radial = this.#radial(f);
    for (const [viewer, st] of this.#viewers) {
      viewer.sendPlots({
        trainId: f.trainId,
        ms: f.sentMs,
        pulseEnergy: f.pulseEnergy ?? [],
        roiSum: st.roi ? roiSum(f, st.roi) : null,
        radial,
        ...(f.matching ? { matching: f.matching } : {}),
      });
    }
  }

  /**
   * Mean per ring of RADIAL_BIN_PX pixels around the beam, skipping gaps. Unlike calibration's
   * radialProfile (which computes each pixel's radius every call), the ring of every pixel is computed
   * once per image shape and centre: at 10 Hz × 1.4 Mpixel the per-train work is then one add per pixel.
   */
  #radial(f: LiveFrame): number[] {
    const [cy, cx] = f.centre ?? [f.height / 2, f.width / 2];
    const yUp = f.pixelsYUp !== undefined;
    const key = `${f.width}x${f.height}@${cy},${cx}${yUp ? " up" : ""}`;
    if (key !== this.#ringKey) {
      // Each pixel's ring, in the order the frame's pixels are stored.
      const rings = new Uint16Array(f.width * f.height);
      let n = 0;
      for (let y = 0; y < f.height; y++) {
        const dy = (yUp ? f.height - 1 - y : y) + 0.5 - cy;
        for (let x = 0; x < f.width; x++) {
          const dx = x + 0.5 - cx;
          const r = Math.floor(Math.sqrt(dy * dy + dx * dx) / RADIAL_BIN_PX);
          rings[y * f.width + x] = r;
          if (r >= n) n = r + 1;
        }
      }
      this.#rings = rings;
      this.#ringCount = n;
      this.#ringKey = key;
    }
    const rings = this.#rings as Uint16Array;
    const sum = new Float64Array(this.#ringCount);
    const cnt = new Uint32Array(this.#ringCount);
    const px = f.pixelsYUp ?? f.pixels;
    for (let i = 0; i < px.length; i++) {
      const v = px[i];
      if (!Number.isNaN(v)) {
        sum[rings[i]] += v;
        cnt[rings[i]]++;
      }
    }
    return Array.from(sum, (s, r) => (cnt[r] ? s / cnt[r] : 0));
  }
}

/** Sum of the finite pixels inside a rectangle (clipped to the image). */
export function roiSum(f: LiveFrame, roi: { x: number; y: number; w: number; h: number }): number {
  const x0 = Math.max(0, Math.floor(roi.x));
  const y0 = Math.max(0, Math.floor(roi.y));
  const x1 = Math.min(f.width, Math.floor(roi.x + roi.w));
  const y1 = Math.min(f.height, Math.floor(roi.y + roi.h));
  const px = f.pixelsYUp ?? f.pixels;
  let s = 0;
  for (let y = y0; y < y1; y++) {
    const row = (f.pixelsYUp ? f.height - 1 - y : y) * f.width;
    for (let x = x0; x < x1; x++) {
      const v = px[row + x];
      if (!Number.isNaN(v)) s += v;
    }
  }
  return s;
}
