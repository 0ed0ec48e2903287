// Fans one image feed out to every page that watches it. Each page has at most one frame in flight:
// a newer train replaces a frame still waiting, so a slow browser sees fewer trains, never older ones
// ("latest data first", as OnDA does). Per-train plots (ROI sum, radial profile, XGM) are computed here
// once per train, so the page only draws.
import { encodeImageFrame, type TrainPlots } from "../api.ts";
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
  pending: Uint8Array | null;
  roi: { x: number; y: number; w: number; h: number } | null;
}

/** Counters for diagnostics and the benchmark. */
export interface LiveStats {
  trains: number;
  framesSent: number;
  framesDropped: number;
}

const RADIAL_BIN_PX = 4;

/** Distributes a feed's frames with drop-oldest flow control. */
export class LiveHub {
  readonly #feed: ImageFeed;
  readonly #viewers = new Map<LiveViewer, ViewerState>();
  #unsubscribe: (() => void) | null = null;
  #radialBins: Uint16Array | null = null;
  #radialKey = "";
  #radialCount = 0;
  readonly stats: LiveStats = { trains: 0, framesSent: 0, framesDropped: 0 };

  constructor(feed: ImageFeed) {
    this.#feed = feed;
  }

  /** What the feed shows. */
  get source(): string {
    return this.#feed.source;
  }

  /** Starts sending frames to `viewer` (subscribes to the feed on the first viewer). */
  add(viewer: LiveViewer): void {
    if (this.#viewers.has(viewer)) return;
    this.#viewers.set(viewer, { inFlight: false, pending: null, roi: null });
    this.#unsubscribe ??= this.#feed.subscribe((f) => this.#onFrame(f));
  }

  /** Stops sending to `viewer` (unsubscribes from the feed after the last one). */
  remove(viewer: LiveViewer): void {
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
      st.pending = null;
      this.#send(viewer, st, f);
    }
  }

  /** Sets the region of interest whose sum `viewer` gets per train (image pixel coordinates). */
  setRoi(viewer: LiveViewer, roi: { x: number; y: number; w: number; h: number }): void {
    const st = this.#viewers.get(viewer);
    if (st) st.roi = roi;
  }

  #send(viewer: LiveViewer, st: ViewerState, frame: Uint8Array): void {
    st.inFlight = true;
    this.stats.framesSent++;
    viewer.sendImage(frame);
  }

  #onFrame(f: LiveFrame): void {
    this.stats.trains++;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    const px = f.pixels;
    for (let i = 0; i < px.length; i++) {
      const v = px[i];
      if (v < min) min = v; // NaN compares false both ways, so gaps are skipped
      if (v > max) max = v;
    }
    if (min > max) {
      min = 0;
      max = 0;
    }
    const encoded = encodeImageFrame(
      { width: f.width, height: f.height, trainId: f.trainId, sentMs: f.sentMs, min, max, binning: 1 },
      px,
    );
    const radial = this.#radial(f);
    for (const [viewer, st] of this.#viewers) {
      if (st.inFlight) {
        if (st.pending) this.stats.framesDropped++;
        st.pending = encoded;
      } else {
        this.#send(viewer, st, encoded);
      }
      viewer.sendPlots({
        trainId: f.trainId,
        ms: f.sentMs,
        pulseEnergy: f.pulseEnergy ?? [],
        roiSum: st.roi ? roiSum(f, st.roi) : Number.NaN,
        radial,
      });
    }
  }

  /** Mean intensity per ring of RADIAL_BIN_PX pixels around the image centre, skipping gaps. */
  #radial(f: LiveFrame): number[] {
    const key = `${f.width}x${f.height}`;
    if (key !== this.#radialKey) {
      // Bin index per pixel, computed once per image size: the hot loop is then one add per pixel.
      const cx = (f.width - 1) / 2;
      const cy = (f.height - 1) / 2;
      const bins = new Uint16Array(f.width * f.height);
      let nb = 0;
      for (let y = 0; y < f.height; y++) {
        for (let x = 0; x < f.width; x++) {
          const b = Math.floor(Math.hypot(x - cx, y - cy) / RADIAL_BIN_PX);
          bins[y * f.width + x] = b;
          if (b + 1 > nb) nb = b + 1;
        }
      }
      this.#radialBins = bins;
      this.#radialCount = nb;
      this.#radialKey = key;
    }
    const bins = this.#radialBins as Uint16Array;
    const sum = new Float64Array(this.#radialCount);
    const cnt = new Uint32Array(this.#radialCount);
    const px = f.pixels;
    for (let i = 0; i < px.length; i++) {
      const v = px[i];
      if (!Number.isNaN(v)) {
        sum[bins[i]] += v;
        cnt[bins[i]]++;
      }
    }
    const out: number[] = new Array(this.#radialCount);
    for (let b = 0; b < out.length; b++) out[b] = cnt[b] ? sum[b] / cnt[b] : 0;
    return out;
  }
}

/** Sum of the finite pixels inside a rectangle (clipped to the image). */
export function roiSum(f: LiveFrame, roi: { x: number; y: number; w: number; h: number }): number {
  const x0 = Math.max(0, Math.floor(roi.x));
  const y0 = Math.max(0, Math.floor(roi.y));
  const x1 = Math.min(f.width, Math.floor(roi.x + roi.w));
  const y1 = Math.min(f.height, Math.floor(roi.y + roi.h));
  let s = 0;
  for (let y = y0; y < y1; y++) {
    const row = y * f.width;
    for (let x = x0; x < x1; x++) {
      const v = f.pixels[row + x];
      if (!Number.isNaN(v)) s += v;
    }
  }
  return s;
}
