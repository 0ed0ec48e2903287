// A new device in one short file: an X-ray beam shutter. Copy it (or src/devices/motor.ts) to start
// your own: 1. declare the schema — the device's data sheet; 2. write one method per slot.
// Try it:  node --import tsx examples/shutter.ts

import { defineDevice, el, type SchemaSpec, type Slots, State } from "../src/core/index.ts";
import { Facility } from "../src/devices/index.ts";

const schema = {
  openingTime: el.double({
    displayedName: "Opening time",
    description: "How long the blade takes to open",
    unit: "second",
    prefix: "milli",
    access: "reconfigurable",
    default: 200,
    min: 0,
    max: 5000,
    allowedStates: [State.CLOSED],
  }),
  cycles: el.uint32({ displayedName: "Open/close cycles", access: "readOnly", default: 0 }),
  open: el.slot({ displayedName: "Open", allowedStates: [State.CLOSED] }),
  close: el.slot({ displayedName: "Close", allowedStates: [State.OPENED, State.OPENING] }),
} satisfies SchemaSpec;

/** A beam shutter: CLOSED → OPENING → OPENED, and back with `close`. */
export class Shutter
  extends defineDevice({ classId: "Shutter", description: "Beam shutter", schema })
  implements Slots<typeof schema>
{
  #cancel: (() => void) | undefined;

  override onInit(): void {
    this.updateState(State.CLOSED, "closed");
  }

  open(): void {
    this.updateState(State.OPENING, "opening");
    this.#cancel = this.after(this.get("openingTime"), () => {
      this.setMany({ state: State.OPENED, status: "open", cycles: this.get("cycles") + 1 });
    });
  }

  close(): void {
    this.#cancel?.();
    this.updateState(State.CLOSED, "closed");
  }
}

// Run as a script: start an embedded facility, add the shutter, open it and watch its state.
if (import.meta.filename === process.argv[1]) {
  const facility = await Facility.start();
  await facility.addDevice(Shutter, "SASE_XTD/SHUTTER/1", { openingTime: 300 });
  const states = facility.client.subscribe("SASE_XTD/SHUTTER/1", "state");
  await facility.client.execute("SASE_XTD/SHUTTER/1", "open");
  for await (const change of states) {
    console.log(`train ${change.timestamp.trainId}: ${change.value}`);
    if (change.value === State.OPENED) break;
  }
  await facility.stop();
}
