// Every HDF5 type EXDF files hold, in a file written by h5py as the facility's tools write them:
// compound records (a REMI detector's hits), fixed and variable-length strings, enums, booleans, and
// a type sase cannot decode, which is listed as skipped while the rest of the run stays readable.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isNDArray } from "../../src/core/index.ts";
import { type DataCollection, dtypeText, isRecordData, openRun } from "../../src/files/index.ts";
import { repoRoot, tempDir } from "./helpers.ts";

const REMI = "SQS_REMI_DLD6/DET/TOP:output";
const CTRL = "SQS_REMI_DLD6/DET/TOP";
type Values = { shape: number[]; data: (number | boolean)[] } | string[];
type Expected = Record<string, { dtype: string; values: Values | Record<string, Values> }>;

function plain(v: unknown): Values {
  if (Array.isArray(v)) return v as string[];
  assert.ok(isNDArray(v));
  const data = Array.from(v.data as ArrayLike<number | bigint>, (x) =>
    v.dtype === "bool" ? x !== 0 : Number(x),
  );
  return { shape: [...v.shape], data };
}

describe("HDF5 types written by h5py", () => {
  const t = tempDir("sase-types-");
  const cache = tempDir("sase-cache-");
  let expected: Expected;
  let run: DataCollection;
  before(async () => {
    process.env.XDG_CACHE_HOME = cache.dir;
    const out = execFileSync("/usr/bin/python3", [
      join(repoRoot, "test/files/exdf_types.py"),
      join(t.dir, "RAW-R0042-REMI01-S00000.h5"),
    ]);
    expected = JSON.parse(out.toString()) as Expected;
    run = await openRun(t.dir);
  });
  after(() => {
    run?.close();
    t.cleanup();
    cache.cleanup();
  });

  test("every key reads as h5py reads it, with numpy's dtype text", () => {
    const seen: string[] = [];
    for (const source of run.sources) {
      for (const key of run.keys(source)) {
        const path = `${run.section(source)}/${source}/${key.replaceAll(".", "/")}`;
        const want = expected[path];
        assert.ok(want, `unexpected key ${path}`);
        const kd = run.keyData(source, key);
        // Strings, fixed or variable length, are "object" as numpy gives variable-length ones.
        assert.equal(dtypeText(kd), want.dtype.startsWith("|S") ? "object" : want.dtype, path);
        if (kd.dtype === "record") {
          const r = kd.records();
          assert.equal(r.count, kd.size);
          const got = Object.fromEntries(Object.entries(r.fields).map(([f, v]) => [f, plain(v)]));
          assert.deepEqual(got, want.values, path);
        } else if (kd.dtype === "object") assert.deepEqual(kd.strings(), want.values, path);
        else assert.deepEqual(plain(kd.ndarray()), want.values, path);
        seen.push(path);
      }
    }
    assert.deepEqual(seen.sort(), Object.keys(expected).sort());
  });

  test("an undecodable dataset is skipped with a reason; records come per train too", async () => {
    assert.deepEqual(
      run.skippedKeys.map((k) => [k.source, k.key]),
      [[REMI, "digitizer.ragged"]],
    );
    assert.match(run.skippedKeys[0]?.message ?? "", /unsupported HDF5 element type/);
    assert.deepEqual(run.runValues(CTRL), {
      "enabled.value": true,
      "enabled.timestamp": 0,
      "state.value": 1,
      "state.timestamp": 0,
    });
    let n = 0;
    for await (const { trainId, data } of run.select(REMI, "rec.hits").trains()) {
      const hits = data[REMI]?.["rec.hits"];
      assert.ok(isRecordData(hits));
      assert.equal(hits.count, 4);
      const x = hits.fields.x;
      assert.ok(isNDArray(x));
      assert.deepEqual(
        Array.from(x.data as Float64Array),
        [0, 1, 2, 3].map((i) => (n * 4 + i) * 0.5),
      );
      assert.equal(trainId, 5000 + n++);
    }
    assert.equal(n, 3);
    // The cached run index keeps records and skipped keys.
    const again = await openRun(t.dir);
    assert.equal(again.indexOrigin, "index");
    assert.deepEqual(again.keyData(REMI, "rec.hits").fields, run.keyData(REMI, "rec.hits").fields);
    assert.equal(again.skippedKeys.length, 1);
    again.close();
  });
});
