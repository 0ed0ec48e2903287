// The DAQ in the embedded facility (`sase start`): a run-control device recording the motors, the
// XGM and the detector modules it finds. When no detector runs yet, a simulated AGIPD-1M is started
// for it to record: its control device (operating conditions) and its module devices, which follow the
// control device and simulate in worker threads, off the event loop.
import { createLogger } from "../core/index.ts";
import {
  AGIPD_1M_DETECTOR,
  DetectorControlDevice,
  DetectorModuleDevice,
  modulesNearestBeam,
  rawSourceName,
  reducedDetector,
  XGM_OUTPUT,
  XgmDevice,
} from "../detector/index.ts";
import { FACILITY_IDS, type Facility } from "../devices/index.ts";
import { channelRegistry } from "../pipeline/index.ts";
import { DaqController } from "./device.ts";

/** Device id of the facility's run control. */
export const DAQ_DEVICE_ID = "SASE_DAQ/RUN/CONTROL";

/** What the facility DAQ starts when the facility has no detector of its own. */
export interface FacilityDaqOptions {
  /** Modules of the stand-in detector (default $SASE_SIM_MODULES or all 16). */
  modules?: number;
  /** Memory cells per train to start with (default $SASE_SIM_CELLS or 4; set on the control device). */
  cells?: number;
  /** Pixel rows per module (default $SASE_SIM_ROWS or 0 = all 512). */
  rows?: number;
  /** Online store and catalogue (default: from SASE_DATA_DIR etc., see resolveDataRoots). */
  onlineRoot?: string;
  cataloguePath?: string;
}

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v >= 0 ? v : fallback;
}

/** Adds the DAQ (and, if needed, a small simulated detector) to a running facility. */
export async function addFacilityDaq(facility: Facility, options: FacilityDaqOptions = {}): Promise<void> {
  const log = createLogger("daq");
  const det = AGIPD_1M_DETECTOR;
  let modules = Array.from({ length: det.nModules }, (_, m) => rawSourceName(det, m)).filter((o) =>
    channelRegistry.local(o),
  );
  if (modules.length === 0) {
    const n = options.modules ?? envInt("SASE_SIM_MODULES", det.nModules);
    const cells = options.cells ?? envInt("SASE_SIM_CELLS", 4);
    if (!(await facility.client.topology()).devices.has(det.controlSource)) {
      await facility.addDevice(DetectorControlDevice, det.controlSource, {
        "bunchStructure.nPulses": cells,
      });
    }
    // The stand-in detector's XGM, measuring the same seeded pulses that light its modules.
    if (!channelRegistry.local(XGM_OUTPUT)) {
      await facility.addDevice(XgmDevice, XGM_OUTPUT.split(":")[0]!, { pulses: cells, rate: 10 });
    }
    const rows = options.rows ?? envInt("SASE_SIM_ROWS", 0);
    // The modules nearest the beam see the brightest rings: those are the ones worth simulating.
    const simulated = modulesNearestBeam(rows > 0 ? reducedDetector(det, { rows }) : det).slice(0, n);
    for (const m of simulated) {
      await facility.addDevice(DetectorModuleDevice, rawSourceName(det, m).split(":")[0]!, {
        module: m,
        cells,
        rows,
        rate: 10,
        control: det.controlSource,
      });
    }
    modules = simulated.map((m) => rawSourceName(det, m));
  }
  const devices = [...(await facility.client.topology()).devices.keys()];
  const motors = [FACILITY_IDS.motorX, FACILITY_IDS.motorY].filter((d) => devices.includes(d));
  const xgm = [
    ...devices.filter((d) => /XGM/.test(d)),
    ...channelRegistry.ids().filter((o) => /XGM/.test(o)),
  ];
  const control = devices.includes(det.controlSource) ? [det.controlSource] : [];
  const dataSources = [...motors, ...xgm, ...control, ...modules];
  await facility.addDevice(DaqController, DAQ_DEVICE_ID, {
    dataSources,
    detectorControl: control[0] ?? "",
    onlineRoot: options.onlineRoot ?? "",
    cataloguePath: options.cataloguePath ?? "",
  });
  log.info("run control ready", { device: DAQ_DEVICE_ID, dataSources });
}
