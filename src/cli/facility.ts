// What `sase start` runs, in order. The standard facility (timing server, two motors) comes first;
// each part below then joins it. The order matters and is written here once: the DAQ starts the
// stand-in detector that the GUI and the live bridge look for, so both come after it.
import type { Broker, Logger } from "../core/index.ts";
import { Facility } from "../devices/index.ts";
import { addOnlineCorrection } from "../calibration/index.ts";
import { addFacilityDaq, resolveDataRoots } from "../daq/index.ts";
import { addPipelineDemo } from "../pipeline/index.ts";
import { addLiveBridge } from "./bridge.ts";
import { guiAddon } from "./gui.ts";

/** One part of the embedded facility: a name for the logs and how it joins a running facility. */
export interface FacilityPart {
  readonly name: string;
  add(facility: Facility): Promise<void>;
}

/** The parts of `sase start` beyond the standard facility, in the order they start. */
export const FACILITY_PARTS: readonly FacilityPart[] = [
  { name: "pipeline demo", add: addPipelineDemo }, // a producer streaming images to a consumer
  { name: "run control + DAQ", add: (facility) => addFacilityDaq(facility) }, // and its stand-in detector
  {
    // one correction device per module, constants from SASE_CONSTANTS_STORE or <data-dir>/constants
    name: "online correction",
    add: async (facility) => {
      await addOnlineCorrection(facility, { storeRoot: resolveDataRoots().constants });
    },
  },
  { name: "web GUI", add: guiAddon }, // finds the detector outputs started above
  { name: "live Karabo bridge", add: addLiveBridge }, // forwards every pipeline output started above
];

/** Starts the standard facility at `trainRate` Hz (on `broker`, else in-process) and adds `parts`. */
export async function composeFacility(
  trainRate: number,
  log: Logger,
  parts: readonly FacilityPart[] = FACILITY_PARTS,
  broker?: Broker,
): Promise<Facility> {
  const facility = await Facility.standard({ trainRate, log, ...(broker && { broker }) });
  for (const part of parts) {
    log.debug("starting", { part: part.name });
    await part.add(facility);
  }
  return facility;
}
