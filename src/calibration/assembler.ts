// The assembler device: takes the module streams of a detector (raw or corrected) on one input, matches
// them by train, and sends one 2D image per train placed with the detector's geometry. This is what
// online analysis, the bridge and the GUI look at when they want "the detector", not sixteen modules.
import { el, type NDArray, ndarray, type SchemaSpec, State, type Timestamp } from "../core/index.ts";
import {
  type DetectorGeometry,
  detectorByName,
  geometryForDetector,
  moduleOfSource,
  type StackAssembler,
} from "../detector/index.ts";
import {
  type DataToken,
  definePipelineDevice,
  inputChannel,
  MATCH_STATS_SCHEMA,
  type MatchedTrain,
  matchStatsValues,
  outputChannel,
  TrainMatcher,
} from "../pipeline/index.ts";

/** Data schema of an assembled train. */
export const ASSEMBLED_TRAIN_SCHEMA = {
  image: el.node({
    data: el.ndarray({
      dtype: "float32",
      description: "(y, x) assembled image, NaN in gaps and missing modules",
    }),
    centre: el.ndarray({ dtype: "float64", description: "(y, x) pixel index of the beam centre" }),
    modulesPresent: el.uint32({ description: "modules that arrived for this train" }),
  }),
} satisfies SchemaSpec;

const ro = { access: "readOnly" } as const;

const schema = {
  input: inputChannel({
    displayedName: "Module data",
    description: "connect to the detector's module outputs in module order (module 0 first)",
    onSlowness: "drop",
  }),
  output: outputChannel({ displayedName: "Assembled image", dataSchema: ASSEMBLED_TRAIN_SCHEMA }),
  detector: el.string({ displayedName: "Detector", default: "AGIPD1M", access: "init" }),
  frame: el.uint32({
    displayedName: "Frame",
    description: "memory-cell frame to show; ignored when reduction is mean or max",
    default: 0,
  }),
  reduction: el.string({ displayedName: "Reduction", options: ["frame", "mean", "max"], default: "frame" }),
  matchTimeoutMs: el.uint32({
    displayedName: "Match timeout (ms)",
    description:
      "how long a module may send nothing before trains are sent without it (NaN in its place); a module that sent a newer train skipped the older ones",
    default: 300,
    min: 10,
    max: 10_000,
  }),
  trainsAssembled: el.uint64({ displayedName: "Trains assembled", ...ro, default: 0n }),
  trainsIncomplete: el.uint64({
    displayedName: "Trains sent with modules missing",
    description: "a module silent for the whole match timeout (down, or far behind): sent with NaN for it",
    ...ro,
    default: 0n,
  }),
  trainsSkipped: el.uint64({
    displayedName: "Incomplete trains not sent",
    description:
      "trains that some modules skipped while others sent them (a module or its correction backed off, or an output dropped them): not assembled, so a viewer sees whole trains",
    ...ro,
    default: 0n,
  }),
  lastTrainId: el.uint64({ displayedName: "Last train", ...ro, default: 0n }),
  assemblyMs: el.double({ displayedName: "Assembly time per train (ms)", ...ro, default: 0 }),
  matching: MATCH_STATS_SCHEMA,
  moduleStats: el.table(
    {
      source: el.string({ default: "" }),
      received: el.uint32({ default: 0 }),
      missing: el.uint32({ default: 0 }),
      late: el.uint32({ default: 0 }),
    },
    {
      displayedName: "Per-module figures",
      description: "pieces each module output delivered, trains sent without it, pieces too late",
      ...ro,
      default: [],
    },
  ),
  problems: el.vector("string", {
    displayedName: "Problems",
    description: "module outputs that do not deliver, each with the fix",
    ...ro,
    default: [],
  }),
} satisfies SchemaSpec;

/**
 * The (ss, fs) frame `frame` of a module array shaped (frames, [2,] ss, fs), reduced as asked, as
 * float32 into `out` (one module's `pixels`). A module simulated with fewer rows (a reduced demo
 * detector) fills its first rows; the rows it lacks stay NaN, like a missing module.
 */
export function moduleFrame(
  array: NDArray,
  pixels: number,
  reduction: "frame" | "mean" | "max",
  frame: number,
  out: Float32Array,
): void {
  // Raw AGIPD data carries (analog, digital) planes per frame; the analog plane is the image.
  const planes = array.shape.length === 4 ? array.shape[1]! : 1;
  const frames = array.shape[0] ?? 1;
  const src = array.data as ArrayLike<number>;
  const have = array.shape.length >= 3 ? array.shape.at(-2)! * array.shape.at(-1)! : pixels;
  const stride = planes * have;
  const n = Math.min(have, pixels);
  if (n < pixels) out.fill(Number.NaN, n);
  const dst = n < pixels ? out.subarray(0, n) : out;
  if (reduction === "frame") {
    const f = Math.min(frame, frames - 1);
    const base = f * stride;
    const data = array.data;
    // A typed array's own copy (converting to float32 on the way) runs at memory speed; an indexed
    // loop over an array of either element type runs several times slower.
    if (!(data instanceof BigInt64Array || data instanceof BigUint64Array) && ArrayBuffer.isView(data)) {
      dst.set(data.subarray(base, base + n));
      return;
    }
    for (let i = 0; i < n; i++) dst[i] = src[base + i]!;
    return;
  }
  dst.fill(reduction === "max" ? Number.NEGATIVE_INFINITY : 0);
  for (let f = 0; f < frames; f++) {
    const base = f * stride;
    if (reduction === "max") for (let i = 0; i < n; i++) dst[i] = Math.max(dst[i]!, src[base + i]!);
    else for (let i = 0; i < n; i++) dst[i]! += src[base + i]!;
  }
  if (reduction === "mean") for (let i = 0; i < n; i++) dst[i]! /= frames;
}

/** What the assembler keeps of a module's train until its train is matched. */
interface ModuleToken {
  readonly array: NDArray;
  readonly timestamp: Timestamp;
  /** The token it came in (its memory is handed back to the input once the train is assembled). */
  readonly token: DataToken;
}

/** Matches a detector's module trains and sends each train as one assembled image. */
export class AssemblerDevice extends definePipelineDevice({
  classId: "DetectorAssembler",
  description: "Matches module trains and assembles them into one detector image with the geometry",
  schema,
}) {
  #geometry: DetectorGeometry | undefined;
  #matcher: TrainMatcher<ModuleToken> | undefined;
  #moduleOf = new Map<string, number>();
  #assembler: StackAssembler | undefined;
  #assembled = 0n;
  #incomplete = 0n;
  #skipped = 0n;
  /** Images every reader handed back (core's recycle): the next trains are written into these. */
  readonly #free: Float32Array[] = [];

  override async onInit(): Promise<void> {
    const detector = detectorByName(this.get("detector"));
    this.#geometry = geometryForDetector(detector);
    const sources = this.get("input.connectedOutputChannels");
    // A detector's own module sources place themselves (a demo may read out only modules 3 and 15);
    // other sources are placed in the order connected.
    sources.forEach((id, i) => {
      const m = moduleOfSource(detector, id);
      this.#moduleOf.set(id, m >= 0 ? m : i);
    });
    this.#assembler = this.#geometry.snapped().createStackAssembler();
    this.updateState(State.ON);
    if (sources.length === 0) return; // nothing connected: nothing to match
    // Each module's corrected trains come on one connection, in train order: a train that a module has
    // passed is decided at once (skipped) rather than after the timeout.
    const matcher = new TrainMatcher<ModuleToken>(sources, {
      timeoutMs: this.get("matchTimeoutMs"),
      sourcesInOrder: true,
      onError: (err) => this.fault(`assembling a train failed: ${String(err)}`),
      // A piece the matcher does not keep (late, or a second one) is read no more.
      onDropped: (piece) => this.#read(piece),
    }).onTrain((train) => this.#send(train));
    this.#matcher = matcher;
    this.input("input").onData((token) => {
      const array = token.data.getOr("image.data", null) as NDArray | null;
      if (!array) {
        this.input("input").release(token);
        return undefined;
      }
      const timestamp = token.meta.timestamp;
      return matcher.push(token.meta.source, timestamp.trainId, { array, timestamp, token });
    });
    // Which module a lost train lacked, and why: a crashed correction server shows up here by name.
    this.every(250, () =>
      this.setMany({
        ...matchStatsValues("matching", matcher.counts),
        moduleStats: matcher
          .stats()
          .map(({ source, received, missing, late }) => ({ source, received, missing, late })),
        problems: matcher.problems().map((p) => `${p.message}: ${p.fix}`),
      }),
    );
  }

  /**
   * When the output feeds only inputs in this process (the GUI's corrected view), they are the only
   * readers of the image: once each has said it is done (core's recycle), a later train is written into
   * it. A reader that never says so keeps it from being reused.
   */
  #offerForRecycling(image: Float32Array): void {
    this.output("output").offerToLocalReaders(image, () => {
      if (this.#free.length < 4) this.#free.push(image);
    });
  }

  /**
   * Says that the assembler no longer reads a module's train (copied into the stack, or skipped): a
   * maker in this process that offered its arrays (a correction) may write a later train into them, and
   * memory it was received into over TCP receives a later train (not fresh pages, each a fault).
   */
  #read(piece: ModuleToken): void {
    this.input("input").release(piece.token);
  }

  override onShutdown(): void {
    this.#matcher?.close();
  }

  async #send(train: MatchedTrain<ModuleToken>): Promise<void> {
    if (!this.#geometry || !this.#assembler) return;
    const trainId = train.trainId;
    // Under load, modules and corrections back off on the facility's train grid and outputs drop what
    // an input cannot take: a train that modules skipped while others sent it is a partial image a
    // viewer should not mistake for the detector; it costs a whole assembly and delays the whole trains
    // behind it. Such trains are counted, not sent. A module silent for the whole timeout (down) still
    // gets its trains sent with NaN in its place, so the rest of the detector stays visible.
    if (train.skipped) {
      for (const piece of train.data.values()) this.#read(piece);
      this.set("trainsSkipped", ++this.#skipped);
      return;
    }
    const t0 = performance.now();
    const geometry = this.#geometry;
    const pixels = geometry.layout.moduleShape[0] * geometry.layout.moduleShape[1];
    const stack = this.#assembler.stack;
    const reduction = this.get("reduction") as "frame" | "mean" | "max";
    const present = new Set<number>();
    // The image carries the time its last module left the detector (latency counts from there).
    let timestamp: Timestamp | undefined;
    for (const [source, piece] of train.data) {
      const { array, timestamp: t } = piece;
      const m = this.#moduleOf.get(source)!;
      present.add(m);
      if (!timestamp || t.sec > timestamp.sec || (t.sec === timestamp.sec && t.frac > timestamp.frac))
        timestamp = t;
      moduleFrame(array, pixels, reduction, this.get("frame"), stack.subarray(m * pixels, (m + 1) * pixels));
      this.#read(piece);
    }
    const nModules = stack.length / pixels;
    for (let m = 0; m < nModules; m++) {
      if (!present.has(m)) stack.fill(Number.NaN, m * pixels, (m + 1) * pixels);
    }
    // The assembler's image is overwritten by the next train; the output gets its own copy, written
    // into an image every reader handed back when there is one (a fresh 5 MB array costs tens of ms of
    // page faults on some hosts).
    const assembled = this.#assembler.assemble();
    const recycled = this.#free.pop();
    const image = recycled?.length === assembled.length ? recycled : new Float32Array(assembled.length);
    image.set(assembled);
    this.#offerForRecycling(image);
    const complete = train.missing.length === 0;
    await this.output("output").write(
      {
        image: {
          data: ndarray(image, geometry.assembledShape),
          centre: ndarray(new Float64Array(geometry.snapped().centre), [2]),
          modulesPresent: train.data.size,
        },
      },
      timestamp ? { timestamp } : { trainId },
    );
    this.#assembled += 1n;
    if (!complete) this.#incomplete += 1n;
    this.setMany({
      trainsAssembled: this.#assembled,
      trainsIncomplete: this.#incomplete,
      lastTrainId: BigInt(trainId),
      assemblyMs: performance.now() - t0,
    });
  }
}
