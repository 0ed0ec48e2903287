// The timer loop of every device that emits trains (simulated detector modules, XGM, the pipeline
// demo): one train per period, train IDs that only go up, and a train that takes longer than the
// period is not overtaken by the next one (the tick is skipped instead).

import { SaseError } from "../core/index.ts";

/** What the producer needs of its device: its periodic timer and the current train ID. */
export interface ProducerHost {
  /** The latest train ID the device's server knows (0 before the first). */
  readonly trainId: number;
  /** Runs `task` every `periodMs` until cancelled or the device goes away. */
  every(periodMs: number, task: () => void | Promise<void>): () => void;
}

/** Sends one train: its ID, and how many trains this producer will have sent once it is out. */
export type SendTrain = (trainId: number, sentCount: bigint) => Promise<void>;

/** Emits one train every 1/rate s while started; `sent` counts the trains that went out. */
export class TrainProducer {
  readonly #clock: ProducerHost;
  readonly #send: SendTrain;
  #cancel: (() => void) | undefined;
  #lastTrain = 0;
  #sent = 0n;
  #busy = false;

  constructor(clock: ProducerHost, send: SendTrain) {
    this.#clock = clock;
    this.#send = send;
  }

  /** True between start() and stop(). */
  get running(): boolean {
    return this.#cancel !== undefined;
  }

  /** Trains sent so far. */
  get sent(): bigint {
    return this.#sent;
  }

  /** Starts sending at `rateHz` (restarts at the new rate if already running). */
  start(rateHz: number): void {
    if (!(rateHz > 0))
      throw new SaseError("OUT_OF_RANGE", `train rate ${rateHz} Hz: give a rate > 0`, {
        key: "rate",
        value: String(rateHz),
      });
    this.stop();
    this.#cancel = this.#clock.every(1000 / rateHz, () => this.#tick());
  }

  /** Stops the timer; a train being sent still goes out. */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    // Follows the timing server, but never repeats an ID when ticks outpace it.
    const trainId = Math.max(this.#clock.trainId, this.#lastTrain + 1);
    this.#lastTrain = trainId;
    this.#busy = true;
    try {
      await this.#send(trainId, this.#sent + 1n);
      this.#sent++;
    } finally {
      this.#busy = false;
    }
  }
}
