// Shared by the files tests: temp dirs, the fixtures folder, a small AGIPD-like run written by sase,
// and a tolerant comparison of manifests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { ndarray } from "../../src/core/index.ts";
import { createRunWriter, type RunWriterOptions } from "../../src/files/index.ts";

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const repoRoot = resolve(here, "..", "..");
/** The reference runs (read-only), ../shared/fixtures/exdf relative to the repository. */
export const fixturesDir = resolve(repoRoot, "..", "shared", "fixtures", "exdf");
/** The reference runs by name. */
export const FIXTURE_RUNS = [
  "spb_r0238_v1.2",
  "spb_r0238_v0.5",
  "fxe_r0450_v1.0",
  "scs_r0163",
  "jf_r0012",
] as const;

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = "sase-files-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Points the run index cache (`XDG_CACHE_HOME`) at a temp dir for the enclosing `describe`, and puts
 * the old value back after it: reading the read-only fixtures must leave its index there, not in them.
 */
export function useTempCache(): { dir: string } {
  const cache = tempDir("sase-cache-");
  const saved = process.env.XDG_CACHE_HOME;
  before(() => {
    process.env.XDG_CACHE_HOME = cache.dir;
  });
  after(() => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    cache.cleanup();
  });
  return cache;
}

export const XGM = "SPB_XTD9_XGM/DOOCS/MAIN";
export const XGM_OUT = "SPB_XTD9_XGM/DOOCS/MAIN:output";
export const AGIPD = "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf";
export const CELLS = 64;
export const FRAME = [2, 512, 128] as const;

/** The pixel value written for (train, cell, i): deterministic, so readers can check every byte. */
export function pixel(trainId: number, cell: number, i: number): number {
  return (trainId * 7 + cell * 131 + i) & 0xffff;
}

/**
 * Writes a small run: XGM control + XGM output on DA01, one AGIPD module (64 cells of uint16
 * [2,512,128]) on AGIPD00. Trains 10000..10000+n-1; the AGIPD source skips train 10002 and the XGM
 * output records nothing in train 10001.
 */
export async function writeSampleRun(
  dir: string,
  n = 5,
  options: Partial<RunWriterOptions> = {},
): Promise<void> {
  const w = await createRunWriter(dir, {
    proposal: 700000,
    run: 238,
    trainsPerSequence: 2,
    sample: "lysozyme",
    runType: "test",
    ...options,
  });
  w.addControlSource(XGM, {
    aggregator: "DA01",
    properties: {
      "pulseEnergy.photonFlux": { dtype: "float32" },
      "pulseEnergy.wavelengthUsed": { dtype: "float64" },
      pollingInterval: { dtype: "int32" },
      "beamPosition.xy": { dtype: "float32", entryShape: [2] },
    },
    runValues: { "pulseEnergy.wavelengthUsed": 0.1332, pollingInterval: 100 },
  });
  w.addInstrumentSource(XGM_OUT, {
    aggregator: "DA01",
    keys: {
      "data.intensityTD": { dtype: "float32", entryShape: [100] },
      "data.trainId": { dtype: "uint64" },
    },
  });
  w.addInstrumentSource(AGIPD, {
    aggregator: "AGIPD00",
    keys: {
      "image.data": { dtype: "uint16", entryShape: [...FRAME] },
      "image.cellId": { dtype: "uint16", entryShape: [1] },
      "image.pulseId": { dtype: "uint64", entryShape: [1] },
      "image.trainId": { dtype: "uint64", entryShape: [1] },
      "header.pulseCount": { dtype: "uint64" },
    },
  });
  const frame = FRAME[0] * FRAME[1] * FRAME[2];
  for (let t = 0; t < n; t++) {
    const tid = 10000 + t;
    const data: Record<string, Record<string, import("../../src/files/index.ts").KeyValue>> = {
      [XGM]: {
        "pulseEnergy.photonFlux": 1000 + t * 0.5,
        "pulseEnergy.wavelengthUsed": 0.1332,
        pollingInterval: 100 + t,
        "beamPosition.xy": new Float32Array([t, -t]),
      },
    };
    if (t !== 1) {
      data[XGM_OUT] = {
        "data.intensityTD": Float32Array.from({ length: 100 }, (_, i) => t + i / 100),
        "data.trainId": BigInt(tid),
      };
    }
    if (t !== 2) {
      const img = new Uint16Array(CELLS * frame);
      for (let c = 0; c < CELLS; c++) for (let i = 0; i < frame; i++) img[c * frame + i] = pixel(tid, c, i);
      data[AGIPD] = {
        "image.data": ndarray(img, [CELLS, ...FRAME]),
        "image.cellId": Uint16Array.from({ length: CELLS }, (_, c) => c),
        "image.pulseId": BigUint64Array.from({ length: CELLS }, (_, c) => BigInt(c * 4)),
        "image.trainId": new BigUint64Array(CELLS).fill(BigInt(tid)),
        "header.pulseCount": CELLS,
      };
    }
    w.writeTrain(tid, data);
  }
  await w.close();
}

/** Differences between two JSON values; numbers equal within a relative tolerance. */
export function jsonDiffs(a: unknown, b: unknown, path = "", tol = 1e-6, out: string[] = []): string[] {
  if (typeof a === "number" && typeof b === "number") {
    if (Math.abs(a - b) > tol * Math.max(1, Math.abs(b))) out.push(`${path}: ${a} != ${b}`);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path}: length ${a.length} != ${b.length}`);
    else for (let i = 0; i < a.length; i++) jsonDiffs(a[i], b[i], `${path}[${i}]`, tol, out);
  } else if (
    a &&
    b &&
    typeof a === "object" &&
    typeof b === "object" &&
    !Array.isArray(a) &&
    !Array.isArray(b)
  ) {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    for (const k of ka) if (!kb.includes(k)) out.push(`${path}.${k}: only in ours`);
    for (const k of kb) if (!ka.includes(k)) out.push(`${path}.${k}: only in reference`);
    for (const k of ka) {
      if (kb.includes(k))
        jsonDiffs(
          (a as Record<string, unknown>)[k],
          (b as Record<string, unknown>)[k],
          `${path}.${k}`,
          tol,
          out,
        );
    }
  } else if (a !== b) {
    out.push(`${path}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
  }
  return out;
}
