// Shared by the bridge tests: compare decoded trains with karabo-bridge-py's summaries (index.json
// "expected" and our Python client's output), and build small trains.
import assert from "node:assert/strict";
import { type NDArray, isNDArray, ndarray } from "../../src/core/index.ts";
import type { BridgeTrain, BridgeValue } from "../../src/bridge/index.ts";

/** A value as karabo-bridge-py's summary writes it: arrays summarised, other values as JSON. */
export type ExpectedValue =
  | { ndarray: true; dtype: string; shape: number[]; sum: number }
  | { value: unknown };

/** One message: source → { data: key → summary, meta }. */
export type ExpectedMessage = Record<
  string,
  { data: Record<string, ExpectedValue>; meta: Record<string, unknown> }
>;

/** Sum of an array's elements as float64. */
export function arraySum(a: NDArray): number {
  let s = 0;
  const d = a.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) for (const x of d) s += Number(x);
  else for (let i = 0; i < d.length; i++) s += d[i] as number;
  return s;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Asserts that a decoded value matches Python's JSON summary of the same value. */
export function assertValue(
  actual: BridgeValue | NDArray | undefined,
  expected: unknown,
  where: string,
): void {
  if (actual instanceof Uint8Array) {
    // The summary writes bytes as hex.
    assert.equal(hex(actual), expected, where);
  } else if (typeof actual === "number" || typeof actual === "bigint") {
    // numpy scalars are written as their str() ("0.0"); Python ints and floats as JSON numbers.
    const want = typeof expected === "string" ? Number(expected) : expected;
    assert.equal(typeof want, "number", `${where}: expected ${JSON.stringify(expected)}, got ${actual}`);
    assert.ok(
      Number(actual) === want ||
        Math.abs(Number(actual) - (want as number)) <= 1e-9 * Math.abs(want as number),
      `${where}: ${actual} ≠ ${expected}`,
    );
  } else if (Array.isArray(actual)) {
    assert.ok(Array.isArray(expected), `${where}: expected ${JSON.stringify(expected)}, got a list`);
    assert.equal(actual.length, (expected as unknown[]).length, `${where}: list length`);
    for (let i = 0; i < actual.length; i++)
      assertValue(actual[i], (expected as unknown[])[i], `${where}[${i}]`);
  } else if (typeof actual === "object" && actual !== null && !isNDArray(actual)) {
    assert.equal(typeof expected, "object", `${where}: expected ${JSON.stringify(expected)}`);
    const exp = expected as Record<string, unknown>;
    const rec = actual as Record<string, BridgeValue>;
    assert.deepEqual(Object.keys(rec).sort(), Object.keys(exp).sort(), `${where}: keys`);
    for (const k of Object.keys(exp)) assertValue(rec[k], exp[k], `${where}.${k}`);
  } else {
    assert.deepEqual(actual, expected, where);
  }
}

/** Asserts a decoded train equals one message of an index.json "expected" list. */
export function assertTrainMatches(train: BridgeTrain, expected: ExpectedMessage, what: string): void {
  assert.deepEqual(Object.keys(train.data).sort(), Object.keys(expected).sort(), `${what}: sources`);
  for (const [source, exp] of Object.entries(expected)) {
    const data = train.data[source] ?? {};
    assert.deepEqual(Object.keys(data).sort(), Object.keys(exp.data).sort(), `${what} ${source}: keys`);
    for (const [key, e] of Object.entries(exp.data)) {
      const v = data[key];
      const where = `${what} ${source} ${key}`;
      if ("ndarray" in e) {
        assert.ok(isNDArray(v), `${where}: expected an array`);
        assert.equal(v.dtype, e.dtype, `${where}: dtype`);
        assert.deepEqual([...v.shape], e.shape, `${where}: shape`);
        assert.equal(arraySum(v), e.sum, `${where}: sum`);
      } else assertValue(v, e.value, where);
    }
    assertValue(train.metadata[source] as unknown as BridgeValue, exp.meta, `${what} ${source} metadata`);
  }
}

/** A small train with control values and arrays of several dtypes, deterministic from `tid`. */
export function sampleTrain(tid: number): BridgeTrain {
  const image = new Uint16Array(4 * 8 * 16);
  for (let i = 0; i < image.length; i++) image[i] = (i * 7 + tid) % 65536;
  const pulses = new BigUint64Array(4);
  for (let i = 0; i < 4; i++) pulses[i] = BigInt(i * 2);
  return {
    data: {
      "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf": {
        "image.data": ndarray(image, [4, 8, 16]),
        "image.pulseId": ndarray(pulses, [4]),
        "image.cellId": ndarray(new Uint16Array([0, 1, 2, 3]), [4, 1]),
      },
      "SA1_XTD2_XGM/DOOCS/MAIN": {
        "pulseEnergy.photonFlux.value": 1.5 + tid,
        "pulseEnergy.nummberOfBunches.value": 4,
        "state.value": "ON",
        "bytes.value": new Uint8Array([0x4f, 0x46, 0x46]),
        "list.value": [1, 2.5, "three"],
        "flag.value": true,
        "negative.value": -70000,
        "trainId.value": tid,
        "big.value": 2n ** 60n + 1n,
        "spectrum.value": ndarray(new Float64Array([0.25, -1, tid]), [3]),
      },
    },
    metadata: {
      "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf": { source: "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf", "timestamp.tid": tid },
      "SA1_XTD2_XGM/DOOCS/MAIN": {
        source: "SA1_XTD2_XGM/DOOCS/MAIN",
        timestamp: 1795641386.5,
        "timestamp.sec": "1795641386",
        "timestamp.frac": "500000000000000000",
        "timestamp.tid": tid,
      },
    },
  };
}

/** Races a promise against a deadline, so a broken socket fails the test instead of hanging it. */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
