// A simulated X-ray gas monitor (XGM): the pulse energies of every train, from the same seeded source
// as the simulated detector's photons, so a bright train is bright in both. Slow data (the mean pulse
// energy) is a property; the per-pulse energies go out on a pipeline, as the facility's XGMs send them.
import { el, ndarray, type SchemaSpec, type Slots, State } from "../core/index.ts";
import { definePipelineDevice, outputChannel, TrainProducer } from "../pipeline/index.ts";
import { DETECTORS, detectorByName } from "./description.ts";
import { SimulatedDetector } from "./detector.ts";
import { XGM_PULSES } from "./run.ts";

/** Data schema of the XGM output: the energy of each pulse of the train, µJ. */
export const XGM_TRAIN_SCHEMA = {
  data: el.node({ intensityTD: el.ndarray({ dtype: "float32", description: "pulse energies, µJ" }) }),
} satisfies SchemaSpec;

const schema = {
  output: outputChannel({ displayedName: "Pulse energies", dataSchema: XGM_TRAIN_SCHEMA }),
  detector: el.string({
    displayedName: "Detector whose pulses it measures",
    options: Object.keys(DETECTORS),
    default: "AGIPD1M",
  }),
  pulses: el.uint32({ displayedName: "Pulses per train", default: 16, min: 1, max: XGM_PULSES }),
  seed: el.uint32({ displayedName: "Seed", description: "the detector simulation's seed", default: 1 }),
  rate: el.double({ displayedName: "Train rate", unit: "hertz", default: 10, minExc: 0, max: 100 }),
  pulseEnergy: el.node({
    photonFlux: el.double({ displayedName: "Mean pulse energy", access: "readOnly", default: 0 }),
  }),
  trainsSent: el.uint64({ displayedName: "Trains sent", access: "readOnly", default: 0n }),
  start: el.slot({ displayedName: "Start", allowedStates: [State.STOPPED] }),
  stop: el.slot({ displayedName: "Stop", allowedStates: [State.ACQUIRING] }),
} satisfies SchemaSpec;

/** The simulated XGM; ACQUIRING while it sends. */
export class XgmDevice
  extends definePipelineDevice({
    classId: "SimulatedXgm",
    description: "Simulated X-ray gas monitor: mean pulse energy per train, per-pulse energies on `output`",
    schema,
  })
  implements Slots<typeof schema>
{
  #sim: SimulatedDetector | undefined;
  readonly #producer = new TrainProducer(this, async (trainId, sent) => {
    const energies = this.#sim!.pulseEnergies(BigInt(trainId));
    let mean = 0;
    for (const e of energies) mean += e / energies.length;
    await this.output("output").write(
      { data: { intensityTD: ndarray(energies, [energies.length]) } },
      { trainId },
    );
    this.setMany({ "pulseEnergy.photonFlux": mean, trainsSent: sent });
  });

  override onInit(): void {
    this.#sim = new SimulatedDetector(detectorByName(this.get("detector")), {
      seed: this.get("seed"),
      cells: this.get("pulses"),
      modules: 1,
    });
    this.start();
  }

  start(): void {
    this.updateState(State.ACQUIRING, `measuring ${this.get("pulses")} pulses per train`);
    this.#producer.start(this.get("rate"));
  }

  stop(): void {
    void this.#producer.stop();
    this.updateState(State.STOPPED, "stopped");
  }
}
