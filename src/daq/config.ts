// Where runs live: the online `raw` store the DAQ writes to, the offline store migration copies to,
// and the catalogue database. Flags win over environment variables, which win over defaults under
// one data directory.
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** The storage roots of one facility. */
export interface DataRoots {
  /** Top data directory; the defaults below sit under it. */
  readonly dataDir: string;
  /** Online store: `<online>/p<proposal>/raw/r<run>` is what the DAQ writes. */
  readonly online: string;
  /** Offline store: migrated raw data and calibrated `proc` data. */
  readonly offline: string;
  /** Path of the SQLite catalogue file. */
  readonly catalogue: string;
  /** Calibration constants store (SASE_CONSTANTS_STORE, default `<data-dir>/constants`). */
  readonly constants: string;
}

/** Roots given explicitly (e.g. from CLI flags); missing ones fall back to env, then defaults. */
export interface DataRootsOptions {
  dataDir?: string;
  online?: string;
  offline?: string;
  catalogue?: string;
}

/** Resolves the storage roots: options, then SASE_DATA_DIR / SASE_ONLINE_ROOT / SASE_OFFLINE_ROOT /
 * SASE_CATALOGUE, then `~/.sase/data/{online,offline,catalogue.sqlite}`. */
export function resolveDataRoots(
  opts: DataRootsOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): DataRoots {
  const dataDir = resolve(opts.dataDir ?? env.SASE_DATA_DIR ?? join(homedir(), ".sase", "data"));
  return {
    dataDir,
    online: resolve(opts.online ?? env.SASE_ONLINE_ROOT ?? join(dataDir, "online")),
    offline: resolve(opts.offline ?? env.SASE_OFFLINE_ROOT ?? join(dataDir, "offline")),
    catalogue: resolve(opts.catalogue ?? env.SASE_CATALOGUE ?? join(dataDir, "catalogue.sqlite")),
    constants: resolve(env.SASE_CONSTANTS_STORE ?? join(dataDir, "constants")),
  };
}

/** `p900123`: a proposal's folder name. */
export function proposalDirName(proposal: number): string {
  return `p${String(proposal).padStart(6, "0")}`;
}

/** `r0042`: a run's folder name. */
export function runDirName(run: number): string {
  return `r${String(run).padStart(4, "0")}`;
}

/** Raw run folder of a proposal's run under a store root (online or offline). */
export function rawRunDir(root: string, proposal: number, run: number): string {
  return join(root, proposalDirName(proposal), "raw", runDirName(run));
}

/** Calibrated (`proc`) run folder under the offline root. */
export function procRunDir(root: string, proposal: number, run: number): string {
  return join(root, proposalDirName(proposal), "proc", runDirName(run));
}
