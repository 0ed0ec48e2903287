// The bridge's MessagePack codec (src/bridge/msgpack-reader.ts, msgpack-writer.ts) beside
// @msgpack/msgpack (a devDependency, for this comparison only) on the frames the bridge sends:
//   (a) a control source's data frame: 40 scalar keys (what 50 such sources cost per train);
//   (b) an array header frame: {source, content, path, dtype, shape};
//   (c) a source's metadata frame with timestamps.
// Each row: operations per second for encoding and decoding, interleaved, best of rounds.
// MSGPACK_BENCH_SECONDS=<s per measurement, default 0.5>  MSGPACK_BENCH_ROUNDS=<default 3>
import { decodeMsgpack, type EncodableValue, encodeMsgpack } from "../src/bridge/msgpack.ts";

const SECONDS = Number(process.env.MSGPACK_BENCH_SECONDS ?? 0.5);
const ROUNDS = Number(process.env.MSGPACK_BENCH_ROUNDS ?? 3);

/** Runs `fn` repeatedly for about SECONDS (after a warm-up) and returns operations per second. */
function opsPerSecond(fn: () => unknown): number {
  for (let i = 0; i < 100; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(SECONDS * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    elapsed = process.hrtime.bigint() - start;
  }
  return n / (Number(elapsed) / 1e9);
}

const frames: [string, Record<string, EncodableValue>][] = [
  [
    "(a) control data, 40 scalar keys",
    Object.fromEntries(
      Array.from({ length: 40 }, (_, k) => [`group${k % 5}.key${k}.value`, k % 2 ? k * 0.5 : k * 1000]),
    ),
  ],
  [
    "(b) array header",
    {
      source: "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf",
      content: "array",
      path: "image.data",
      dtype: "uint16",
      shape: [64, 2, 512, 128],
    },
  ],
  [
    "(c) metadata with timestamps",
    {
      source: "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf",
      content: "msgpack",
      metadata: {
        source: "SPB_DET_AGIPD1M-1/DET/0CH0:xtdf",
        timestamp: 1733480000.123456,
        "timestamp.sec": "1733480000",
        "timestamp.frac": "123456000000000000",
        "timestamp.tid": 1234567890,
      },
    },
  ],
];

interface Codec {
  encode(v: unknown): Uint8Array;
  decode(b: Uint8Array): unknown;
}

async function other(): Promise<Codec | string> {
  try {
    const name = "@msgpack/msgpack";
    const m = (await import(name)) as {
      Encoder: new () => { encode(v: unknown): Uint8Array };
      Decoder: new () => { decode(b: Uint8Array): unknown };
    };
    const enc = new m.Encoder();
    const dec = new m.Decoder();
    return { encode: (v) => enc.encode(v), decode: (b) => dec.decode(b) };
  } catch (err) {
    return `skipped: @msgpack/msgpack not installed (npm install in the checkout): ${(err as Error).message.split("\n")[0]}`;
  }
}

const ours: Codec = {
  encode: (v) => encodeMsgpack(v as EncodableValue),
  decode: (b) => decodeMsgpack(b),
};
const theirs = await other();
console.log(
  `MessagePack, frames of the Karabo bridge; ops/s, best of ${ROUNDS} interleaved rounds of ${SECONDS} s`,
);
for (const [title, value] of frames) {
  const bytes = ours.encode(value).slice();
  if (typeof theirs !== "string") {
    // Both must read what the other writes, or the comparison means nothing.
    const back = JSON.stringify(theirs.decode(bytes));
    if (back !== JSON.stringify(ours.decode(theirs.encode(value))))
      throw new Error(`${title}: codecs disagree`);
  }
  const best = { se: 0, sd: 0, te: 0, td: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    best.se = Math.max(
      best.se,
      opsPerSecond(() => ours.encode(value)),
    );
    best.sd = Math.max(
      best.sd,
      opsPerSecond(() => ours.decode(bytes)),
    );
    if (typeof theirs !== "string") {
      best.te = Math.max(
        best.te,
        opsPerSecond(() => theirs.encode(value)),
      );
      best.td = Math.max(
        best.td,
        opsPerSecond(() => theirs.decode(bytes)),
      );
    }
  }
  const k = (x: number) => `${(x / 1000).toFixed(0).padStart(6)} k`;
  console.log(`\n${title}, ${bytes.length} bytes`);
  if (typeof theirs === "string") {
    console.log(`  sase       encode ${k(best.se)}   decode ${k(best.sd)}`);
    console.log(`  @msgpack/msgpack ${theirs}`);
  } else {
    const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;
    console.log(`  sase                encode ${k(best.se)}   decode ${k(best.sd)}`);
    console.log(
      `  @msgpack/msgpack    encode ${k(best.te)}   decode ${k(best.td)}   sase = ${pct(best.se, best.te)} / ${pct(best.sd, best.td)} of this`,
    );
  }
}
console.log(`\npeak resident memory: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
