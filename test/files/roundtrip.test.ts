// A run written by sase (control + instrument sources, several sequence files, an AGIPD-like module
// with 64 cells of uint16 frames per train) reads back in Debian's h5py with the EXDF layout and the
// same values, and reads back in the sase reader.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isNDArray, ndarray } from "../../src/core/index.ts";
import {
  createRunWriter,
  openRun,
  RUN_INDEX_NAME,
  runManifest,
  validateRun,
  WRITTEN_FORMAT_VERSION,
} from "../../src/files/index.ts";
import { H5File, h5Ready, setDirectReads } from "../../src/files/h5.ts";
import { AGIPD, CELLS, FRAME, pixel, repoRoot, tempDir, writeSampleRun, XGM, XGM_OUT } from "./helpers.ts";

interface H5pyDump {
  files: Record<
    string,
    {
      layout: Record<
        string,
        {
          dtype: string;
          shape: number[];
          maxshape: number[];
          chunks: number[] | null;
          compression: string | null;
          fill_time: number;
          alloc_time: number;
          sha256: string | null;
          chunk_places: [number, number][];
        }
      >;
      metadata: Record<string, string | number>;
      train_ids: number[];
      flag: number[];
      data_sources: string[];
      root: string[];
      device_id: string[];
      run: Record<string, number | string>;
    }
  >;
  sources: Record<
    string,
    Record<string, { counts: Record<string, number>; sum: number; total: number; first: number[] | null }>
  >;
}

function h5pyDump(dir: string): H5pyDump {
  const out = execFileSync("/usr/bin/python3", [join(repoRoot, "test/files/h5py_dump.py"), dir], {
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out.toString()) as H5pyDump;
}

describe("round trip: sase writes, h5py and sase read", () => {
  const tmp = tempDir();
  let dump: H5pyDump;
  before(async () => {
    await writeSampleRun(tmp.dir, 5);
    dump = h5pyDump(tmp.dir);
  });
  after(() => tmp.cleanup());

  test("file names, sequences and the run index", () => {
    const names = readdirSync(tmp.dir).sort();
    assert.deepEqual(names, [
      RUN_INDEX_NAME,
      "RAW-R0238-AGIPD00-S00000.h5",
      "RAW-R0238-AGIPD00-S00001.h5",
      "RAW-R0238-AGIPD00-S00002.h5",
      "RAW-R0238-DA01-S00000.h5",
      "RAW-R0238-DA01-S00001.h5",
      "RAW-R0238-DA01-S00002.h5",
    ]);
    assert.deepEqual(dump.files["RAW-R0238-DA01-S00000.h5"]?.train_ids, [10000, 10001]);
    assert.deepEqual(dump.files["RAW-R0238-DA01-S00002.h5"]?.train_ids, [10004]);
    assert.deepEqual(dump.files["RAW-R0238-AGIPD00-S00001.h5"]?.flag, [1, 1]);
    // Later sequence files start as copies of the first one's skeleton: same datasets and METADATA
    // but for the sequence number.
    for (const [name, f] of Object.entries(dump.files)) {
      const first = dump.files[name.replace(/S\d+\.h5$/, "S00000.h5")];
      assert.equal(f.metadata.sequenceNumber, Number(/S(\d+)\.h5$/.exec(name)?.[1]), name);
      assert.deepEqual(Object.keys(f.layout).sort(), Object.keys(first?.layout ?? {}).sort(), name);
      for (const k of [
        "dataFormatVersion",
        "creationDate",
        "proposalNumber",
        "runNumber",
        "sample",
        "runType",
      ])
        assert.equal(f.metadata[k], first?.metadata[k], `${name} ${k}`);
      assert.deepEqual(f.run, first?.run, name);
    }
  });

  test("METADATA and layout as EXDF prescribes (read by h5py)", () => {
    const f = dump.files["RAW-R0238-DA01-S00001.h5"];
    assert.ok(f);
    assert.equal(f.metadata.dataFormatVersion, WRITTEN_FORMAT_VERSION);
    assert.equal(f.metadata.proposalNumber, 700000);
    assert.equal(f.metadata.runNumber, 238);
    assert.equal(f.metadata.sequenceNumber, 1);
    assert.equal(f.metadata.sample, "lysozyme");
    assert.match(String(f.metadata.creationDate), /^\d{8}T\d{6}Z$/);
    assert.match(String(f.metadata.updateDate), /^\d{8}T\d{6}Z$/);
    assert.deepEqual(f.data_sources, [`CONTROL/${XGM}`, `INSTRUMENT/${XGM_OUT}/data`]);
    assert.deepEqual(f.root, ["CONTROL", "INSTRUMENT"]);
    assert.deepEqual(f.device_id, [XGM, `${XGM_OUT}/data`]);
    const l = f.layout;
    for (const p of [
      "INDEX/trainId",
      "INDEX/timestamp",
      `INDEX/${XGM}/first`,
      `INDEX/${XGM}/count`,
      `INDEX/${XGM_OUT}/data/count`,
    ]) {
      assert.equal(l[p]?.dtype, "uint64", p);
    }
    assert.equal(l["INDEX/flag"]?.dtype, "int32");
    assert.deepEqual(l[`CONTROL/${XGM}/pulseEnergy/photonFlux/value`]?.shape, [2]);
    assert.equal(l[`CONTROL/${XGM}/pulseEnergy/photonFlux/value`]?.dtype, "float32");
    assert.deepEqual(l[`CONTROL/${XGM}/beamPosition/xy/value`]?.shape, [2, 2]);
    assert.equal(l[`CONTROL/${XGM}/pulseEnergy/photonFlux/timestamp`]?.dtype, "uint64");
    assert.deepEqual(l[`RUN/${XGM}/pollingInterval/value`]?.shape, [1]);
    assert.equal(f.run[`RUN/${XGM}/pollingInterval/value`], 100);
    const a = dump.files["RAW-R0238-AGIPD00-S00000.h5"]?.layout[`INSTRUMENT/${AGIPD}/image/data`];
    assert.ok(a);
    assert.equal(a.dtype, "uint16");
    assert.deepEqual(a.shape, [2 * CELLS, ...FRAME]);
    assert.deepEqual(a.maxshape, [-1, ...FRAME]);
    assert.equal(a.chunks?.[0] !== undefined && a.chunks[0] >= 1, true);
    assert.deepEqual(a.chunks?.slice(1), [...FRAME]);
  });

  test("big uncompressed chunks start at 4 KiB in the file (as h5py finds them)", () => {
    // The kernel copies from the page cache ~25 % slower into a buffer aligned otherwise than the
    // file position, so the writer places big chunks at 4 KiB; small ones go where HDF5 puts them.
    let images = 0;
    for (const [name, f] of Object.entries(dump.files))
      for (const [path, l] of Object.entries(f.layout))
        for (const [at, size] of l.chunk_places) {
          if (size < 1 << 20) continue;
          if (path.endsWith("image/data")) images++;
          assert.equal(at % 4096, 0, `${name} ${path}: chunk at ${at}`);
        }
    // 4 trains of 64 cells in chunks of 64 frames (16 MiB) over 3 files, each file's first chunk too.
    assert.equal(images, 4);
  });

  test("a chunk index takes the bytes reserved for it below 4 KiB: one close per first file", async () => {
    // The writer's first file closes once to set fill and allocation times, leaving its end this many
    // bytes below 4 KiB, so that the chunk index made next ends it on 4 KiB without a second close.
    await h5Ready();
    const z = tempDir();
    try {
      for (const entryShape of [[], [4], [2, 3], [...FRAME]]) {
        const path = join(z.dir, `rank${entryShape.length}.h5`);
        const h5 = H5File.create(path);
        h5.createExtendable("/a/data", "uint16", entryShape, 8);
        h5.writeChunksDirect("/a/data");
        h5.flush();
        h5.alignEnd(4096, H5File.chunkIndexNodeBytes(entryShape));
        h5.createChunkIndex("/a/data", "uint16", entryShape);
        h5.flush();
        const end = Number(readFileSync(path).readBigUInt64LE(40));
        assert.equal(end % 4096, 0, `rank ${entryShape.length + 1}: end at ${end}`);
        assert.equal(h5.alignEnd(4096), 0, `rank ${entryShape.length + 1}: nothing left to align`);
        h5.close();
      }
    } finally {
      z.cleanup();
    }
  });

  test("chunks bigger than HDF5's chunk cache are written unfilled, and h5py reads the very bytes", () => {
    // HDF5 copies a new chunk into its chunk cache unless the dataset's fill time is "never" and the
    // chunk is bigger than the cache: the writer sets that fill time in the file for such datasets.
    const files: Record<string, number[]> = {
      "RAW-R0238-AGIPD00-S00000.h5": [10000, 10001],
      "RAW-R0238-AGIPD00-S00001.h5": [10003],
      "RAW-R0238-AGIPD00-S00002.h5": [10004],
    };
    const frame = FRAME[0] * FRAME[1] * FRAME[2];
    for (const [name, trains] of Object.entries(files)) {
      const layout = dump.files[name]?.layout;
      assert.ok(layout, name);
      const image = layout[`INSTRUMENT/${AGIPD}/image/data`];
      assert.equal(image?.fill_time, 1, `${name}: image.data fill time never`);
      assert.equal(image?.alloc_time, 1, `${name}: image.data chunks allocated early`);
      const expected = new Uint16Array(trains.length * CELLS * frame);
      trains.forEach((tid, t) => {
        for (let c = 0; c < CELLS; c++)
          for (let i = 0; i < frame; i++) expected[(t * CELLS + c) * frame + i] = pixel(tid, c, i);
      });
      assert.equal(image?.sha256, createHash("sha256").update(expected).digest("hex"), name);
      // INDEX and the datasets with small chunks are written the same way; chunks from 1 MiB up to
      // HDF5's chunk cache keep HDF5's defaults (2: if set; 3: incremental).
      for (const [path, l] of Object.entries(layout)) {
        if (!l.chunks || !l.sha256 || path.endsWith("image/data")) continue;
        const chunkBytes = (l.chunks.reduce((a, b) => a * b, 1) * Number(/\d+/.exec(l.dtype)?.[0] ?? 8)) / 8;
        const direct = chunkBytes < 1 << 20;
        assert.equal(l.fill_time, direct ? 1 : 2, `${name} ${path}`);
        assert.equal(l.alloc_time, direct ? 1 : 3, `${name} ${path}`);
      }
    }
  });

  test("values read by h5py through INDEX equal what was written", () => {
    const img = dump.sources[AGIPD]?.["image.data"];
    assert.ok(img);
    assert.deepEqual(img.counts, { "10000": CELLS, "10001": CELLS, "10003": CELLS, "10004": CELLS });
    const frame = FRAME[0] * FRAME[1] * FRAME[2];
    let sum = 0;
    for (const tid of [10000, 10001, 10003, 10004])
      for (let c = 0; c < CELLS; c++) for (let i = 0; i < frame; i++) sum += pixel(tid, c, i);
    assert.equal(img.sum, sum);
    assert.deepEqual(
      img.first,
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => pixel(10000, 0, i)),
    );
    const flux = dump.sources[XGM]?.["pulseEnergy.photonFlux.value"];
    assert.equal(flux?.total, 5);
    assert.equal(flux?.sum, 5000 + 0.5 * (0 + 1 + 2 + 3 + 4));
    const td = dump.sources[XGM_OUT]?.["data.intensityTD"];
    assert.deepEqual(Object.keys(td?.counts ?? {}), ["10000", "10002", "10003", "10004"]);
    assert.equal(dump.sources[AGIPD]?.["header.pulseCount"]?.sum, 4 * CELLS);
  });

  test("sase reader: trains, sources, keys and data agree with h5py", async () => {
    const run = await openRun(tmp.dir);
    assert.equal(run.indexOrigin, "index");
    assert.deepEqual(run.trainIds, [10000, 10001, 10002, 10003, 10004]);
    assert.deepEqual(run.controlSources, [XGM]);
    assert.deepEqual(run.instrumentSources, [AGIPD, XGM_OUT]);
    assert.deepEqual(run.runValues(XGM)["pollingInterval.value"], 100);
    assert.ok(Math.abs((run.runValues(XGM)["pulseEnergy.wavelengthUsed.value"] as number) - 0.1332) < 1e-12);
    const m = runManifest(run);
    for (const [source, keys] of Object.entries(dump.sources)) {
      for (const [key, ref] of Object.entries(keys)) {
        const ours = m.sources[source]?.keys[key];
        assert.ok(ours, `${source} ${key}`);
        assert.equal(ours.total, ref.total, `${source} ${key}`);
        if (ours.sum !== undefined)
          assert.ok(
            Math.abs(ours.sum - ref.sum) <= 1e-6 * Math.max(1, Math.abs(ref.sum)),
            `${source} ${key}`,
          );
      }
    }
    const kd = run.keyData(AGIPD, "image.data");
    assert.deepEqual(Array.from(kd.dataCounts().counts), [CELLS, CELLS, 0, CELLS, CELLS]);
    const all = kd.ndarray();
    assert.deepEqual(all.shape, [4 * CELLS, ...FRAME]);
    const frame = FRAME[0] * FRAME[1] * FRAME[2];
    const t3 = kd.trainData(10003);
    assert.ok(isNDArray(t3));
    assert.equal(t3.data[5 * frame + 77], pixel(10003, 5, 77));
    assert.equal(all.data[2 * CELLS * frame + 5 * frame + 77], pixel(10003, 5, 77));
    // Big uncompressed reads go straight to the file (our own chunk B-tree walk); they must give the
    // very bytes HDF5 gives.
    setDirectReads(false);
    const viaHdf5 = run.keyData(AGIPD, "image.data").ndarray();
    setDirectReads(true);
    assert.deepEqual(new Uint8Array(viaHdf5.data.buffer), new Uint8Array(all.data.buffer));
    // Into a caller's buffer (same element type), and by train position.
    const buf = new Uint16Array(all.data.length + 10);
    const into = run.keyData(AGIPD, "image.data").ndarray({ out: buf });
    assert.equal(into.data.buffer, buf.buffer);
    assert.equal(into.data[2 * CELLS * frame + 5 * frame + 77], pixel(10003, 5, 77));
    assert.throws(() => kd.ndarray({ out: new Float32Array(all.data.length) }), /output buffer/);
    assert.deepEqual(run.selectTrains({ indices: [-1, 0] }).trainIds, [10000, 10004]);
    assert.deepEqual(
      run
        .selectTrains({ indexRange: [1, 3] })
        .keyData(AGIPD, "header.pulseCount")
        .dataCounts().counts,
      new Float64Array([1, 0]),
    );
    const seen: number[] = [];
    for await (const { trainId, data } of run.select([AGIPD, XGM_OUT], "*trainId").trains({ batch: 2 })) {
      seen.push(trainId);
      const ids = data[AGIPD]?.["image.trainId"];
      if (trainId === 10002) assert.equal(ids, undefined);
      else assert.ok(isNDArray(ids) && Number(ids.data[CELLS - 1]) === trainId);
      assert.equal(data[XGM_OUT] === undefined, trainId === 10001);
    }
    assert.deepEqual(seen, run.trainIds);
    run.close();
  });

  test("rows written straight into their chunks: trains across chunks, flushes of several, new files", async () => {
    // 1 MiB rows in 16 MiB chunks (16 rows); trains of 5 rows, so trains straddle chunks; a flush
    // every 2 trains (several arrays per flush), 7 trains per file, and train 3 without the source.
    const z = tempDir();
    try {
      const DET = "DET/1CH0:xtdf";
      const entry = [512, 1024];
      const row = entry[0] * entry[1];
      const rowsPerTrain = 5;
      const value = (tid: number, r: number, i: number) => (tid * 7 + r * 131 + i * 3) & 0xffff;
      const w = await createRunWriter(z.dir, { proposal: 1, run: 8, trainsPerSequence: 7, flushEvery: 2 });
      w.addInstrumentSource(DET, {
        aggregator: "DET01",
        keys: { "image.data": { dtype: "uint16", entryShape: entry } },
      });
      const written: number[] = [];
      for (let t = 0; t < 9; t++) {
        const tid = 40000 + t;
        if (t === 3) {
          w.writeTrain(tid, {});
          continue;
        }
        const a = new Uint16Array(rowsPerTrain * row);
        for (let r = 0; r < rowsPerTrain; r++)
          for (let i = 0; i < row; i++) a[r * row + i] = value(tid, r, i);
        w.writeTrain(tid, { [DET]: { "image.data": ndarray(a, [rowsPerTrain, ...entry]) } });
        written.push(tid);
      }
      await w.close();
      const d = h5pyDump(z.dir);
      const files: Record<string, number[]> = {
        "RAW-R0008-DET01-S00000.h5": written.filter((tid) => tid < 40007),
        "RAW-R0008-DET01-S00001.h5": written.filter((tid) => tid >= 40007),
      };
      const run = await openRun(z.dir);
      for (const [name, trains] of Object.entries(files)) {
        const l = d.files[name]?.layout[`INSTRUMENT/${DET}/image/data`];
        assert.ok(l, name);
        assert.equal(l.fill_time, 1, name);
        assert.equal(l.alloc_time, 1, name);
        assert.deepEqual(l.chunks, [16, ...entry], name);
        assert.deepEqual(l.shape, [trains.length * rowsPerTrain, ...entry], name);
        const expected = new Uint16Array(trains.length * rowsPerTrain * row);
        trains.forEach((tid, t) => {
          for (let r = 0; r < rowsPerTrain; r++)
            for (let i = 0; i < row; i++) expected[(t * rowsPerTrain + r) * row + i] = value(tid, r, i);
        });
        assert.equal(l.sha256, createHash("sha256").update(expected).digest("hex"), name);
        for (const [at] of l.chunk_places) assert.equal(at % 4096, 0, `${name}: chunk at ${at}`);
        const got = run.select([DET]).selectTrains({ ids: trains }).keyData(DET, "image.data").ndarray();
        assert.equal(createHash("sha256").update(got.data).digest("hex"), l.sha256, `${name}: sase reader`);
      }
      assert.deepEqual(Object.keys(d.sources[DET]?.["image.data"]?.counts ?? {}).map(Number), written);
      run.close();
    } finally {
      z.cleanup();
    }
  });

  test("compressed run reads back the same in h5py", async () => {
    const z = tempDir();
    try {
      const w = await createRunWriter(z.dir, { proposal: 1, run: 7, compression: 4, flushEvery: 3 });
      w.addInstrumentSource(XGM_OUT, {
        aggregator: "DA02",
        keys: { "data.intensityTD": { dtype: "float32", entryShape: [1000] } },
      });
      for (let t = 0; t < 10; t++) {
        w.writeTrain(20000 + t, {
          [XGM_OUT]: { "data.intensityTD": Float32Array.from({ length: 2000 }, (_, i) => (i % 1000) * t) },
        });
      }
      await w.close();
      const d = h5pyDump(z.dir);
      const layout = d.files["RAW-R0007-DA02-S00000.h5"]?.layout[`INSTRUMENT/${XGM_OUT}/data/intensityTD`];
      assert.equal(layout?.compression, "gzip");
      assert.equal(layout?.fill_time, 2); // compressed chunks keep HDF5's default fill time
      assert.deepEqual(layout?.shape, [20, 1000]);
      const v = d.sources[XGM_OUT]?.["data.intensityTD"];
      assert.equal(v?.total, 20);
      assert.equal(v?.sum, 2 * 45 * ((999 * 1000) / 2));
      const run = await openRun(z.dir);
      assert.equal(run.keyData(XGM_OUT, "data.intensityTD").ndarray().data[1000 * 19 + 999], 999 * 9);
      run.close();
    } finally {
      z.cleanup();
    }
  });

  test("a sequence longer than one INDEX chunk (4096 trains): INDEX grows a chunk at a time, cut at close", async () => {
    const z = tempDir();
    try {
      const w = await createRunWriter(z.dir, {
        proposal: 1,
        run: 8,
        trainsPerSequence: 5000,
        flushEvery: 500,
      });
      w.addControlSource("MOTOR/X", { aggregator: "DA01", properties: { position: { dtype: "float64" } } });
      for (let t = 0; t < 4200; t++) w.writeTrain(50000 + t, { "MOTOR/X": { position: t / 2 } });
      await w.close();
      const d = h5pyDump(z.dir);
      const f = d.files["RAW-R0008-DA01-S00000.h5"];
      assert.equal(f?.train_ids.length, 4200, "INDEX/trainId holds the trains written, no padding");
      assert.equal(f?.train_ids[4199], 54199);
      assert.deepEqual(f?.layout["INDEX/trainId"]?.shape, [4200]);
      assert.deepEqual(f?.layout["INDEX/MOTOR/X/first"]?.shape, [4200]);
      const run = await openRun(z.dir);
      assert.equal(run.trainIds.length, 4200);
      const pos = run.keyData("MOTOR/X", "position").ndarray().data as Float64Array;
      assert.equal(pos[4096], 2048);
      assert.equal(pos[4199], 4199 / 2);
      run.close();
    } finally {
      z.cleanup();
    }
  });

  test("a later run of the same sources starts from this run's skeletons, with its own METADATA", async () => {
    // Written in this process after the run above (same sources): the detector module's files start
    // as copies of that run's first file, patched; the DA01 files, which hold a RUN section with this
    // run's values, are made anew.
    const z = tempDir();
    try {
      await writeSampleRun(z.dir, 5, { run: 239, proposal: 700001 });
      const d = h5pyDump(z.dir);
      assert.deepEqual(
        Object.keys(d.files).sort(),
        Object.keys(dump.files)
          .sort()
          .map((n) => n.replace("R0238", "R0239")),
      );
      for (const [name, f] of Object.entries(d.files)) {
        const earlier = dump.files[name.replace("R0239", "R0238")];
        assert.ok(earlier, name);
        assert.equal(f.metadata.runNumber, 239, name);
        assert.equal(f.metadata.proposalNumber, 700001, name);
        assert.equal(f.metadata.sequenceNumber, earlier.metadata.sequenceNumber, name);
        assert.match(String(f.metadata.creationDate), /^\d{8}T\d{6}Z$/, name);
        assert.ok(String(f.metadata.creationDate) >= String(earlier.metadata.creationDate), name);
        assert.ok(String(f.metadata.updateDate) >= String(f.metadata.creationDate), name);
        assert.deepEqual(f.train_ids, earlier.train_ids, name);
        // RUN: the same values, timestamped at this run's start (not copied from the earlier run).
        assert.deepEqual(Object.keys(f.run).sort(), Object.keys(earlier.run).sort(), name);
        for (const [path, v] of Object.entries(f.run))
          if (path.endsWith("timestamp")) assert.ok(Number(v) > Number(earlier.run[path]), `${name} ${path}`);
          else assert.equal(v, earlier.run[path], `${name} ${path}`);
        // The same datasets, types, chunking, fill and allocation times and, but for METADATA (above)
        // and the times the trains were written, the same bytes.
        const comparable = (l: H5pyDump["files"][string]["layout"][string] | undefined, path: string) =>
          l && { ...l, chunk_places: null, sha256: /timestamp$|^METADATA/.test(path) ? null : l.sha256 };
        for (const [path, l] of Object.entries(f.layout))
          assert.deepEqual(comparable(l, path), comparable(earlier.layout[path], path), `${name} ${path}`);
      }
      const values = (sources: H5pyDump["sources"]) =>
        Object.entries(sources).map(([source, keys]) => [
          source,
          Object.entries(keys).filter(([key]) => !key.endsWith("timestamp")),
        ]);
      assert.deepEqual(values(d.sources), values(dump.sources));
      assert.deepEqual(await validateRun(z.dir), []);
    } finally {
      z.cleanup();
    }
  });

  test("updateDate follows the flushes, in a first file and in one made from its skeleton", async () => {
    const z = tempDir();
    const nextSecond = () => new Promise((r) => setTimeout(r, 1020 - (Date.now() % 1000)));
    try {
      const w = await createRunWriter(z.dir, { proposal: 1, run: 9, trainsPerSequence: 2 });
      w.addInstrumentSource("SA1_XTD2_IMGPII45/CAM/BEAMVIEW:output", {
        aggregator: "DA02",
        keys: { "data.x": { dtype: "float32" } },
      });
      const train = (id: number) =>
        w.writeTrain(id, { "SA1_XTD2_IMGPII45/CAM/BEAMVIEW:output": { "data.x": id } });
      train(1); // the first file, made through HDF5
      await nextSecond();
      train(2);
      await nextSecond();
      train(3); // the second file, from the first one's skeleton
      await nextSecond();
      train(4);
      await w.close();
      const d = h5pyDump(z.dir);
      const first = d.files["RAW-R0009-DA02-S00000.h5"]?.metadata;
      const second = d.files["RAW-R0009-DA02-S00001.h5"]?.metadata;
      assert.ok(first && second);
      assert.ok(
        String(first.updateDate) > String(first.creationDate),
        `${first.updateDate} after ${first.creationDate}`,
      );
      assert.ok(
        String(second.updateDate) > String(first.updateDate),
        `${second.updateDate} after ${first.updateDate}`,
      );
      assert.equal(second.creationDate, first.creationDate);
      assert.deepEqual(await validateRun(z.dir), []);
    } finally {
      z.cleanup();
    }
  });
});
