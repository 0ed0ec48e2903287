// EXDF files benchmark.
//  1. image.data throughput: sase writes and reads a run of AGIPD-like modules (64 cells of uint16
//     [2,512,128] per train), beside h5py (Debian, HDF5 1.10 in C) doing the same and a plain fs
//     write/read of the same bytes. Size: SASE_BENCH_FILES_MB (default 1024).
//  2. Opening a run of 16 modules × SASE_BENCH_FILES_SEQ sequences (default 25 → 400 files) and
//     listing its sources and keys: with the run index, without it, and h5py opening every file's INDEX.
import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ndarray } from "../src/core/index.ts";
import { createRunWriter, openRun } from "../src/files/index.ts";

const MB = 1e6;
const FRAME = [2, 512, 128];
const CELLS = 64;
const trainBytes = CELLS * FRAME.reduce((a, b) => a * b, 1) * 2;
const totalMB = Number(process.env.SASE_BENCH_FILES_MB ?? 1024);
const sequences = Number(process.env.SASE_BENCH_FILES_SEQ ?? 25);
const MODULES = 4;
const RUNS = Number(process.env.SASE_BENCH_FILES_RUNS ?? 2);
const trainsPerModule = Math.max(1, Math.round((totalMB * 1024 * 1024) / trainBytes / MODULES));
const chunkBytes = 4 << 20; // the writer's default for uncompressed data
const chunkRows = Math.max(1, Math.floor(chunkBytes / (trainBytes / CELLS)));
const py = join(import.meta.dirname, "files_h5py.py");

function python(...args: string[]): { seconds: number; n: number } {
  return JSON.parse(execFileSync("/usr/bin/python3", [py, ...args], { maxBuffer: 1 << 20 }).toString()) as {
    seconds: number;
    n: number;
  };
}

function row(label: string, value: string, baseline = ""): void {
  console.log(`  ${label.padEnd(44)} ${value.padStart(12)}   ${baseline}`);
}

function image(): Uint16Array {
  const img = new Uint16Array(trainBytes / 2);
  for (let i = 0; i < img.length; i++) img[i] = i % 65521;
  return img;
}

/** Best (shortest) of `runs` timings; each run starts from a clean page cache state (sync). */
async function best(runs: number, f: (i: number) => number | Promise<number>): Promise<number> {
  let s = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    execFileSync("sync");
    s = Math.min(s, await f(i));
  }
  return s;
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

async function saseWrite(dir: string, img: Uint16Array): Promise<number> {
  const t0 = performance.now();
  const w = await createRunWriter(dir, {
    proposal: 1,
    run: 1,
    trainsPerSequence: 8,
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
    w.writeTrain(10000 + t, data);
  }
  await w.close();
  return seconds(t0);
}

async function saseRead(dir: string, bytes: number, out?: Uint16Array): Promise<number> {
  const t0 = performance.now();
  // With the run index (the first of the runs builds it), as a user opening a written run would.
  const run = await openRun(dir);
  let got = 0;
  for (const s of run.instrumentSources)
    got += run.keyData(s, "image.data").ndarray(out ? { out } : {}).data.byteLength;
  run.close();
  if (got !== bytes) throw new Error(`read ${got} bytes, wrote ${bytes}`);
  return seconds(t0);
}

function plainWrite(dir: string, buf: Uint8Array): number {
  const t0 = performance.now();
  for (let m = 0; m < MODULES; m++) {
    const fd = openSync(join(dir, `plain-${m}.bin`), "w");
    for (let t = 0; t < trainsPerModule; t++) writeSync(fd, buf);
    closeSync(fd);
  }
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

async function throughput(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "sase-bench-files-"));
  const bytes = trainsPerModule * MODULES * trainBytes;
  console.log(
    `image.data: ${MODULES} modules × ${trainsPerModule} trains × ${CELLS} cells = ${(bytes / MB).toFixed(0)} MB, best of ${RUNS} writes / ${RUNS + 1} reads (${root})`,
  );
  try {
    const img = image();
    const dirs = { sase: join(root, "sase"), h5py: join(root, "h5py"), plain: join(root, "plain") };
    const fresh = (d: string) => {
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d);
      return d;
    };
    // Interleaved, so that none of the three always writes while the others' dirty pages drain.
    let sw = Number.POSITIVE_INFINITY;
    let hw = Number.POSITIVE_INFINITY;
    let fw = Number.POSITIVE_INFINITY;
    for (let i = 0; i < RUNS; i++) {
      sw = Math.min(sw, await best(1, () => saseWrite(fresh(dirs.sase), img)));
      hw = Math.min(
        hw,
        await best(
          1,
          () =>
            python(
              "write",
              fresh(dirs.h5py),
              String(MODULES),
              String(trainsPerModule),
              String(CELLS),
              String(chunkRows),
            ).seconds,
        ),
      );
      fw = Math.min(fw, await best(1, () => plainWrite(fresh(dirs.plain), new Uint8Array(img.buffer))));
    }
    const sr = await best(RUNS + 1, () => saseRead(dirs.sase, bytes));
    const hr = await best(RUNS + 1, () => python("read", dirs.h5py).seconds);
    const reused = new Uint16Array((bytes / MODULES / 2) | 0).fill(1);
    const srr = await best(RUNS + 1, () => saseRead(dirs.sase, bytes, reused));
    const hrr = await best(RUNS + 1, () => python("read", dirs.h5py, "reuse").seconds);
    const frr = await best(RUNS + 1, () => plainRead(dirs.plain, new Uint8Array(reused.buffer)));
    const fr = await best(RUNS + 1, () => plainRead(dirs.plain));
    const mbs = (s: number) => `${(bytes / MB / s).toFixed(0)} MB/s`;
    row("sase write (flush per train)", mbs(sw), `h5py ${mbs(hw)}, plain fs ${mbs(fw)}`);
    row("sase read (keyData.ndarray, page cache)", mbs(sr), `h5py ${mbs(hr)}, plain fs ${mbs(fr)}`);
    row("sase read into a reused buffer", mbs(srr), `h5py read_direct ${mbs(hrr)}, plain fs ${mbs(frr)}`);
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
    row("open + list sources/keys, without index", `${without.ms.toFixed(0)} ms`, "(reads every file)");
    row("h5py: open every file, read INDEX, list keys", `${(h.seconds * 1000).toFixed(0)} ms`, `${h.n} keys`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await throughput();
await opening();
