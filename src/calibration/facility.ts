// Online correction in the embedded facility (`sase start`): one correction device per detector module
// found running, named as the facility names them (SPB_DET_AGIPD1M-1/CORR/{m}CH0, output `output`),
// each following the detector's control device for its conditions and reading the constants store.
// The GUI's detector view then shows corrected modules (and raw ones on request).
import { createLogger } from "../core/index.ts";
import {
  AGIPD_1M_DETECTOR,
  corrSourceName,
  type DetectorDescription,
  rawSourceName,
} from "../detector/index.ts";
import type { Facility } from "../devices/index.ts";
import { channelRegistry } from "../pipeline/index.ts";
import { CorrectionDevice } from "./device.ts";

/** Where the facility's correction finds its constants. */
export interface OnlineCorrectionOptions {
  /** Constants store directory (created if missing). */
  readonly storeRoot: string;
  readonly detector?: DetectorDescription;
}

/** Adds a correction device for every module output of the detector running in this process. */
export async function addOnlineCorrection(
  facility: Facility,
  options: OnlineCorrectionOptions,
): Promise<string[]> {
  const det = options.detector ?? AGIPD_1M_DETECTOR;
  const log = createLogger("correction");
  const devices = (await facility.client.topology()).devices;
  const control = devices.has(det.controlSource) ? det.controlSource : "";
  const added: string[] = [];
  for (let m = 0; m < det.nModules; m++) {
    const raw = rawSourceName(det, m);
    if (!channelRegistry.local(raw)) continue;
    const rawDevice = raw.split(":")[0]!;
    // The correction must describe the module as the detector device simulates it (rows).
    const rows = devices.has(rawDevice) ? Number(await facility.client.get(rawDevice, "rows")) : 0;
    const id = corrSourceName(det, m).split(":")[0]!;
    await facility.addDevice(CorrectionDevice, id, {
      detector: det.name,
      module: m,
      rows,
      control,
      constantsStore: options.storeRoot,
      // A correction that falls behind drops trains rather than holding up the detector.
      input: { connectedOutputChannels: [raw], onSlowness: "drop" },
    });
    added.push(id);
  }
  log.info("online correction ready", { devices: added.length, store: options.storeRoot, control });
  return added;
}
