// Online correction in the embedded facility (`sase start`): one correction device per detector module
// found running, named as the facility names them (SPB_DET_AGIPD1M-1/CORR/{m}CH0, output `output`),
// each following the detector's control device for its conditions and reading the constants store.
// An assembler device then matches the corrected modules by train and assembles them with the
// detector's geometry; the GUI's detector view shows its image (and the raw modules on request).
import { createLogger } from "../core/index.ts";
import {
  AGIPD_1M_DETECTOR,
  corrSourceName,
  type DetectorDescription,
  GeometryError,
  geometryForDetector,
  rawSourceName,
} from "../detector/index.ts";
import type { Facility } from "../devices/index.ts";
import { channelRegistry } from "../pipeline/index.ts";
import { AssemblerDevice } from "./assembler.ts";
import { CorrectionDevice } from "./device.ts";

/** Device id of the facility's assembler of corrected modules, e.g. SPB_DET_AGIPD1M-1/CAL/ASSEMBLER. */
export function assemblerId(det: DetectorDescription = AGIPD_1M_DETECTOR): string {
  return `${det.karaboId}/CAL/ASSEMBLER`;
}

/** Where the facility's correction finds its constants. */
export interface OnlineCorrectionOptions {
  /** Constants store directory (created if missing). */
  readonly storeRoot: string;
  readonly detector?: DetectorDescription;
  /** Correct in the shared correction threads (default true; false corrects on the event loop). */
  readonly threaded?: boolean;
}

/**
 * Adds a correction device for every module output of the detector running in this process, and an
 * assembler of their outputs; returns the ids added (corrections, then the assembler).
 */
export async function addOnlineCorrection(
  facility: Facility,
  options: OnlineCorrectionOptions,
): Promise<string[]> {
  const det = options.detector ?? AGIPD_1M_DETECTOR;
  const log = createLogger("correction");
  const devices = (await facility.client.topology()).devices;
  const control = devices.has(det.controlSource) ? det.controlSource : "";
  const added: string[] = [];
  let fullModules = true;
  for (let m = 0; m < det.nModules; m++) {
    const raw = rawSourceName(det, m);
    if (!channelRegistry.local(raw)) continue;
    const rawDevice = raw.split(":")[0]!;
    // The correction must describe the module as the detector device simulates it (rows).
    const rows = devices.has(rawDevice) ? Number(await facility.client.get(rawDevice, "rows")) : 0;
    if (rows > 0 && rows !== det.moduleShape[0]) fullModules = false;
    const id = corrSourceName(det, m).split(":")[0]!;
    await facility.addDevice(CorrectionDevice, id, {
      detector: det.name,
      module: m,
      rows,
      control,
      constantsStore: options.storeRoot,
      threaded: options.threaded ?? true,
      // A correction that falls behind drops trains rather than holding up the detector, and holds at
      // most one train waiting (a second one would only be older by the time it is corrected).
      input: { connectedOutputChannels: [raw], onSlowness: "drop", prefetch: 1 },
    });
    added.push(id);
  }
  // Assembled with the detector's geometry, which places whole modules only.
  if (added.length > 0 && fullModules && hasGeometry(det)) {
    const id = assemblerId(det);
    await facility.addDevice(AssemblerDevice, id, {
      detector: det.name,
      input: {
        connectedOutputChannels: added.map((corr) => `${corr}:output`),
        onSlowness: "drop",
      },
    });
    added.push(id);
  }
  log.info("online correction ready", { devices: added.length, store: options.storeRoot, control });
  return added;
}

function hasGeometry(det: DetectorDescription): boolean {
  try {
    geometryForDetector(det);
    return true;
  } catch (e) {
    if (e instanceof GeometryError) return false;
    throw e;
  }
}
