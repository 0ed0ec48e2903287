// The timing server: emits the facility's train ID at a fixed rate (10 Hz, as the European XFEL's
// bunch trains come), each update stamped with its own train. Device servers follow it to stamp every
// property update with the current train.

import { defineDevice, el, type SchemaSpec, type Slots, State, timestampNow } from "../core/index.ts";

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

  override onInit(): void {
    this.updateState(State.STOPPED, "stopped");
    if (this.get("autoStart")) this.start();
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
