// A simulated AGIPD module stream, shaped as karabo-bridge-py's simulator sends raw module data
// (source SPB_DET_AGIPD1M-1/DET/<m>CH0:xtdf, image.data uint16 in the online axis order
// (fs, ss, pulses) or the file order (pulses, ss, fs), cell and pulse IDs, timestamps).
import { ndarray, timestampNow, SaseError, showValue } from "../core/index.ts";
import type { BridgeTrain, SourceData } from "./types.ts";

/** Options of the simulated stream. */
export interface AgipdSimOptions {
  /** Modules (sources), default 1. */
  modules?: number;
  /** Memory cells (pulses) per train, default 64. */
  cells?: number;
  /** Axis order of image.data: "online" (128, 512, cells) or "file" (cells, 512, 128). Default "online". */
  dataLike?: "online" | "file";
  /** Pixel values: "random" (1500..1600, like the Python simulator) or "zeros". Default "random". */
  gen?: "random" | "zeros";
  /** First train ID (default 10000000000, as karabo-bridge-py). */
  firstTrainId?: number;
}

const POOL = 4;

// Random frames are made once and cycled: drawing 4 M random numbers per train would cap the rate.
function pixelPool(size: number, gen: "random" | "zeros"): Uint16Array[] {
  if (gen === "zeros") return [new Uint16Array(size)];
  const pool: Uint16Array[] = [];
  let x = 0x9e3779b9;
  for (let p = 0; p < POOL; p++) {
    const a = new Uint16Array(size);
    for (let i = 0; i < size; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      a[i] = 1500 + ((x >>> 0) % 100);
    }
    pool.push(a);
  }
  return pool;
}

/** An endless stream of simulated AGIPD raw module trains. */
export function* simulatedAgipdTrains(options: AgipdSimOptions = {}): Generator<BridgeTrain> {
  const modules = options.modules ?? 1;
  const cells = options.cells ?? 64;
  if (!Number.isInteger(modules) || modules < 1 || modules > 16)
    throw new SaseError("BAD_OPTION", `modules must be 1..16, got ${modules}`, { value: showValue(modules) });
  if (!Number.isInteger(cells) || cells < 1 || cells > 352)
    throw new SaseError("BAD_OPTION", `cells must be 1..352, got ${cells}`, { value: showValue(cells) });
  const shape = options.dataLike === "file" ? [cells, 512, 128] : [128, 512, cells];
  const pool = pixelPool(128 * 512 * cells, options.gen ?? "random");
  const gain = new Uint16Array(128 * 512 * cells);
  const cellId = new Uint16Array(cells).map((_, i) => i);
  const pulseId = new BigUint64Array(cells).map((_, i) => BigInt(i));
  for (let tid = options.firstTrainId ?? 10_000_000_000; ; tid++) {
    const ts = timestampNow(tid);
    const frac = ts.frac.toString().padStart(18, "0");
    const train: BridgeTrain = { data: {}, metadata: {} };
    for (let m = 0; m < modules; m++) {
      const source = `SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`;
      const data: SourceData = {
        "image.data": ndarray(pool[(tid + m) % pool.length] as Uint16Array, shape),
        "image.cellId": ndarray(cellId, [cells]),
        "image.gain": ndarray(gain, shape),
        "image.pulseId": ndarray(pulseId, [cells]),
        "image.trainId": ndarray(new BigUint64Array(cells).fill(BigInt(tid)), [cells]),
      };
      train.data[source] = data;
      train.metadata[source] = {
        source,
        timestamp: Number(`${ts.sec}.${frac}`),
        "timestamp.tid": tid,
        "timestamp.sec": String(ts.sec),
        "timestamp.frac": frac,
      };
    }
    yield train;
  }
}
