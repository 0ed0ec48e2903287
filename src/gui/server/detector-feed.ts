// The live detector image for the GUI: one pipeline input per detector module, frames of one train
// gathered by train ID, assembled with the detector geometry into one 2D image, plus the XGM's pulse
// energies of the same train. Trains are matched by the pipeline's TrainMatcher (the DAQ's rule): a
// train whose modules do not all arrive in time is shown with the missing modules blank, and when a
// late train and newer ones come out together only the newest is drawn.
import type { DetectorGeometry } from "../../detector/index.ts";
import { type Hash, isNDArray, type NDArray, SaseError, timestampToMs } from "../../core/index.ts";
import {
  type DataToken,
  InputChannel,
  type MatchCounts,
  type MatchedTrain,
  TrainMatcher,
} from "../../pipeline/index.ts";
import type { ImageFeed, LiveFrame } from "./backend.ts";

/** Where the detector's data come from. */
export interface DetectorFeedOptions {
  /** What the page shows as the image's source, e.g. "SPB_DET_AGIPD1M-1 (corrected, assembled)". */
  label: string;
  geometry: DetectorGeometry;
  /** Output channel of each module, in module order (`deviceId:channelName`, or a TCP address); null
   * for a module that is not read out (shown blank). */
  moduleOutputs: readonly (string | null)[];
  /** Key of the module's image in each token (default "image.data"). */
  dataKey?: string;
  /** Which frame (memory cell) of a train to show (default 0). */
  frame?: number;
  /** XGM output and the key of its per-pulse energies, for the pulse-energy plot. */
  xgm?: { output: string; key: string };
  /** How long to wait for the rest of a train's modules after its first arrived (default 250 ms; a
   * complete train is shown at once, so this only delays trains with a module missing). */
  matchWindowMs?: number;
  /** Id of the GUI's input channels (default "SASE_GUI/PREVIEW/ASSEMBLER"). */
  inputDeviceId?: string;
}

/** What the feed keeps of a module's train until its train is matched: the frame shown, and when it left. */
interface ModuleFrame {
  readonly module: number;
  readonly pixels: Float32Array;
  readonly sentMs: number;
}

/** Copies frame `frame` of a module's data (2D, 3D frames×ss×fs, or raw 4D frames×2×ss×fs) into `out`. */
export function copyModuleFrame(a: NDArray, frame: number, out: Float32Array): void {
  const n = out.length;
  const shape = a.shape;
  let offset: number;
  if (shape.length === 2) offset = 0;
  else if (shape.length === 3) offset = frame * n;
  else if (shape.length === 4)
    offset = frame * (shape[1] as number) * n; // raw: plane 0 holds the data
  else throw new SaseError("BAD_IMAGE", `module data of shape [${shape.join(", ")}] is not an image stack`);
  const frames = shape.length === 2 ? 1 : (shape[0] as number);
  if (frame >= frames)
    throw new SaseError("BAD_IMAGE", `frame ${frame} asked for, the module sent ${frames}`);
  if (offset + n > a.data.length)
    throw new SaseError("BAD_IMAGE", `module data [${shape.join(", ")}] smaller than a module`);
  const d = a.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = Number(d[offset + i]);
  } else {
    out.set((d as Exclude<typeof d, BigInt64Array | BigUint64Array>).subarray(offset, offset + n));
  }
}

/** How a viewer connects: it wants the newest trains, so it drops what it cannot take rather than slowing the detector. */
const VIEWER_INPUT = { dataDistribution: "copy", onSlowness: "drop", prefetch: 2 } as const;

/** Pulse energies from an XGM, by train ID, for the newest 50 trains (a frame takes its own train's). */
class PulseEnergies {
  readonly #byTrain = new Map<number, number[]>();

  /** A viewer input reading `xgm.key` from the XGM's output into this record. */
  input(inputId: string, xgm: { output: string; key: string }): InputChannel {
    return new InputChannel(inputId, { ...VIEWER_INPUT, connectedOutputChannels: [xgm.output] })
      .onData((t) => this.#record(t, xgm.key))
      .connect();
  }

  /** The energies of `trainId`'s pulses, if the XGM sent them. */
  of(trainId: number): number[] | undefined {
    return this.#byTrain.get(trainId);
  }

  #record(t: DataToken, key: string): void {
    const list = toNumbers(t.data.has(key) ? t.data.get(key) : null);
    if (!list) return;
    this.#byTrain.set(t.meta.timestamp.trainId, list);
    if (this.#byTrain.size > 50) this.#byTrain.delete(this.#byTrain.keys().next().value as number);
  }
}

/** An ImageFeed assembling a multi-module detector from its pipeline outputs. */
export class DetectorImageFeed implements ImageFeed {
  readonly source: string;
  readonly #opts: DetectorFeedOptions;
  readonly #listeners = new Set<(f: LiveFrame) => void>();
  #matcher: TrainMatcher<ModuleFrame> | null = null;
  #stack: Float32Array;
  readonly #energies = new PulseEnergies();
  #inputs: InputChannel[] = [];
  #out: Float32Array | null = null;
  readonly #modulePixels: number;
  #missing = 0;
  #lastCounts: MatchCounts = { trains: 0, complete: 0, incomplete: 0, late: 0, matchRatio: 1 };

  constructor(opts: DetectorFeedOptions) {
    this.#opts = opts;
    this.source = opts.label;
    const [, ss, fs] = [0, ...opts.geometry.layout.moduleShape];
    this.#modulePixels = (ss as number) * (fs as number);
    this.#stack = new Float32Array(opts.geometry.layout.nModules * this.#modulePixels);
    if (opts.moduleOutputs.length !== opts.geometry.layout.nModules) {
      throw new SaseError(
        "BAD_OPTION",
        `${opts.geometry.layout.name} has ${opts.geometry.layout.nModules} modules, ${opts.moduleOutputs.length} outputs given`,
      );
    }
  }

  /** The detector geometry the feed assembles with (the analysis graph integrates with it). */
  get geometry(): DetectorGeometry {
    return this.#opts.geometry;
  }

  subscribe(listener: (f: LiveFrame) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) void this.#stop();
    };
  }

  /** Trains matched so far: how many came out incomplete, how many module frames came too late. */
  get matching(): MatchCounts {
    return this.#matcher?.counts ?? this.#lastCounts;
  }

  /** Trains shown with modules missing (for diagnostics). */
  get incomplete(): number {
    return this.matching.incomplete;
  }

  /** Stops receiving. */
  close(): Promise<void> {
    this.#listeners.clear();
    return this.#stop();
  }

  #start(): void {
    const base = this.#opts.inputDeviceId ?? "SASE_GUI/PREVIEW/ASSEMBLER";
    this.#inputs = [];
    const outputs = this.#opts.moduleOutputs.filter((o): o is string => o !== null);
    if (outputs.length > 0) {
      this.#matcher = new TrainMatcher<ModuleFrame>(outputs, {
        timeoutMs: this.#opts.matchWindowMs ?? 250,
      }).onTrain((train) => this.#emit(train));
    }
    this.#opts.moduleOutputs.forEach((out, m) => {
      if (out === null) return;
      const input = new InputChannel(`${base}:module${m}`, {
        ...VIEWER_INPUT,
        connectedOutputChannels: [out],
      });
      this.#inputs.push(input.onData((t) => this.#onModule(m, out, t, input)).connect());
    });
    if (this.#opts.xgm) this.#inputs.push(this.#energies.input(`${base}:xgm`, this.#opts.xgm));
  }

  async #stop(): Promise<void> {
    const inputs = this.#inputs;
    this.#inputs = [];
    if (this.#matcher) this.#lastCounts = this.#matcher.counts;
    this.#matcher?.close();
    this.#matcher = null;
    await Promise.all(inputs.map((i) => i.close()));
  }

  #onModule(m: number, output: string, t: DataToken, input: InputChannel): void {
    const key = this.#opts.dataKey ?? "image.data";
    const value = (t.data as Hash).has(key) ? (t.data as Hash).get(key) : null;
    if (!isNDArray(value) || !this.#matcher) {
      input.release(t);
      return;
    }
    // Only the frame shown is kept: a raw module train is megabytes, the frame a fraction of it.
    const pixels = new Float32Array(this.#modulePixels);
    copyModuleFrame(value, this.#opts.frame ?? 0, pixels);
    // Read: the module's maker in this process, if it offered the arrays, may write a later train into
    // them, and memory it was received into over TCP receives a later train.
    input.release(t);
    const sentMs = timestampToMs(t.meta.timestamp);
    void this.#matcher.push(output, Number(t.meta.timestamp.trainId), { module: m, pixels, sentMs });
  }

  #emit(train: MatchedTrain<ModuleFrame>): void {
    // A newer train came out with this one: drawing this one would only delay the newer one.
    if (train.stale) return;
    this.#missing = train.missing.length;
    const stack = this.#stack;
    stack.fill(Number.NaN);
    let sentMs = 0;
    for (const f of train.data.values()) {
      stack.set(f.pixels, f.module * this.#modulePixels);
      // The train has left the detector when its last module has.
      sentMs = Math.max(sentMs, f.sentMs);
    }
    const trainId = train.trainId;
    const [height, width] = this.#opts.geometry.assembledShape;
    // The geometry puts row 0 at the bottom (y up); the page draws row 0 at the top.
    const assembled = this.#opts.geometry.assemble(stack, this.#out ?? undefined);
    this.#out = assembled;
    const pixels = flipRows(assembled, width, height);
    const [cy, cx] = this.#opts.geometry.snapped().centre;
    const counts = this.matching;
    const frame: LiveFrame = {
      trainId,
      sentMs,
      width,
      height,
      pixels,
      centre: [height - cy, cx],
      matching: {
        missing: this.#missing,
        trains: counts.trains,
        incomplete: counts.incomplete,
        late: counts.late,
      },
    };
    const e = this.#energies.of(trainId);
    if (e) frame.pulseEnergy = e;
    for (const l of this.#listeners) l(frame);
  }
}

/** Where an assembled detector image comes from: an assembler device's output. */
export interface AssembledFeedOptions {
  label: string;
  /** The assembler's output channel (`deviceId:output`). */
  output: string;
  /** The geometry it assembles with (the analysis graph integrates with it). */
  geometry: DetectorGeometry;
  /** Modules the assembler is connected to (to count missing ones). */
  modules: number;
  xgm?: { output: string; key: string };
  /** Id of the GUI's input channels (default "SASE_GUI/PREVIEW/ASSEMBLED"). */
  inputDeviceId?: string;
}

/**
 * An ImageFeed over an assembler device (AssemblerDevice's output: image.data (y, x) with y up,
 * image.centre, image.modulesPresent): the facility's own assembled image, as every client sees it.
 */
export class AssembledImageFeed implements ImageFeed {
  readonly source: string;
  readonly #opts: AssembledFeedOptions;
  readonly #listeners = new Set<(f: LiveFrame) => void>();
  readonly #energies = new PulseEnergies();
  #inputs: InputChannel[] = [];
  #trains = 0;
  #incomplete = 0;

  constructor(opts: AssembledFeedOptions) {
    this.#opts = opts;
    this.source = opts.label;
  }

  /** The detector geometry the assembler uses. */
  get geometry(): DetectorGeometry {
    return this.#opts.geometry;
  }

  subscribe(listener: (f: LiveFrame) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) void this.#stop();
    };
  }

  /** Stops receiving. */
  close(): Promise<void> {
    this.#listeners.clear();
    return this.#stop();
  }

  #start(): void {
    const base = this.#opts.inputDeviceId ?? "SASE_GUI/PREVIEW/ASSEMBLED";
    const input = new InputChannel(`${base}:image`, {
      ...VIEWER_INPUT,
      connectedOutputChannels: [this.#opts.output],
    });
    this.#inputs = [input.onData((t) => this.#onImage(t, input)).connect()];
    if (this.#opts.xgm) this.#inputs.push(this.#energies.input(`${base}:xgm`, this.#opts.xgm));
  }

  async #stop(): Promise<void> {
    const inputs = this.#inputs;
    this.#inputs = [];
    await Promise.all(inputs.map((i) => i.close()));
  }

  #onImage(t: DataToken, input: InputChannel): void {
    const a = t.data.has("image.data") ? t.data.get("image.data") : null;
    if (!isNDArray(a) || a.shape.length !== 2 || !(a.data instanceof Float32Array)) {
      input.release(t);
      return;
    }
    const [height, width] = a.shape as [number, number];
    const c = t.data.has("image.centre") ? t.data.get("image.centre") : null;
    const [cy, cx] = isNDArray(c) ? Array.from(c.data as Float64Array) : [height / 2, width / 2];
    const present = t.data.has("image.modulesPresent") ? Number(t.data.get("image.modulesPresent")) : 0;
    const missing = Math.max(0, this.#opts.modules - present);
    this.#trains++;
    if (missing > 0) this.#incomplete++;
    const trainId = t.meta.timestamp.trainId;
    const yUp = a.data;
    let flipped: Float32Array | null = null;
    const frame: LiveFrame = {
      trainId,
      sentMs: timestampToMs(t.meta.timestamp),
      width,
      height,
      // The geometry puts row 0 at the bottom (y up); the page draws row 0 at the top. The flipped
      // copy is made only for a listener that asks for it (the live view reads the rows bottom-up):
      // a fresh image-sized array per train costs tens of ms of page faults here.
      get pixels(): Float32Array {
        flipped ??= flipRows(yUp, width, height);
        return flipped;
      },
      pixelsYUp: yUp,
      centre: [height - (cy ?? 0), cx ?? 0],
      matching: { missing, trains: this.#trains, incomplete: this.#incomplete, late: 0 },
    };
    // The assembler may write a later train into this image once every reader is done (the input's
    // release), as may a later train received over TCP: here that is when the listeners have returned
    // and each that kept the frame released it.
    let holds = 1;
    const release = () => {
      if (--holds === 0) input.release(t);
    };
    frame.hold = () => {
      if (holds === 0)
        throw new SaseError("WRONG_STATE", `train ${trainId}'s image is held after it was released`);
      holds++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        release();
      };
    };
    const e = this.#energies.of(trainId);
    if (e) frame.pulseEnergy = e;
    try {
      for (const l of this.#listeners) l(frame);
    } finally {
      release();
    }
  }
}

/** A copy of a row-major image upside down. */
function flipRows(img: Float32Array, width: number, height: number): Float32Array {
  const out = new Float32Array(img.length);
  for (let y = 0; y < height; y++)
    out.set(img.subarray(y * width, (y + 1) * width), (height - 1 - y) * width);
  return out;
}

/** Per-pulse values as numbers, without the padding (trailing zeros or NaN) of fixed-size vectors. */
function toNumbers(v: unknown): number[] | null {
  let out: number[];
  if (isNDArray(v)) out = Array.from(v.data as ArrayLike<number | bigint>, Number);
  else if (ArrayBuffer.isView(v)) out = Array.from(v as unknown as ArrayLike<number>, Number);
  else if (Array.isArray(v) && v.every((x) => typeof x === "number")) out = v as number[];
  else return null;
  let n = out.length;
  while (n > 0 && (out[n - 1] === 0 || Number.isNaN(out[n - 1]))) n--;
  return out.slice(0, n);
}

/** Where a single 2D image comes from: one output channel and the key of the image in its tokens. */
export interface ChannelFeedOptions {
  label: string;
  output: string;
  /** Key of the (rows, columns) image (default "image.data"). */
  key?: string;
  inputId?: string;
}

/** An ImageFeed from one output channel that sends a whole 2D image per train (a camera, a preview). */
export class ChannelImageFeed implements ImageFeed {
  readonly source: string;
  readonly #opts: ChannelFeedOptions;
  readonly #listeners = new Set<(f: LiveFrame) => void>();
  #input: InputChannel | null = null;

  constructor(opts: ChannelFeedOptions) {
    this.#opts = opts;
    this.source = opts.label;
  }

  subscribe(listener: (f: LiveFrame) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#input) {
      this.#input = new InputChannel(this.#opts.inputId ?? "SASE_GUI/PREVIEW/CAMERA:input", {
        connectedOutputChannels: [this.#opts.output],
        onSlowness: "drop",
      })
        .onData((t) => this.#onData(t))
        .connect();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) void this.close();
    };
  }

  /** Stops receiving. */
  async close(): Promise<void> {
    const i = this.#input;
    this.#input = null;
    await i?.close();
  }

  #onData(t: DataToken): void {
    const key = this.#opts.key ?? "image.data";
    const a = t.data.has(key) ? t.data.get(key) : null;
    if (!isNDArray(a) || a.shape.length !== 2) return;
    const [height, width] = a.shape as [number, number];
    const pixels = new Float32Array(width * height);
    copyModuleFrame(a, 0, pixels);
    const frame: LiveFrame = {
      trainId: Number(t.meta.timestamp.trainId),
      sentMs: timestampToMs(t.meta.timestamp),
      width,
      height,
      pixels,
    };
    for (const l of this.#listeners) l(frame);
  }
}

/**
 * Several feeds of the same detector (corrected and raw modules) behind one image: frames come from
 * the selected one only, and only that one receives data (switching closes the other's inputs).
 */
export class SelectableImageFeed implements ImageFeed {
  readonly views: readonly string[];
  #view: string;
  #listeners = new Set<(f: LiveFrame) => void>();
  #off: (() => void) | null = null;

  constructor(
    readonly feeds: ReadonlyMap<string, ImageFeed & { close?: () => Promise<void> }>,
    initial?: string,
  ) {
    this.views = [...feeds.keys()];
    if (this.views.length === 0)
      throw new SaseError("BAD_OPTION", "a selectable image feed needs at least one feed");
    this.#view = initial && feeds.has(initial) ? initial : this.views[0]!;
  }

  get view(): string {
    return this.#view;
  }

  get source(): string {
    return this.feeds.get(this.#view)!.source;
  }

  subscribe(listener: (f: LiveFrame) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#attach();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#detach();
    };
  }

  selectView(view: string): void {
    if (!this.feeds.has(view))
      throw new SaseError("NOT_FOUND", `no view "${view}" (${this.views.join(", ")})`, { value: view });
    if (view === this.#view) return;
    const active = this.#off !== null;
    this.#detach();
    this.#view = view;
    if (active) this.#attach();
  }

  #attach(): void {
    this.#off = this.feeds.get(this.#view)!.subscribe((f) => {
      for (const l of this.#listeners) l(f);
    });
  }

  #detach(): void {
    this.#off?.();
    this.#off = null;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#detach();
    await Promise.all([...this.feeds.values()].map((f) => f.close?.()));
  }
}
