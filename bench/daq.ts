// DAQ recording throughput: 16 AGIPD modules × 64 cells (16.8 MB per module-train, 268 MB per train)
// through the DAQ's own path — train matching, then the run recorder writing EXDF (an aggregator per
// module, per-train flush) — paced at the facility's 10 Hz and as fast as it goes. Baselines in the
// same run: the same bytes written sequentially to one plain file (fs.writeSync), and to a file per
// module, the modules' files at once on libuv's thread pool (as the recorder writes them).
// Env: DAQ_BENCH_MODULES=16 DAQ_BENCH_CELLS=64 DAQ_BENCH_TRAINS=12 (as fast as it goes)
//      DAQ_BENCH_PACED_TRAINS=20 (at 10 Hz) DAQ_BENCH_DIR=<tmp>
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hash, ndarray } from "../src/core/index.ts";
import { RunRecorder } from "../src/daq/index.ts";
import { TrainMatcher } from "../src/pipeline/index.ts";
import { backMemory } from "./lib/memory.ts";
import { pwriteAll } from "./lib/pwrite.ts";
import { median } from "./lib/stats.ts";

const MODULES = Number(process.env.DAQ_BENCH_MODULES ?? 16);
const CELLS = Number(process.env.DAQ_BENCH_CELLS ?? 64);
const TRAINS = Number(process.env.DAQ_BENCH_TRAINS ?? 12);
const PACED = Number(process.env.DAQ_BENCH_PACED_TRAINS ?? 20);
const root = mkdtempSync(join(process.env.DAQ_BENCH_DIR ?? tmpdir(), "sase-daq-bench-"));
const source = (m: number) => `SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`;

// One token per module, built once: the bench measures recording, not simulation.
const tokens = Array.from({ length: MODULES }, (_, m) => {
  const data = new Uint16Array(CELLS * 2 * 512 * 128);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + m) & 0x3fff;
  const h = new Hash();
  h.set("image.data", ndarray(data, [CELLS, 2, 512, 128]));
  h.set(
    "image.cellId",
    Uint16Array.from({ length: CELLS }, (_, i) => i),
  );
  h.set(
    "image.pulseId",
    BigUint64Array.from({ length: CELLS }, (_, i) => BigInt(i)),
  );
  return h;
});
const trainBytes = tokens.reduce(
  (n, t) => n + (t.get("image.data") as { data: Uint16Array }).data.byteLength,
  0,
);
const mb = (bytes: number) => bytes / 1e6;

interface Result {
  trains: number;
  seconds: number;
  lagMs: number[];
}

/** Feeds `n` trains (every `periodMs`, 0 = at once) through matcher + recorder. */
async function record(name: string, n: number, periodMs: number, trainsPerSequence = 256): Promise<Result> {
  const dir = join(root, name);
  mkdirSync(dir);
  const rec = new RunRecorder({
    dir,
    proposal: 900000,
    run: 1,
    trainsPerSequence,
    control: [],
    instrument: tokens.map((_, m) => ({ name: source(m), aggregator: `AGIPD${String(m).padStart(2, "0")}` })),
    learnTrains: 1,
  });
  const matcher = new TrainMatcher<Hash>(
    tokens.map((_, m) => source(m)),
    { timeoutMs: 10_000 },
  );
  const sentAt = new Map<number, number>();
  const lagMs: number[] = [];
  const t0 = performance.now();
  const producer = (async () => {
    for (let i = 0; i < n; i++) {
      const id = 10_000 + i;
      if (periodMs > 0) {
        const due = t0 + i * periodMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      } else {
        await new Promise((r) => setImmediate(r));
      }
      sentAt.set(id, performance.now());
      for (let m = 0; m < MODULES; m++) matcher.push(source(m), id, tokens[m]!);
    }
    matcher.end();
  })();
  for await (const t of matcher) {
    await rec.add({ trainId: t.trainId, control: new Map(), instrument: t.data });
    lagMs.push(performance.now() - sentAt.get(t.trainId)!);
  }
  await producer;
  await rec.close();
  // Paced: n trains occupy n periods (the last one's period ends when it is written).
  const seconds = (performance.now() - t0 + periodMs) / 1e3;
  rmSync(dir, { recursive: true, force: true });
  return { trains: n, seconds, lagMs };
}

/** The same bytes, train after train, appended to one plain file. */
function rawWrite(n: number): Result {
  const file = join(root, "raw.bin");
  const fd = openSync(file, "w");
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    for (const t of tokens) writeSync(fd, (t.get("image.data") as { data: Uint16Array }).data);
  }
  closeSync(fd);
  const seconds = (performance.now() - t0) / 1e3;
  rmSync(file, { force: true });
  return { trains: n, seconds, lagMs: [] };
}

/** The same bytes, a file per module, every module's file written at once on the thread pool. */
async function rawWriteParallel(n: number): Promise<Result> {
  const dir = join(root, "raw-parallel");
  mkdirSync(dir);
  const t0 = performance.now();
  await Promise.all(
    tokens.map(async (t, m) => {
      const data = (t.get("image.data") as { data: Uint16Array }).data;
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const fd = openSync(join(dir, `m${m}.bin`), "w");
      for (let i = 0; i < n; i++) await pwriteAll(fd, bytes, i * bytes.length);
      closeSync(fd);
    }),
  );
  const seconds = (performance.now() - t0) / 1e3;
  rmSync(dir, { recursive: true, force: true });
  return { trains: n, seconds, lagMs: [] };
}

function line(label: string, r: Result): string {
  const rate = mb(trainBytes * r.trains) / r.seconds;
  const lag = r.lagMs.length
    ? `  lag mean ${(r.lagMs.reduce((a, b) => a + b, 0) / r.lagMs.length).toFixed(0)} ms, max ${Math.max(...r.lagMs).toFixed(0)} ms`
    : "";
  return `${label.padEnd(38)} ${rate.toFixed(0).padStart(6)} MB/s  ${(r.trains / r.seconds).toFixed(2).padStart(6)} trains/s${lag}`;
}

try {
  console.log(
    `${MODULES} modules × ${CELLS} cells: ${mb(trainBytes).toFixed(1)} MB per train (10 Hz needs ${(mb(trainBytes) * 10).toFixed(0)} MB/s); files in ${root}`,
  );
  await record("warmup", 2, 0); // loads HDF5 (WebAssembly) and JIT-compiles the path
  // A run start: its first train waits for every module's first file. A layout this process has
  // not written yet (another sequence length) makes them through HDF5; the runs after start them from
  // the warm-up run's skeletons, as a DAQ's runs after its first do.
  // Each write gets as much memory the VM's host backs again as it writes, and some (lib/memory.ts).
  const backFor = (trains: number) => backMemory(trainBytes * trains + 0.5e9);
  // Alternated three times: a run of 2 trains with a layout not written yet (another sequence
  // length each time), and one with the warm-up run's.
  const starts = { hdf5: [] as number[], skeleton: [] as number[] };
  for (let i = 0; i < 3; i++) {
    backFor(2);
    starts.hdf5.push((await record(`new-layout-${i}`, 2, 0, 250 + i)).lagMs[0] ?? Number.NaN);
    backFor(2);
    starts.skeleton.push((await record(`same-layout-${i}`, 2, 0)).lagMs[0] ?? Number.NaN);
  }
  backFor(TRAINS);
  const baseline = rawWrite(TRAINS);
  backFor(TRAINS);
  const parallel = await rawWriteParallel(TRAINS);
  backFor(TRAINS);
  const fast = await record("fast", TRAINS, 0);
  backFor(PACED);
  const paced = await record("paced", PACED, 100);
  backFor(TRAINS);
  const baseline2 = rawWrite(TRAINS);
  backFor(TRAINS);
  const parallel2 = await rawWriteParallel(TRAINS);
  console.log(line(`baseline: raw sequential write`, baseline));
  console.log(line(`baseline: raw, modules' files at once`, parallel));
  console.log(line(`DAQ record, as fast as it goes`, fast));
  console.log(line(`DAQ record, offered at 10 Hz`, paced));
  console.log(line(`baseline again (after)`, baseline2));
  console.log(line(`modules' files at once, again`, parallel2));
  console.log(
    `run start, first train written after it arrived (3 runs each, alternated): ${starts.hdf5.map((x) => x.toFixed(0)).join(", ")} ms with every module's first file made through HDF5, ` +
      `${starts.skeleton.map((x) => x.toFixed(0)).join(", ")} ms from an earlier run's skeletons; later trains of the paced run ${median(paced.lagMs.slice(1)).toFixed(0)} ms (median)`,
  );
  // Keeping up = the backlog does not grow: the last train is written within a few periods of arriving.
  const lastLag = paced.lagMs[paced.lagMs.length - 1] ?? Number.POSITIVE_INFINITY;
  const keeps = lastLag < 500;
  // The page cache makes plain writes vary run to run: compare with the better of the two baselines.
  const rate = (r: Result) => mb(trainBytes * r.trains) / r.seconds;
  const best = Math.max(rate(baseline), rate(baseline2), rate(parallel), rate(parallel2));
  console.log(
    `at 10 Hz: ${keeps ? "keeps up" : "falls behind"} (last train written ${lastLag.toFixed(0)} ms after it arrived); ` +
      `DAQ as fast as it goes / best raw write: ${((rate(fast) / best) * 100).toFixed(0)}%`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
