// The timing server: emits the facility's train ID at a fixed rate (10 Hz, as the European XFEL's
// bunch trains come), each update stamped with its own train. Device servers follow it to stamp every
// property update with the current train. It also holds each detector's train grid for the facility:
// device servers report what their stages of a detector need (every how many trains they can keep
// up with, `reportTrainGrid`), and it publishes the largest need per detector (`trainGrids`), which
// every server applies from the train it names, so all processes take the same trains (see core's
// train-grid.ts).

import {
  defineDevice,
  el,
  type SchemaSpec,
  type Slots,
  State,
  scheduledStride,
  TRAIN_GRID_EXPIRY_MS,
  TRAIN_GRID_LEAD,
  type TrainGridSchedule,
  timestampNow,
} from "../core/index.ts";

/** Trains are counted from this moment when no first train ID is configured. */
const TRAIN_EPOCH_MS = Date.UTC(2017, 0, 1);

const schema = {
  trainId: el.uint64({
    displayedName: "Train ID",
    description: "The current train",
    access: "readOnly",
    default: 0n,
  }),
  frequency: el.double({
    displayedName: "Train rate",
    unit: "hertz",
    access: "reconfigurable",
    default: 10,
    minExc: 0,
    max: 1000,
  }),
  firstTrainId: el.uint64({
    displayedName: "First train ID",
    description: "Train ID of the first tick; 0 counts trains since 2017-01-01 so IDs grow across restarts",
    default: 0n,
  }),
  autoStart: el.bool({ displayedName: "Start on init", default: true }),
  actualFrequency: el.double({
    displayedName: "Measured rate",
    unit: "hertz",
    access: "readOnly",
    default: 0,
    archive: "noArchiving",
  }),
  trainGrids: el.table(
    {
      detector: el.string({ displayedName: "Detector", default: "" }),
      stride: el.uint32({
        displayedName: "Every Nth train",
        description:
          "the stride every stage of this detector applies from train fromTrain on: the largest need of its participants",
        default: 1,
      }),
      fromTrain: el.uint64({
        displayedName: "From train",
        description:
          "the first train of the stride; before it, the stride before (every process switches at this train)",
        default: 0n,
      }),
      before: el.uint32({ displayedName: "Stride before", default: 1 }),
      participants: el.uint32({ displayedName: "Participants", default: 0 }),
      slowest: el.string({
        displayedName: "Slowest",
        description: "the participant (device server) that needs the largest stride",
        default: "",
      }),
    },
    {
      displayedName: "Train grids",
      description: `per detector, every how many trains its stages take now; participants not heard from for ${TRAIN_GRID_EXPIRY_MS / 1000} s no longer count`,
      access: "readOnly",
      default: [],
      archive: "noArchiving",
    },
  ),
  reportTrainGrid: el.slot({
    displayedName: "Report train grid need",
    description:
      "a device server tells every how many trains its stages of a detector can keep up with (stride 0: it no longer takes part); answers the detector's stride",
    // Called by every server every second: audited at debug only.
    requiredAccessLevel: "observer",
    args: {
      detector: el.string({ displayedName: "Detector", mandatory: true }),
      participant: el.string({ displayedName: "Participant", mandatory: true }),
      stride: el.uint32({ displayedName: "Stride needed", default: 1 }),
    },
  }),
  start: el.slot({ displayedName: "Start", allowedStates: [State.STOPPED] }),
  stop: el.slot({ displayedName: "Stop", allowedStates: [State.STARTED] }),
} satisfies SchemaSpec;

/** Emits train IDs; STARTED while ticking, STOPPED otherwise. */
export class TimingServer
  extends defineDevice({ classId: "TimingServer", description: "Train ID source at a fixed rate", schema })
  implements Slots<typeof schema>
{
  #cancel: (() => void) | undefined;
  #next = 0;
  #rateWindow: number[] = [];
  /** Per detector, each participant's need and when it last said so. */
  readonly #needs = new Map<string, Map<string, { stride: number; at: number }>>();
  /** Per detector, the stride decided and the train it takes effect from. */
  readonly #schedules = new Map<string, TrainGridSchedule>();

  override onInit(): void {
    this.updateState(State.STOPPED, "stopped");
    if (this.get("autoStart")) this.start();
    this.every(TRAIN_GRID_EXPIRY_MS / 5, () => this.#publishGrids());
  }

  reportTrainGrid(args: {
    detector?: string;
    participant?: string;
    stride?: number;
  }): TrainGridSchedule | null {
    const detector = args.detector!;
    const stride = Number(args.stride ?? 1);
    const needs = this.#needs.get(detector) ?? new Map<string, { stride: number; at: number }>();
    if (stride > 0) needs.set(args.participant!, { stride, at: Date.now() });
    else needs.delete(args.participant!);
    if (needs.size > 0) this.#needs.set(detector, needs);
    this.#publishGrids();
    return this.#schedules.get(detector) ?? null;
  }

  /**
   * The schedule of a detector whose largest need is now `stride`. A larger stride takes effect at once
   * (its stage cannot keep up: it would lose trains meanwhile, and its own server applies it at once
   * anyway); a smaller one from a train TRAIN_GRID_LEAD trains ahead, on the grids of both strides, so
   * the news reaches every process before that train and they all take it up together.
   */
  #schedule(detector: string, stride: number): TrainGridSchedule {
    const old = this.#schedules.get(detector);
    if (old?.stride === stride) return old;
    const now = Number(this.get("trainId"));
    if (!old || stride > old.stride) return { stride, fromTrain: 0, before: stride };
    const grid = Math.max(old.stride, old.before);
    const fromTrain = Math.ceil((now + TRAIN_GRID_LEAD) / grid) * grid;
    return { stride, fromTrain, before: scheduledStride(old, fromTrain - 1) };
  }

  /** Drops participants silent too long and publishes the grids when they changed. */
  #publishGrids(): void {
    const now = Date.now();
    const rows = [];
    for (const [detector, needs] of [...this.#needs].sort(([a], [b]) => a.localeCompare(b))) {
      let stride = 1;
      let slowest = "";
      for (const [participant, need] of needs) {
        if (now - need.at > TRAIN_GRID_EXPIRY_MS) needs.delete(participant);
        else if (need.stride > stride || slowest === "") {
          stride = Math.max(stride, need.stride);
          slowest = participant;
        }
      }
      if (needs.size === 0) {
        this.#needs.delete(detector);
        this.#schedules.delete(detector);
        continue;
      }
      const schedule = this.#schedule(detector, stride);
      this.#schedules.set(detector, schedule);
      rows.push({
        detector,
        stride,
        fromTrain: BigInt(schedule.fromTrain),
        before: schedule.before,
        participants: needs.size,
        slowest: stride > 1 ? slowest : "",
      });
    }
    const old = this.get("trainGrids");
    const same =
      old.length === rows.length &&
      rows.every(
        (r, i) =>
          r.detector === old[i]!.detector &&
          r.stride === old[i]!.stride &&
          r.fromTrain === old[i]!.fromTrain &&
          r.participants === old[i]!.participants &&
          r.slowest === old[i]!.slowest,
      );
    if (!same) this.set("trainGrids", rows);
  }

  start(): void {
    const period = 1000 / this.get("frequency");
    const first = this.get("firstTrainId");
    let id = first > 0n ? first : BigInt(Math.floor((Date.now() - TRAIN_EPOCH_MS) / period));
    if (id <= this.get("trainId")) id = this.get("trainId") + 1n;
    this.#next = Date.now();
    this.updateState(State.STARTED, `emitting trains at ${this.get("frequency")} Hz`);
    const tick = () => {
      const now = Date.now();
      // Counted from the epoch, the train ID is the time's: a tick that comes late (a loaded machine)
      // skips the IDs it missed rather than falling behind, so timing servers in separate processes
      // (or a restarted one) agree on the train of every moment.
      if (first === 0n) {
        const due = BigInt(Math.floor((now - TRAIN_EPOCH_MS) / period));
        if (due > id) id = due;
      }
      this.set("trainId", id, timestampNow(Number(id), now));
      this.#measure(now);
      id += 1n;
      // Schedule against absolute times so timer jitter does not accumulate into rate drift.
      this.#next += 1000 / this.get("frequency");
      if (this.#next < now) this.#next = now;
      this.#cancel = this.after(this.#next - now, tick);
    };
    tick();
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.updateState(State.STOPPED, "stopped");
  }

  #measure(now: number): void {
    const w = this.#rateWindow;
    w.push(now);
    while (w.length > 2 && now - w[0]! > 2000) w.shift();
    if (w.length >= 2 && w.length % 5 === 0) {
      this.set("actualFrequency", ((w.length - 1) * 1000) / (now - w[0]!));
    }
  }
}
