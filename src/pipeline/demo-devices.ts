// Two small devices that show a pipeline at work (what `sase start` runs): a producer that sends a
// detector-like image per train, and a consumer that reduces each image to its mean.

import { el, Hash, ndarray, type SchemaSpec, type Slots, State } from "../core/index.ts";
import type { Facility } from "../devices/index.ts";
import { definePipelineDevice, inputChannel, outputChannel } from "./device.ts";
import { TrainProducer } from "./producer.ts";

const imageData = {
  trainId: el.uint64({ description: "train the image belongs to" }),
  image: el.node({ data: el.ndarray({ dtype: "uint16", description: "pixels, (rows, columns)" }) }),
} satisfies SchemaSpec;

const producerSchema = {
  output: outputChannel({ displayedName: "Images", dataSchema: imageData }),
  rows: el.uint32({ displayedName: "Rows", default: 128, min: 1, max: 4096 }),
  columns: el.uint32({ displayedName: "Columns", default: 128, min: 1, max: 4096 }),
  rate: el.double({
    displayedName: "Rate",
    unit: "hertz",
    default: 10,
    minExc: 0,
    max: 1000,
    access: "reconfigurable",
  }),
  autoStart: el.bool({ displayedName: "Start on init", default: true }),
  sent: el.uint64({ displayedName: "Images sent", access: "readOnly", default: 0n }),
  start: el.slot({ displayedName: "Start", allowedStates: [State.STOPPED] }),
  stop: el.slot({ displayedName: "Stop (ends the stream)", allowedStates: [State.ACQUIRING] }),
} satisfies SchemaSpec;

/** Sends one image per tick on `output`; ACQUIRING while sending, STOPPED otherwise. */
export class StreamProducer
  extends definePipelineDevice({
    classId: "StreamProducer",
    description: "Sends a simulated image per train on its output channel",
    schema: producerSchema,
  })
  implements Slots<typeof producerSchema>
{
  readonly #producer = new TrainProducer(this, async (train, sent) => {
    const rows = this.get("rows");
    const columns = this.get("columns");
    // A fresh buffer per train: in-process consumers get this very buffer.
    const pixels = new Uint16Array(rows * columns);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (train + i) & 0xfff;
    await this.output("output").write(
      new Hash({ trainId: train, image: { data: ndarray(pixels, [rows, columns]) } }),
      { trainId: train },
    );
    this.set("sent", sent);
  });

  override onInit(): void {
    this.updateState(State.STOPPED, "stopped");
    if (this.get("autoStart")) this.start();
  }

  start(): void {
    const size = `${this.get("rows")}×${this.get("columns")}`;
    this.updateState(State.ACQUIRING, `sending ${size} images at ${this.get("rate")} Hz`);
    this.#producer.start(this.get("rate"));
  }

  async stop(): Promise<void> {
    await this.#producer.stop();
    await this.output("output").endOfStream();
    this.updateState(State.STOPPED, "stopped; stream ended");
  }
}

const consumerSchema = {
  input: inputChannel({ displayedName: "Images" }),
  received: el.uint64({ displayedName: "Images received", access: "readOnly", default: 0n }),
  lastTrainId: el.uint64({ displayedName: "Last train", access: "readOnly", default: 0n }),
  mean: el.double({ displayedName: "Mean pixel value", access: "readOnly", default: 0 }),
} satisfies SchemaSpec;

/** Reduces each image arriving on `input` to its mean; MONITORING while a stream is open. */
export class StreamConsumer extends definePipelineDevice({
  classId: "StreamConsumer",
  description: "Receives images on its input channel and publishes their mean",
  schema: consumerSchema,
}) {
  #received = 0;

  override onInit(): void {
    this.updateState(State.ON, "waiting for data");
    this.input("input")
      .onData((token) => {
        const image = token.data.get("image.data");
        if (!("data" in (image as object))) return;
        const pixels = (image as { data: Uint16Array }).data;
        let sum = 0;
        for (let i = 0; i < pixels.length; i++) sum += pixels[i];
        if (this.state !== State.MONITORING) this.updateState(State.MONITORING, "receiving");
        this.setMany({
          received: BigInt(++this.#received),
          lastTrainId: BigInt(token.meta.timestamp.trainId),
          mean: pixels.length ? sum / pixels.length : 0,
        });
      })
      .onEndOfStream(() => this.updateState(State.ON, "stream ended"));
  }
}

/** Device ids of the pipeline demo in `sase start`. */
export const PIPELINE_DEMO_IDS = {
  producer: "SASE_DEMO/PIPELINE/PRODUCER",
  consumer: "SASE_DEMO/PIPELINE/CONSUMER",
} as const;

/** Adds the demo producer and a consumer connected to it (a `sase start` facility add-on). */
export async function addPipelineDemo(facility: Facility): Promise<void> {
  await facility.addDevice(StreamProducer, PIPELINE_DEMO_IDS.producer, { rate: 10 });
  await facility.addDevice(StreamConsumer, PIPELINE_DEMO_IDS.consumer, {
    input: { connectedOutputChannels: [`${PIPELINE_DEMO_IDS.producer}:output`] },
  });
}
