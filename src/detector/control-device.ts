// The detector's control device (AGIPD's FPGA_COMP, e.g. SPB_IRU_AGIPD1M1/MDL/FPGA_COMP): where the
// operating conditions are set — memory cells, repetition rate, gain setting, gain mode, integration
// time, bias voltage — under the keys the facility's tools read them from. Module devices that name
// it follow it (cells per train, fixed gain), the DAQ records it, and correction looks constants up
// by its values, as calibration does with the recorded control data.
import { defineDevice, el, type SchemaSpec, State } from "../core/index.ts";
import { GAIN_STAGE_NAMES, type GainStageName } from "./description.ts";

/** Gain modes by `gainModeIndex`: 0 adaptive, 1..3 fixed high, medium, low gain. */
export const GAIN_MODES = ["adaptive", "fixed-high", "fixed-medium", "fixed-low"] as const;
/** A gain mode name. */
export type GainModeName = (typeof GAIN_MODES)[number];

/** The stage a gain mode fixes (null: adaptive). */
export function fixedStage(gainModeIndex: number): GainStageName | null {
  return gainModeIndex > 0 ? (GAIN_STAGE_NAMES[gainModeIndex - 1] ?? null) : null;
}

const settable = { access: "reconfigurable", allowedStates: [State.ON] } as const;

const schema = {
  bunchStructure: el.node(
    {
      nPulses: el.uint32({
        displayedName: "Memory cells",
        description: "frames (memory cells) read out per train",
        default: 64,
        min: 1,
        max: 352,
        ...settable,
      }),
      repetitionRate: el.double({
        displayedName: "Repetition rate",
        description: "pulse rate within the train, MHz (4.5, 2.2 or 1.1)",
        default: 4.5,
        options: [4.5, 2.2, 1.1],
        ...settable,
      }),
      firstPulse: el.uint32({ displayedName: "First pulse", default: 0, ...settable }),
    },
    { displayedName: "Bunch structure" },
  ),
  gain: el.uint32({
    displayedName: "Gain setting",
    description: "CDS setting, 0 or 1",
    default: 0,
    max: 1,
    ...settable,
  }),
  gainModeIndex: el.uint32({
    displayedName: "Gain mode",
    description: "0 adaptive, 1 fixed high, 2 fixed medium, 3 fixed low gain",
    default: 0,
    max: 3,
    ...settable,
  }),
  pcScan: el.bool({
    displayedName: "Pulse-capacitor scan",
    description:
      "inject the pulse capacitor's stepped charge into every pixel instead of taking photons (adaptive gain)",
    default: false,
    ...settable,
  }),
  integrationTime: el.uint32({ displayedName: "Integration time", default: 12, min: 1, ...settable }),
  highVoltage: el.node(
    { target: el.double({ displayedName: "Bias voltage", unit: "volt", default: 300, ...settable }) },
    { displayedName: "Sensor bias" },
  ),
  gainModeName: el.string({ displayedName: "Gain mode (name)", access: "readOnly", default: "adaptive" }),
} satisfies SchemaSpec;

/** The simulated detector's control device: holds the operating conditions (ON). */
export class DetectorControlDevice extends defineDevice({
  classId: "AgipdControl",
  description: "Operating conditions of the simulated AGIPD (memory cells, rate, gain setting and mode, ...)",
  schema,
}) {
  override onInit(): void {
    this.set("gainModeName", GAIN_MODES[this.get("gainModeIndex")] ?? "adaptive");
    this.updateState(State.ON, "operating conditions set");
  }

  override onReconfigure(changes: { gainModeIndex?: number }): void {
    if (changes.gainModeIndex !== undefined) this.set("gainModeName", GAIN_MODES[changes.gainModeIndex]!);
  }
}
