// The GUI of an embedded facility (what `sase start` serves): the device backend over the facility's
// broker, and the best live image the facility offers — the assembled detector (corrected modules if
// a correction pipeline runs, raw otherwise), else a single-image output such as the pipeline demo.
import { geometryForDetector } from "../detector/index.ts";
import { join } from "node:path";
import { GraphStore } from "../analysis/index.ts";
import { createLogger, type Logger } from "../core/index.ts";
import {
  AGIPD_1M_DETECTOR,
  corrSourceName,
  type DetectorDescription,
  rawSourceName,
  XGM_OUTPUT,
} from "../detector/index.ts";
import { DAQ_DEVICE_ID, resolveDataRoots } from "../daq/index.ts";
import type { Facility } from "../devices/index.ts";
import { channelRegistry, PIPELINE_DEMO_IDS } from "../pipeline/index.ts";
import type { UserRecord } from "./server/auth.ts";
import type { ImageFeed, RunsBackend } from "./server/backend.ts";
import { CoreBackend } from "./server/core-backend.ts";
import { DaqRunsBackend } from "./server/daq-runs.ts";
import { RunTableBackend } from "./server/run-table.ts";
import { assemblerId } from "../calibration/index.ts";
import {
  AssembledImageFeed,
  ChannelImageFeed,
  DetectorImageFeed,
  SelectableImageFeed,
} from "./server/detector-feed.ts";
import { type GuiServer, startGuiServer } from "./server/server.ts";

/** Key of the XGM's per-pulse energies in its output's tokens. */
export const XGM_ENERGY_KEY = "data.intensityTD";

/** Options of a facility's GUI. */
export interface FacilityGuiOptions {
  port?: number;
  host?: string;
  users?: UserRecord[];
  auditFile?: string;
  /** Override the image source (default: found in the facility). */
  image?: ImageFeed | null;
  runs?: RunsBackend;
  /** The run table (default: over the DAQ's catalogue, when the facility has a DAQ). */
  table?: RunTableBackend;
  /** Folder of the analysis graphs (default SASE_ANALYSIS_DIR, else <data dir>/analysis). */
  analysisDir?: string;
  /** Proposal whose analysis graph runs (default: the DAQ's proposal, else SASE_PROPOSAL or 900001). */
  proposal?: number;
  log?: Logger;
}

/** A facility's running GUI. */
export interface FacilityGui {
  readonly server: GuiServer;
  readonly url: string;
  /** What the live image shows, or null. */
  readonly imageSource: string | null;
  close(): Promise<void>;
}

/**
 * The detector image for `det` if module outputs of it run in this process: corrected and raw modules
 * as two views to switch between (corrected shown first) when both run, else the one that runs.
 * Modules without an output are shown blank.
 */
export function findDetectorFeed(
  det: DetectorDescription = AGIPD_1M_DETECTOR,
): DetectorImageFeed | AssembledImageFeed | SelectableImageFeed | null {
  const feeds = detectorFeeds(det);
  if (feeds.size === 0) return null;
  if (feeds.size === 1) return [...feeds.values()][0]!;
  return new SelectableImageFeed(feeds, "corrected");
}

/**
 * One image feed per kind of module output of `det` running in this process (corrected, raw). The
 * corrected view shows the facility's assembler when one runs (modules → correction → assembler →
 * GUI), else assembles the corrected modules itself.
 */
export function detectorFeeds(
  det: DetectorDescription = AGIPD_1M_DETECTOR,
): Map<string, DetectorImageFeed | AssembledImageFeed> {
  const found = new Map<string, DetectorImageFeed | AssembledImageFeed>();
  const modules = Array.from({ length: det.nModules }, (_, m) => m);
  for (const [kind, name] of [
    ["corrected", corrSourceName],
    ["raw", rawSourceName],
  ] as const) {
    const outputs = modules.map((m) => (channelRegistry.local(name(det, m)) ? name(det, m) : null));
    const present = outputs.filter((o) => o !== null).length;
    if (present === 0) continue;
    const xgm = channelRegistry.local(XGM_OUTPUT) ? { output: XGM_OUTPUT, key: XGM_ENERGY_KEY } : undefined;
    const assembler = `${assemblerId(det)}:output`;
    if (kind === "corrected" && channelRegistry.local(assembler)) {
      found.set(
        kind,
        new AssembledImageFeed({
          label: `${det.karaboId} (corrected, ${present === det.nModules ? "" : `${present} of ${det.nModules} modules, `}assembled by ${assemblerId(det)})`,
          output: assembler,
          geometry: geometryForDetector(det),
          modules: present,
          inputDeviceId: "SASE_GUI/PREVIEW/CORRECTED",
          ...(xgm ? { xgm } : {}),
        }),
      );
      continue;
    }
    found.set(
      kind,
      new DetectorImageFeed({
        label: `${det.karaboId} (${kind}, ${present === det.nModules ? "assembled" : `${present} of ${det.nModules} modules`})`,
        geometry: geometryForDetector(det),
        moduleOutputs: outputs,
        dataKey: "image.data",
        // Each view has its own inputs: switching closes one set while the other connects.
        inputDeviceId: `SASE_GUI/PREVIEW/${kind.toUpperCase()}`,
        ...(xgm ? { xgm } : {}),
      }),
    );
  }
  return found;
}

/** Starts the GUI server for a running facility. */
export async function startFacilityGui(
  facility: Pick<Facility, "client">,
  options: FacilityGuiOptions = {},
): Promise<FacilityGui> {
  const log = options.log ?? createLogger("gui");
  const backend = await CoreBackend.connect(facility.client);
  let image: ImageFeed | null | undefined = options.image;
  if (image === undefined) {
    image = findDetectorFeed();
    const demo = `${PIPELINE_DEMO_IDS.producer}:output`;
    if (!image && channelRegistry.local(demo)) {
      image = new ChannelImageFeed({ label: `${PIPELINE_DEMO_IDS.producer} (pipeline demo)`, output: demo });
    }
  }
  let runs: RunsBackend | undefined = options.runs;
  let ownRuns: DaqRunsBackend | null = null;
  if (!runs && (await facility.client.topology()).devices.has(DAQ_DEVICE_ID)) {
    const path = String(await facility.client.get(DAQ_DEVICE_ID, "cataloguePath"));
    ownRuns = new DaqRunsBackend(facility.client, DAQ_DEVICE_ID, path || resolveDataRoots().catalogue);
    runs = ownRuns;
  }
  let table = options.table;
  let ownTable: RunTableBackend | null = null;
  if (!table && ownRuns) {
    const path = String(await facility.client.get(DAQ_DEVICE_ID, "cataloguePath"));
    ownTable = new RunTableBackend(path || resolveDataRoots().catalogue);
    table = ownTable;
  }
  let proposal = options.proposal ?? Number(process.env.SASE_PROPOSAL ?? 900001);
  if (options.proposal === undefined && (await facility.client.topology()).devices.has(DAQ_DEVICE_ID)) {
    proposal = Number(await facility.client.get(DAQ_DEVICE_ID, "proposal"));
  }
  const analysisDir =
    options.analysisDir ?? process.env.SASE_ANALYSIS_DIR ?? join(resolveDataRoots().dataDir, "analysis");
  let server: GuiServer;
  try {
    server = await startGuiServer({
      backend,
      ...(image ? { image } : {}),
      ...(runs ? { runs } : {}),
      ...(table ? { table } : {}),
      analysis: { store: new GraphStore(analysisDir), proposal },
      ...(options.users ? { users: options.users } : {}),
      ...(options.auditFile ? { auditFile: options.auditFile } : {}),
      port: options.port ?? 8080,
      host: options.host ?? "127.0.0.1",
      log,
    });
  } catch (e) {
    ownRuns?.close();
    ownTable?.close();
    backend.close();
    throw e;
  }
  return {
    server,
    url: server.url,
    imageSource: image?.source ?? null,
    async close() {
      await server.close();
      const closable = image as (ImageFeed & { close?: () => Promise<void> }) | null;
      await closable?.close?.();
      ownRuns?.close();
      ownTable?.close();
      backend.close();
    },
  };
}
