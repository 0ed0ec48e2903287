// EXDF files benchmark.
//  1. image.data throughput: sase writes and reads a run of AGIPD-like modules (64 cells of uint16
//     [2,512,128] per train), beside h5py (Debian, HDF5 1.10 in C) doing the same and a plain fs
//     write/read of the same bytes. Size: SASE_BENCH_FILES_MB (default 1024). Writes: every run shown,
//     in rounds whose order rotates, each writer in a fresh process of its own (sase after an untimed
//     first write in it), right after memory the VM's host took back is backed again (lib/memory.ts);
//     sequence files of 8 trains for sase and h5py alike. Reads: page cache warm (one untimed read first);
//     into a reused buffer the ceiling is a plain readSync into memory already mapped; reads spread
//     over libuv's thread pool (ndarrayAsync) beside plain preads spread the same way; reads into fresh
//     memory each in a fresh process (sase's and plain, as h5py's), after one untimed read there.
//     Runs: SASE_BENCH_FILES_RUNS (default 3).
//  2. Opening a run of 16 modules × SASE_BENCH_FILES_SEQ sequences (default 25 → 400 files) and
//     listing its sources and keys: with the run index, without it, and h5py opening every file's INDEX
//     (SASE_BENCH_FILES_OPEN=0: left out).
import { execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  read,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ndarray } from "../src/core/index.ts";
import { rowExtents } from "../src/files/direct.ts";
import { createRunWriter, openRun } from "../src/files/index.ts";
import { RawH5File } from "../src/files/rawh5.ts";
import { threadCpu } from "./lib/cpu.ts";
import { childLines } from "./lib/child.ts";
import { backMemory } from "./lib/memory.ts";
import { pwriteAll } from "./lib/pwrite.ts";
import { median } from "./lib/stats.ts";

const MB = 1e6;
const FRAME = [2, 512, 128];
const CELLS = 64;
const trainBytes = CELLS * FRAME.reduce((a, b) => a * b, 1) * 2;
const totalMB = Number(process.env.SASE_BENCH_FILES_MB ?? 1024);
const sequences = Number(process.env.SASE_BENCH_FILES_SEQ ?? 25);
const MODULES = 4;
const RUNS = Number(process.env.SASE_BENCH_FILES_RUNS ?? 3);
const trainsPerModule = Math.max(1, Math.round((totalMB * 1024 * 1024) / trainBytes / MODULES));
// Small sequence files (a facility's hold hundreds of trains), so that what a writer pays per file
// weighs in; h5py's baseline rolls its files at the same train.
const TRAINS_PER_SEQUENCE = 8;
const chunkBytes = 16 << 20; // the writer's default for uncompressed data
const chunkRows = Math.max(1, Math.floor(chunkBytes / (trainBytes / CELLS)));
// h5py's ways of writing the same data, each timed in every round; sase's ratio is taken against the
// fastest. h5py's defaults (its datasets get fill time "alloc": every new chunk is filled, then
// written over), the writer's earlier 4 MiB chunks, fill time "never" as sase's writer sets it (HDF5
// then writes a chunk bigger than its cache straight from the array), and write_direct_chunk (whole
// chunks handed to the file with no HDF5 work on the data: the fastest h5py can write; only when a
// train is whole chunks).
const smallChunkRows = Math.max(1, Math.floor((4 << 20) / (trainBytes / CELLS)));
const H5PY_WRITES: { label: string; rows: number; mode: "default" | "never" | "direct" }[] = [
  { label: "h5py defaults", rows: chunkRows, mode: "default" },
  { label: "h5py defaults, 4 MiB chunks", rows: smallChunkRows, mode: "default" },
  { label: "h5py, fill time never", rows: chunkRows, mode: "never" },
  ...(CELLS % chunkRows === 0
    ? [{ label: "h5py write_direct_chunk", rows: chunkRows, mode: "direct" as const }]
    : []),
];
const py = join(import.meta.dirname, "files_h5py.py");

function python(...args: string[]): { seconds: number; n: number; user?: number; system?: number } {
  return JSON.parse(execFileSync("/usr/bin/python3", [py, ...args], { maxBuffer: 1 << 20 }).toString()) as {
    seconds: number;
    n: number;
    user?: number;
    system?: number;
  };
}

/** What a writer child (`files.ts write sase|plain DIR`) prints: its timed write, and its cold one. */
interface ChildWrite {
  seconds: number;
  cpu: Cpu;
  /** sase: the untimed first write of the process, seconds. */
  cold?: number;
  /** Peak resident memory of the child, bytes. */
  maxRss: number;
}

const self = new URL(import.meta.url).pathname;
const untranspiled = new URL("../scripts/untranspiled.mjs", import.meta.url).pathname;

/**
 * sase's and the plain writes run each in a fresh process, as h5py's do: in the bench's own process,
 * whose heap grew with every round, the plain write fell below h5py's (median 4,154 against 4,525 MB/s)
 * and sase's system time swung 0.20-0.67 s per GB while h5py's stayed at 0.20-0.26.
 */
function nodeWrite(kind: "sase" | "sase-async" | "plain" | "plain-async", dir: string): ChildWrite {
  return nodeChild<ChildWrite>(["write", kind, dir]);
}

/** This bench run as a child with `args` (and node's `flags`): the JSON line it prints last. */
function nodeChild<T>(args: string[], flags: string[] = []): T {
  const out = execFileSync(
    process.execPath,
    [...flags, "--import", "tsx", "--import", untranspiled, self, ...args],
    { maxBuffer: 1 << 20 },
  ).toString();
  return JSON.parse(out.trim().split("\n").pop() ?? "") as T;
}

/**
 * A read into fresh memory in a fresh process (`files.ts read sase|sase-async|plain|plain-async DIR`),
 * as h5py's reads run: in the bench's own process the arrays of earlier rounds are freed by V8's
 * collector whenever it runs, in the middle of a later timed read. The child reads once untimed (V8
 * warms up), collects that garbage, then times one read.
 */
function nodeReadFresh(kind: FreshRead, dir: string): number {
  const r = nodeChild<{ seconds: number; maxRss: number }>(["read", kind, dir], ["--expose-gc"]);
  freshReadRss.set(kind, Math.max(freshReadRss.get(kind) ?? 0, r.maxRss));
  return r.seconds;
}

type FreshRead = "sase" | "sase-async" | "plain" | "plain-async";
/** The peak resident memory of each kind's fresh-memory read children, bytes. */
const freshReadRss = new Map<FreshRead, number>();

/**
 * h5py doing `args` for every module at once, a process per module (HDF5 takes one call at a time in a
 * process; the module's index is the last argument): the strongest h5py beside sase's work on the
 * thread pool. Each child sets up (and backs its memory, to write), says "ready", and starts when told;
 * the time is from the word go to the last child's end.
 */
async function h5pyModulesAtOnce(args: string[]): Promise<{ seconds: number; cpu: Cpu }> {
  const children = Array.from({ length: MODULES }, (_, m) =>
    spawn("/usr/bin/python3", [py, ...args, String(m)], { stdio: ["pipe", "pipe", "inherit"] }),
  );
  const lines = children.map((c, m) => childLines(c, `h5py for module ${m}`));
  await Promise.all(lines.map((l) => l.first));
  const start = Date.now() / 1000;
  for (const c of children) c.stdin?.end("go\n");
  const results = (await Promise.all(lines.map((l) => l.rest))).map(
    (rest) => JSON.parse(rest[rest.length - 1] ?? "{}") as { end: number; user?: number; system?: number },
  );
  return {
    seconds: Math.max(...results.map((r) => r.end)) - start,
    cpu: {
      user: results.reduce((a, r) => a + (r.user ?? 0), 0),
      system: results.reduce((a, r) => a + (r.system ?? 0), 0),
    },
  };
}

/** CPU seconds, user and system (all threads; sase's main thread alone in `main` where known). */
interface Cpu {
  readonly user: number;
  readonly system: number;
  readonly main?: { readonly user: number; readonly system: number };
}

/** CPU seconds this process has used since `from`. */
function cpuSince(from: NodeJS.CpuUsage): Cpu {
  const c = process.cpuUsage(from);
  return { user: c.user / 1e6, system: c.system / 1e6 };
}

function row(label: string, value: string, baseline = ""): void {
  console.log(`  ${label.padEnd(44)} ${value.padStart(12)}   ${baseline}`);
}

function image(): Uint16Array {
  const img = new Uint16Array(trainBytes / 2);
  for (let i = 0; i < img.length; i++) img[i] = i % 65521;
  return img;
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

/**
 * Writes the run (with writeTrainAsync where `parallel`: the modules' files written at once); its wall
 * seconds, and the CPU seconds it took pushed onto `cpu`.
 */
async function saseWrite(dir: string, img: Uint16Array, cpu: Cpu[], parallel = false): Promise<number> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const m0 = threadCpu();
  const w = await createRunWriter(dir, {
    proposal: 1,
    run: 1,
    trainsPerSequence: TRAINS_PER_SEQUENCE,
    chunkBytes,
    writeIndex: false,
  });
  for (let m = 0; m < MODULES; m++) {
    w.addInstrumentSource(`SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`, {
      aggregator: `AGIPD${String(m).padStart(2, "0")}`,
      keys: { "image.data": { dtype: "uint16", entryShape: FRAME } },
    });
  }
  const arr = ndarray(img, [CELLS, ...FRAME]);
  for (let t = 0; t < trainsPerModule; t++) {
    const data: Record<string, Record<string, typeof arr>> = {};
    for (let m = 0; m < MODULES; m++) data[`SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`] = { "image.data": arr };
    if (parallel) await w.writeTrainAsync(10000 + t, data);
    else w.writeTrain(10000 + t, data);
  }
  await w.close();
  const m1 = threadCpu();
  cpu.push({
    ...cpuSince(c0),
    ...(m0 && m1 ? { main: { user: m1.user - m0.user, system: m1.system - m0.system } } : {}),
  });
  return seconds(t0);
}

async function saseRead(dir: string, bytes: number, out?: Uint16Array, parallel = false): Promise<number> {
  const t0 = performance.now();
  // With the run index (the first of the runs builds it), as a user opening a written run would.
  const run = await openRun(dir);
  let got = 0;
  for (const s of run.instrumentSources) {
    const key = run.keyData(s, "image.data");
    const options = out ? { out } : {};
    got += (parallel ? await key.ndarrayAsync(options) : key.ndarray(options)).data.byteLength;
  }
  run.close();
  if (got !== bytes) throw new Error(`read ${got} bytes, wrote ${bytes}`);
  return seconds(t0);
}

/**
 * The same bytes written plainly, a whole 16.8 MB train per write: on this kernel (ext4's page cache in
 * folios as large as a write allows) that is faster than 1 MiB writes, median 232 against 247 ms per
 * 1.07 GB over 8 rounds. (Whole trains had seemed several times slower in some rounds before memory
 * the VM's host took back was backed before each: lib/memory.ts.)
 */
function plainWrite(dir: string, buf: Uint8Array): number {
  const piece = buf.length;
  const t0 = performance.now();
  for (let m = 0; m < MODULES; m++) {
    const fd = openSync(join(dir, `plain-${m}.bin`), "w");
    for (let t = 0; t < trainsPerModule; t++)
      for (let at = 0; at < buf.length; at += piece) writeSync(fd, buf, at, Math.min(piece, buf.length - at));
    closeSync(fd);
  }
  return seconds(t0);
}

/**
 * The same bytes written plainly on libuv's thread pool, every module's file at once (a train a write,
 * in order within a file): the plain ceiling for writeTrainAsync, which writes files at once too.
 */
async function plainWriteParallel(dir: string, buf: Uint8Array): Promise<number> {
  const t0 = performance.now();
  const one = async (m: number) => {
    const fd = openSync(join(dir, `plain-${m}.bin`), "w");
    for (let t = 0; t < trainsPerModule; t++) await pwriteAll(fd, buf, t * buf.length);
    closeSync(fd);
  };
  await Promise.all(Array.from({ length: MODULES }, (_, m) => one(m)));
  return seconds(t0);
}

function plainRead(dir: string, reused?: Uint8Array): number {
  const t0 = performance.now();
  for (let m = 0; m < MODULES; m++) {
    const path = join(dir, `plain-${m}.bin`);
    const out = reused ? reused.subarray(0, statSync(path).size) : new Uint8Array(statSync(path).size);
    const fd = openSync(path, "r");
    for (let off = 0; off < out.length; ) off += readSync(fd, out, off, out.length - off, off);
    closeSync(fd);
  }
  return seconds(t0);
}

/**
 * The plain files read with preads spread over libuv's thread pool, module by module, as
 * `ndarrayAsync` reads: 16 MiB pieces, 4 in flight (the pool's threads).
 */
async function plainReadParallel(dir: string, reused?: Uint8Array): Promise<number> {
  const piece = 16 << 20;
  const t0 = performance.now();
  for (let m = 0; m < MODULES; m++) {
    const path = join(dir, `plain-${m}.bin`);
    const size = statSync(path).size;
    const out = reused ? reused.subarray(0, size) : new Uint8Array(size);
    const fd = openSync(path, "r");
    let next = 0;
    const worker = async () => {
      while (next < size) {
        const at = next;
        next += piece;
        const length = Math.min(piece, size - at);
        for (let got = 0; got < length; )
          got += await new Promise<number>((resolve, reject) =>
            read(fd, out, at + got, length - got, at + got, (err, n) => (err ? reject(err) : resolve(n))),
          );
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    closeSync(fd);
  }
  return seconds(t0);
}

/** Where each sase-written file holds image.data: [file, position, length] reads, as sase makes them. */
function dataRanges(dir: string): [string, number, number][] {
  const out: [string, number, number][] = [];
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith(".h5"))
    .sort()) {
    const path = join(dir, name);
    const f = RawH5File.open(path);
    const m = /AGIPD(\d+)/.exec(name);
    const ds = f.dataset(`/INSTRUMENT/SPB_DET_AGIPD1M-1/DET/${Number(m?.[1])}CH0:xtdf/image/data`, "uint16");
    for (const e of ds ? (rowExtents(ds.layout, 0, ds.rows) ?? []) : [])
      if (e.position !== null) out.push([path, e.position, e.length]);
    f.close();
  }
  return out;
}

/**
 * A plain readSync of exactly the byte ranges sase reads (same files, positions and lengths) into
 * the reused buffer: the ceiling for this file layout, without sase's own per-read costs.
 */
function plainRanges(ranges: [string, number, number][], reused: Uint8Array): number {
  const t0 = performance.now();
  let at = 0;
  let last = "";
  let fd = -1;
  for (const [path, position, length] of ranges) {
    if (path !== last) {
      if (fd >= 0) closeSync(fd);
      fd = openSync(path, "r");
      last = path;
      if (/S00000/.test(path)) at = 0; // a new module: sase reads it into the buffer's start
    }
    for (let got = 0; got < length; ) got += readSync(fd, reused, at + got, length - got, position + got);
    at += length;
  }
  if (fd >= 0) closeSync(fd);
  return seconds(t0);
}

/** Timings of `runs` calls of f: each call's seconds. */
async function times(runs: number, f: () => number | Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) out.push(await f());
  return out;
}

/** Warm reads: one untimed read first (page cache and buffers warm), then the best of `runs`. */
async function warmBest(runs: number, f: () => number | Promise<number>): Promise<number> {
  await f();
  return Math.min(...(await times(runs, f)));
}

async function throughput(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "sase-bench-files-"));
  const bytes = trainsPerModule * MODULES * trainBytes;
  console.log(
    `image.data: ${MODULES} modules × ${trainsPerModule} trains × ${CELLS} cells = ${(bytes / MB).toFixed(0)} MB; writes: ${RUNS} runs each, interleaved; reads: page cache warm, best of ${RUNS} after one untimed read (${root})`,
  );
  try {
    const dirs = {
      sase: join(root, "sase"),
      saseAsync: join(root, "sase-async"),
      h5py: join(root, "h5py"), // h5py's fill-time-never files: the reads' h5py baseline
      h5pyOther: join(root, "h5py-other"),
      plain: join(root, "plain"),
      plainAsync: join(root, "plain-async"),
      h5pyAsync: join(root, "h5py-async"),
    };
    const fresh = (d: string) => {
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d);
      return d;
    };
    // Interleaved, so that none of the three always writes while the others' dirty pages drain; each
    // starts after sync. Writes swing from run to run (the kernel's write-back), so all runs are shown.
    const sw: number[] = [];
    const aw: number[] = [];
    const fw: number[] = [];
    const pw: number[] = [];
    const hp = { mode: CELLS % chunkRows === 0 ? "direct" : "never", wall: [] as number[], cpu: [] as Cpu[] };
    const sc: Cpu[] = [];
    const ac: Cpu[] = [];
    const h5pyRuns = H5PY_WRITES.map((w) => ({ ...w, wall: [] as number[], cpu: [] as Cpu[] }));
    // Each sase child's first write is untimed (shown apart): module loading, V8's warm-up, and each
    // module's first file made through HDF5; its timed write starts its files as copies of those (as a
    // DAQ's runs after its first do).
    const cold: number[] = [];
    const rss: number[] = [];
    // Every writer of a round, each after sync and with memory backed; the order rotates from round to
    // round, so that no writer always follows the same one (whose files and freed pages it meets).
    // A writer's earlier files are deleted before memory is backed, not after: the pages they free
    // would otherwise be the first the writer's page cache takes, and those the host may have taken.
    const writers: { dir: string; write: (dir: string) => Promise<void> }[] = [
      {
        dir: dirs.sase,
        write: async (dir) => {
          const r = nodeWrite("sase", dir);
          sw.push(r.seconds);
          sc.push(r.cpu);
          cold.push(r.cold ?? Number.NaN);
          rss.push(r.maxRss);
        },
      },
      {
        dir: dirs.saseAsync,
        write: async (dir) => {
          const r = nodeWrite("sase-async", dir);
          aw.push(r.seconds);
          ac.push(r.cpu);
          rmSync(dir, { recursive: true, force: true });
        },
      },
      ...h5pyRuns.map((w) => ({
        dir: w.mode === "never" ? dirs.h5py : dirs.h5pyOther,
        write: async (dir: string) => {
          const h = python(
            "write",
            dir,
            String(MODULES),
            String(trainsPerModule),
            String(CELLS),
            String(w.rows),
            String(TRAINS_PER_SEQUENCE),
            w.mode,
          );
          w.wall.push(h.seconds);
          w.cpu.push({ user: h.user ?? Number.NaN, system: h.system ?? Number.NaN });
          if (w.mode !== "never") rmSync(dir, { recursive: true, force: true });
        },
      })),
      { dir: dirs.plain, write: async (dir) => void fw.push(nodeWrite("plain", dir).seconds) },
      {
        dir: dirs.h5pyAsync,
        write: async (dir) => {
          const r = await h5pyModulesAtOnce([
            "write",
            dir,
            String(MODULES),
            String(trainsPerModule),
            String(CELLS),
            String(chunkRows),
            String(TRAINS_PER_SEQUENCE),
            hp.mode,
          ]);
          hp.wall.push(r.seconds);
          hp.cpu.push(r.cpu);
          rmSync(dir, { recursive: true, force: true });
        },
      },
      {
        dir: dirs.plainAsync,
        write: async (dir) => {
          pw.push(nodeWrite("plain-async", dir).seconds);
          rmSync(dir, { recursive: true, force: true });
        },
      },
    ];
    for (let i = 0; i < RUNS; i++)
      for (let k = 0; k < writers.length; k++) {
        const w = writers[(i + k) % writers.length] as (typeof writers)[number];
        fresh(w.dir);
        execFileSync("sync");
        await w.write(w.dir);
      }
    execFileSync("sync");
    const reused = new Uint16Array((bytes / MODULES / 2) | 0).fill(1); // touched once, outside the timing
    const reusedBytes = new Uint8Array(reused.buffer);
    // The ceiling: the same bytes copied from the page cache into memory already mapped.
    const frr = await warmBest(RUNS, () => plainRead(dirs.plain, reusedBytes));
    const srr = await warmBest(RUNS, () => saseRead(dirs.sase, bytes, reused));
    const ranges = dataRanges(dirs.sase);
    const prr = await warmBest(RUNS, () => plainRanges(ranges, reusedBytes));
    const mod64 = (rs: [string, number, number][]) =>
      [...new Set(rs.map(([, p]) => p % 64))].sort((a, b) => a - b).join(", ");
    const starts = mod64(ranges);
    const hrr = await warmBest(RUNS, () => python("read", dirs.h5py, "reuse").seconds);
    // Several cores copying from the page cache at once: libuv's thread pool.
    const frrp = await warmBest(RUNS, () => plainReadParallel(dirs.plain, reusedBytes));
    const srrp = await warmBest(RUNS, () => saseRead(dirs.sase, bytes, reused, true));
    const fr = await warmBest(RUNS, () => nodeReadFresh("plain", dirs.plain));
    const sr = await warmBest(RUNS, () => nodeReadFresh("sase", dirs.sase));
    const hr = await warmBest(RUNS, () => python("read", dirs.h5py).seconds);
    const hrrp = await warmBest(
      RUNS,
      async () => (await h5pyModulesAtOnce(["read", dirs.h5py, "reuse"])).seconds,
    );
    const hrp = await warmBest(
      RUNS,
      async () => (await h5pyModulesAtOnce(["read", dirs.h5py, "fresh"])).seconds,
    );
    const frp = await warmBest(RUNS, () => nodeReadFresh("plain-async", dirs.plain));
    const srp = await warmBest(RUNS, () => nodeReadFresh("sase-async", dirs.sase));
    const rate = (s: number) => bytes / MB / s;
    const mbs = (s: number) => `${rate(s).toFixed(0)} MB/s`;
    const spread = (xs: number[]) => {
      const r = xs.map(rate).sort((a, b) => a - b);
      return `${r.map((x) => x.toFixed(0)).join(", ")} MB/s`;
    };
    const pct = (s: number, of: number) => `${((of / s) * 100).toFixed(0)}%`;
    const cpus = (xs: Cpu[]) =>
      `CPU user+system ${xs.map((x) => `${x.user.toFixed(2)}+${x.system.toFixed(2)}`).join(", ")} s (run order)`;
    const total = (xs: Cpu[]) => xs.map((x) => x.user + x.system);
    const user = (xs: Cpu[]) => xs.map((x) => x.user);
    console.log("  writes (flush per train, including close), every run, slowest first; median ratio:");
    row("sase", spread(sw).padStart(24), cpus(sc));
    const mains = sc.flatMap((c) => (c.main ? [c.main] : []));
    if (mains.length)
      row(
        "  of which sase's main thread",
        "",
        `${cpus(mains)}; the rest is V8's own threads (WebAssembly tier-up, GC)`,
      );
    for (const w of h5pyRuns) row(w.label, spread(w.wall).padStart(24), cpus(w.cpu));
    const mainUser = (c: Cpu[]) =>
      mains.length ? ` (main thread ${((median(user(mains)) / median(user(c))) * 100).toFixed(0)}%)` : "";
    const vs = (c: Cpu[]) =>
      `of the median rate; CPU ${((median(total(sc)) / median(total(c))) * 100).toFixed(0)}% of h5py's, user CPU ${((median(user(sc)) / median(user(c))) * 100).toFixed(0)}%${mainUser(c)} (medians)`;
    for (const w of h5pyRuns)
      row(`sase / ${w.label}`, `${((median(w.wall) / median(sw)) * 100).toFixed(0)}%`, vs(w.cpu));
    const fastest = h5pyRuns.reduce((a, b) => (median(b.wall) < median(a.wall) ? b : a));
    row(
      "sase / the fastest h5py",
      `${((median(fastest.wall) / median(sw)) * 100).toFixed(0)}%`,
      `of ${fastest.label}'s median rate (the goal: ≥ 100 %)`,
    );
    row("sase writeTrainAsync (files at once)", spread(aw).padStart(24), cpus(ac));
    const hpLabel = `h5py ${hp.mode === "direct" ? "write_direct_chunk" : "fill time never"}, a process per module`;
    row(hpLabel, spread(hp.wall).padStart(24), cpus(hp.cpu));
    row(
      `sase writeTrainAsync / ${hpLabel}`,
      `${((median(hp.wall) / median(aw)) * 100).toFixed(0)}%`,
      `of the median rate; ${((median(fastest.wall) / median(aw)) * 100).toFixed(0)}% of ${fastest.label}, ${((median(sw) / median(aw)) * 100).toFixed(0)}% of writeTrain`,
    );
    row("plain fs (writeSync, a train a write)", spread(fw).padStart(24));
    row(
      "plain fs, thread pool, files at once",
      spread(pw).padStart(24),
      `writeTrainAsync = ${((median(pw) / median(aw)) * 100).toFixed(0)}% of this (medians)`,
    );
    row(
      "sase, first run in the process (untimed)",
      spread(cold).padStart(24),
      "cold: modules loaded, V8 warming up, every file's skeleton made through HDF5",
    );
    row(
      "sase writer's peak resident memory",
      `${(Math.max(...rss) / MB).toFixed(0)} MB`,
      "the largest of its processes",
    );
    console.log("  reads into a reused buffer (no page faults), warm:");
    row("plain fs readSync (ceiling)", mbs(frr));
    row(
      "plain fs readSync, sase files' data ranges",
      mbs(prr),
      `${pct(prr, frr)} of plain (data at byte ${starts} mod 64)`,
    );
    row(
      "sase keyData.ndarray({ out })",
      mbs(srr),
      `${pct(srr, frr)} of plain, ${pct(srr, prr)} of its ranges; h5py = ${pct(hrr, frr)}`,
    );
    row(
      "h5py read_direct",
      mbs(hrr),
      `sase = ${pct(srr, hrr)} of this (its data at byte ${mod64(dataRanges(dirs.h5py))} mod 64)`,
    );
    row("plain fs, preads on the thread pool", mbs(frrp), `${pct(frrp, frr)} of one readSync at a time`);
    row(
      "sase keyData.ndarrayAsync({ out })",
      mbs(srrp),
      `${pct(srrp, frrp)} of plain on the thread pool; ${pct(srrp, hrr)} of h5py read_direct`,
    );
    row("h5py read_direct, a process per module", mbs(hrrp), `ndarrayAsync = ${pct(srrp, hrrp)} of this`);
    console.log("  reads into fresh memory, warm:");
    row("plain fs readSync", mbs(fr));
    row("sase keyData.ndarray()", mbs(sr), `${pct(sr, fr)} of plain`);
    row("h5py dataset[:]", mbs(hr), `sase = ${pct(sr, hr)} of this`);
    row("plain fs, preads on the thread pool", mbs(frp), `${pct(frp, fr)} of one readSync at a time`);
    row(
      "sase keyData.ndarrayAsync()",
      mbs(srp),
      `${pct(srp, frp)} of plain on the thread pool; ${pct(srp, hr)} of h5py dataset[:]`,
    );
    row("h5py dataset[:], a process per module", mbs(hrp), `ndarrayAsync = ${pct(srp, hrp)} of this`);
    const rssOf = (k: FreshRead) => `${((freshReadRss.get(k) ?? 0) / MB).toFixed(0)} MB`;
    row(
      "peak resident memory of a fresh-memory read",
      `sase ${rssOf("sase")} / ${rssOf("sase-async")}`,
      `plain ${rssOf("plain")} / ${rssOf("plain-async")} (one thread / the thread pool; each module's array dropped once read)`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function opening(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sase-bench-open-"));
  try {
    const t0 = performance.now();
    const w = await createRunWriter(dir, { proposal: 1, run: 2, trainsPerSequence: 1 });
    const keys = {
      "image.data": { dtype: "uint16" as const, entryShape: [2, 8, 8] },
      "image.cellId": { dtype: "uint16" as const, entryShape: [1] },
      "image.pulseId": { dtype: "uint64" as const, entryShape: [1] },
      "image.trainId": { dtype: "uint64" as const, entryShape: [1] },
      "image.length": { dtype: "uint32" as const, entryShape: [1] },
      "image.status": { dtype: "uint16" as const, entryShape: [1] },
      "header.pulseCount": { dtype: "uint64" as const },
      "header.trainId": { dtype: "uint64" as const },
      "trailer.status": { dtype: "uint64" as const },
      "detector.data": { dtype: "uint8" as const, entryShape: [416] },
    };
    for (let m = 0; m < 16; m++) {
      w.addInstrumentSource(`SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`, {
        aggregator: `AGIPD${String(m).padStart(2, "0")}`,
        keys,
      });
    }
    for (let t = 0; t < sequences; t++) {
      const data: Record<
        string,
        Record<string, number | Uint16Array | BigUint64Array | Uint32Array | Uint8Array>
      > = {};
      for (let m = 0; m < 16; m++) {
        data[`SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`] = {
          "image.data": new Uint16Array(4 * 128),
          "image.cellId": new Uint16Array(4),
          "image.pulseId": new BigUint64Array(4),
          "image.trainId": new BigUint64Array(4).fill(BigInt(10000 + t)),
          "image.length": new Uint32Array(4),
          "image.status": new Uint16Array(4),
          "header.pulseCount": 4,
          "header.trainId": 10000 + t,
          "trailer.status": 0,
          "detector.data": new Uint8Array(416),
        };
      }
      w.writeTrain(10000 + t, data);
    }
    await w.close();
    const files = readdirSync(dir).filter((f) => f.endsWith(".h5")).length;
    console.log(
      `\nopening a run of ${files} files (16 modules × ${sequences} sequences; written in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const list = async (useIndex: boolean) => {
      const t = performance.now();
      const run = await openRun(dir, { useIndex });
      let n = 0;
      for (const s of run.sources) n += run.keys(s).length;
      run.close();
      return { ms: performance.now() - t, keys: n, trains: run.trainIds.length };
    };
    await list(true); // warm-up: module loading, not part of opening a run
    const withIndex = await list(true);
    const without = await list(false);
    const h = python("open", dir);
    row(
      "open + list sources/keys, with run index",
      `${withIndex.ms.toFixed(1)} ms`,
      `goal < 100 ms; ${withIndex.keys} keys, ${withIndex.trains} trains`,
    );
    row(
      "open + list sources/keys, without index",
      `${without.ms.toFixed(0)} ms`,
      `reads every file; h5py takes ${((h.seconds * 1000) / without.ms).toFixed(2)}× this time`,
    );
    row("h5py: open every file, read INDEX, list keys", `${(h.seconds * 1000).toFixed(0)} ms`, `${h.n} keys`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A writer child: sase's write, sync or async (after an untimed first one), or the plain one into `dir`, each right
 * after memory the VM's host took back is backed again; prints a ChildWrite.
 */
async function childWrite(kind: string, dir: string): Promise<void> {
  const img = image();
  let cold: number | undefined;
  const sase = kind === "sase" || kind === "sase-async";
  if (sase) {
    const first = `${dir}-cold`;
    mkdirSync(first);
    cold = await saseWrite(first, img, [], kind === "sase-async");
    rmSync(first, { recursive: true, force: true });
  } else if (kind !== "plain" && kind !== "plain-async")
    throw new Error(`write: sase, sase-async, plain or plain-async, not "${kind}"`);
  backMemory();
  const cpu: Cpu[] = [];
  const c0 = process.cpuUsage();
  const bytes = new Uint8Array(img.buffer);
  const seconds = sase
    ? await saseWrite(dir, img, cpu, kind === "sase-async")
    : kind === "plain"
      ? plainWrite(dir, bytes)
      : await plainWriteParallel(dir, bytes);
  const result: ChildWrite = {
    seconds,
    cpu: cpu[0] ?? cpuSince(c0),
    ...(cold === undefined ? {} : { cold }),
    maxRss: process.resourceUsage().maxRSS * 1024,
  };
  console.log(JSON.stringify(result));
}

async function childRead(kind: string, dir: string): Promise<void> {
  const bytes = trainsPerModule * MODULES * trainBytes;
  const once = (): number | Promise<number> => {
    switch (kind) {
      case "sase":
        return saseRead(dir, bytes);
      case "sase-async":
        return saseRead(dir, bytes, undefined, true);
      case "plain":
        return plainRead(dir);
      case "plain-async":
        return plainReadParallel(dir);
      default:
        throw new Error(`read: sase, sase-async, plain or plain-async, not "${kind}"`);
    }
  };
  await once();
  (globalThis as { gc?: () => void }).gc?.();
  const seconds = await once();
  console.log(JSON.stringify({ seconds, maxRss: process.resourceUsage().maxRSS * 1024 }));
}

if (process.argv[2] === "write") await childWrite(process.argv[3] ?? "", process.argv[4] ?? "");
else if (process.argv[2] === "read") await childRead(process.argv[3] ?? "", process.argv[4] ?? "");
else {
  await throughput();
  if (process.env.SASE_BENCH_FILES_OPEN !== "0") await opening();
  console.log(
    `\nthe bench's own peak resident memory (reused-buffer reads, opening runs): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
  );
}
