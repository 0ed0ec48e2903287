// Plain numeric datasets are found and read without HDF5 (rawh5.ts: superblock, symbol-table groups,
// object headers parsed in JavaScript); every such read must match HDF5's own, on every reference run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isNDArray } from "../../src/core/index.ts";
import { H5File, h5Ready, setDirectReads } from "../../src/files/h5.ts";
import { openRun, type TrainData } from "../../src/files/index.ts";
import { RawH5File } from "../../src/files/rawh5.ts";
import { FIXTURE_RUNS, fixturesDir, tempDir, useTempCache } from "./helpers.ts";

async function firstTrains(dir: string, n: number): Promise<TrainData[]> {
  const run = await openRun(dir);
  const out: TrainData[] = [];
  try {
    for await (const { data } of run.trains()) {
      out.push(data);
      if (out.length === n) break;
    }
  } finally {
    run.close();
  }
  return out;
}

function bytesOf(v: unknown): Buffer | unknown {
  return isNDArray(v) ? Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength) : v;
}

describe("reading without HDF5", () => {
  const cache = useTempCache();
  after(() => {
    setDirectReads(true);
  });

  for (const name of FIXTURE_RUNS) {
    test(`${name}: the first trains read the same with and without HDF5`, async () => {
      const dir = join(fixturesDir, name);
      setDirectReads(false);
      const viaHdf5 = await firstTrains(dir, 2);
      setDirectReads(true);
      const direct = await firstTrains(dir, 2);
      assert.equal(direct.length, viaHdf5.length);
      direct.forEach((train, i) => {
        const ref = viaHdf5[i] as TrainData;
        assert.deepEqual(Object.keys(train).sort(), Object.keys(ref).sort());
        for (const [source, keys] of Object.entries(ref))
          for (const [key, value] of Object.entries(keys)) {
            const ours = train[source]?.[key];
            assert.deepEqual(bytesOf(ours), bytesOf(value), `${name} train ${i} ${source} ${key}`);
            if (isNDArray(value) && isNDArray(ours)) assert.deepEqual(ours.shape, value.shape);
          }
      });
    });
  }

  test("plain datasets and strings are found as HDF5 reads them; missing paths and other types are left to it", async () => {
    await h5Ready();
    const file = join(fixturesDir, "spb_r0238_v1.2", "RAW-R0238-DA01-S00000.h5");
    const raw = RawH5File.open(file);
    const h5 = H5File.open(file);
    try {
      const found = raw.dataset("/INDEX/trainId", "uint64");
      assert.ok(found && found.rows > 0);
      assert.equal(raw.dataset("/INDEX/trainId", "float64"), null); // wrong type: HDF5 decides
      assert.equal(raw.dataset("/INDEX/noSuchKey", "uint64"), null);
      assert.equal(raw.strings("/INDEX/noSuchKey"), null);
      assert.equal(raw.dataset("/CONTROL/SA1_XTD2_XGM/DOOCS/MAIN/state/value", "uint8"), null); // strings
      assert.equal(raw.strings("/INDEX/trainId"), null); // numbers
      // Variable-length strings, from the global heap.
      for (const path of [
        "/METADATA/dataSources/dataSourceId",
        "/CONTROL/SA1_XTD2_XGM/DOOCS/MAIN/state/value",
      ]) {
        const rows = raw.strings(path)?.rows ?? 0;
        assert.ok(rows > 0, path);
        const ours = raw.readStrings(path, 0, rows);
        assert.deepEqual(ours, h5.readStrings(path, h5.info(path)));
        assert.ok(ours?.some((s) => s.length > 0));
      }
    } finally {
      raw.close();
      h5.close();
    }
  });

  test("a run of plain numbers and strings streams its trains without loading HDF5", () => {
    // A fresh process: whether HDF5's WebAssembly build was loaded is only known from inside.
    const dir = join(fixturesDir, "spb_r0238_v1.2");
    const script = `
      const { openRun } = await import(${JSON.stringify(new URL("../../src/files/index.ts", import.meta.url).pathname)});
      const { h5Loaded } = await import(${JSON.stringify(new URL("../../src/files/h5.ts", import.meta.url).pathname)});
      const run = await openRun(${JSON.stringify(dir)}, { hdf5: "when-needed" });
      let n = 0;
      for await (const { data } of run.trains()) if (++n === 2) break;
      console.log(JSON.stringify({ n, loaded: h5Loaded() }));
      run.close();`;
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--import",
        new URL("../../scripts/untranspiled.mjs", import.meta.url).pathname,
        "--input-type=module",
        "-e",
        script,
      ],
      { encoding: "utf8", env: { ...process.env, XDG_CACHE_HOME: cache.dir }, timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1) as string), { n: 2, loaded: false });
  });
});

test("an unreadable node of a group's B-tree: a listing gives up, a lookup searches the other branches", async () => {
  await h5Ready();
  const t = tempDir();
  try {
    // Forty entries in one group: HDF5 spreads them over several symbol table nodes (at most 8 each).
    const names = Array.from({ length: 40 }, (_, i) => `d${String(i).padStart(2, "0")}`);
    const file = join(t.dir, "group.h5");
    const h5 = H5File.create(file);
    for (const [i, name] of names.entries()) h5.createFixed(`/G/${name}`, "int32", new Int32Array([i]), [1]);
    h5.close();
    const bytes = readFileSync(file);
    const whole = RawH5File.open(file);
    try {
      assert.deepEqual(whole.names(), ["G", ...names.map((n) => `G/${n}`)]);
    } finally {
      whole.close();
    }
    // Each symbol table node of the file made unreadable in turn (its signature overwritten).
    const cases: { lost: string[]; found: string[] }[] = [];
    for (let at = bytes.indexOf("SNOD"); at >= 0; at = bytes.indexOf("SNOD", at + 4)) {
      const broken = Buffer.from(bytes);
      broken.write("XXXX", at, "latin1");
      const path = join(t.dir, `broken-${at}.h5`);
      writeFileSync(path, broken);
      const raw = RawH5File.open(path);
      try {
        assert.equal(raw.names(), null, `node at ${at}: a listing with entries missing`);
        const found = names.filter((n) => raw.header(`/G/${n}`) !== null);
        cases.push({ lost: names.filter((n) => !found.includes(n)), found });
      } finally {
        raw.close();
      }
    }
    // The nodes of /G (the root group's node hides /G itself): each loses only its own entries.
    const ofG = cases.filter((c) => c.found.length > 0);
    assert.ok(ofG.length >= 3, `symbol table nodes of /G: ${ofG.length}`);
    for (const c of ofG) assert.ok(c.lost.length > 0 && c.lost.length <= 8, c.lost.join(" "));
    // Entries in the branches after an unreadable one are still found: the lookup went on past it.
    assert.ok(ofG.some((c) => c.lost[0]! < c.found.at(-1)!));
  } finally {
    t.cleanup();
  }
});
