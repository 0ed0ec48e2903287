// A stand-in detector for GUI tests and the benchmark: the simulated AGIPD-1M's raw module data,
// precomputed for a few trains and written on every tick of the facility's timing server to the
// module output channels the real detector uses, plus an XGM output with per-pulse energies.
import type { Facility } from "../../src/devices/index.ts";
import { AGIPD_1M_DETECTOR, rawSourceName, SimulatedDetector, XGM_OUTPUT } from "../../src/detector/index.ts";
import { ndarray } from "../../src/core/index.ts";
import { OutputChannel } from "../../src/pipeline/index.ts";

/** Key of the XGM's per-pulse energies in its tokens. */
export const XGM_KEY = "data.intensityTD";

/** Module outputs of the simulated AGIPD-1M, in module order. */
export function moduleOutputs(): string[] {
  return Array.from({ length: AGIPD_1M_DETECTOR.nModules }, (_, m) => rawSourceName(AGIPD_1M_DETECTOR, m));
}

/** Starts writing detector trains; returns the stop function. */
export async function startDetectorStandIn(
  facility: Facility,
  options: { distinctTrains?: number; pulses?: number } = {},
): Promise<{ stop: () => Promise<void>; written: () => number }> {
  const det = new SimulatedDetector(AGIPD_1M_DETECTOR, { seed: 7, cells: 1 });
  const xgmSim = new SimulatedDetector(AGIPD_1M_DETECTOR, {
    seed: 7,
    cells: options.pulses ?? 32,
    modules: 1,
  });
  const n = options.distinctTrains ?? 4;
  const trains = Array.from({ length: n }, (_, k) =>
    Array.from({ length: det.nModules }, (_, m) => det.moduleTrain(m, BigInt(k + 1)).data),
  );
  const outputs = moduleOutputs().map((id) => new OutputChannel(id));
  const xgm = new OutputChannel(XGM_OUTPUT);
  let written = 0;
  const sub = facility.broker.subscribe(facility.timeServerId, "trainId", (c) => {
    const trainId = Number(c.value as bigint);
    const k = trainId % n;
    xgm.write({ data: { intensityTD: xgmSim.pulseEnergies(BigInt(trainId)) } }, { trainId }).catch(() => {});
    outputs.forEach((out, m) => {
      const data = ndarray(trains[k]![m]!, [1, 2, 512, 128]);
      out.write({ image: { data } }, { trainId }).catch(() => {});
    });
    written++;
  });
  return {
    written: () => written,
    stop: async () => {
      sub.close();
      await Promise.all([...outputs, xgm].map((o) => o.close()));
    },
  };
}
