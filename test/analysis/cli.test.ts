// sase analyse on a recorded run: the graph's results as HDF5 (read back with Debian's h5py) and CSV,
// a correlation of an ROI with a recorded device property, no silent overwrite, and one-line errors
// naming what is wrong with a graph; the notebook helper reads the results file back.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AGIPD_1M_DETECTOR, writeSimulatedRun, XGM_SOURCE } from "../../src/detector/index.ts";
import { readGraphResults } from "../../src/notebook/index.ts";
import { sase, tempDir } from "../cli/helpers.ts";
import { graphDoc } from "./helpers.ts";

const tmp = tempDir("sase-analyse-");
const run = join(tmp.dir, "r0001");
const graph = join(tmp.dir, "g.json");

before(async () => {
  mkdirSync(run);
  await writeSimulatedRun(run, {
    detector: AGIPD_1M_DETECTOR,
    run: 1,
    trains: 4,
    modules: 2,
    cells: 2,
    seed: 5,
  });
  writeFileSync(
    graph,
    JSON.stringify(
      graphDoc([
        { id: "det", kind: "detector" },
        { id: "xgm", kind: "property", params: { device: XGM_SOURCE, key: "pulseEnergy.photonFlux" } },
        { id: "roi", kind: "roi", params: { x: 100, y: 20, w: 200, h: 250 }, inputs: { image: "det.image" } },
        { id: "az", kind: "azimuthal", params: { bins: 32 }, inputs: { image: "det.image" } },
        { id: "corr", kind: "correlation", inputs: { x: "xgm.value", y: "roi.sum" } },
      ]),
    ),
  );
});
after(() => tmp.cleanup());

test("sase analyse writes HDF5 that h5py reads and CSV, and refuses to overwrite them", {
  timeout: 180_000,
}, async () => {
  const out = join(tmp.dir, "results.h5");
  const r = await sase(["analyse", run, "--graph", graph, "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /analysed 4 trains in .* → .*results.h5 and .*results.csv/);
  const csv = readFileSync(join(tmp.dir, "results.csv"), "utf8").trim().split("\n");
  assert.equal(csv[0], "trainId,xgm.value,roi.sum,roi.mean");
  assert.equal(csv.length, 5);
  const py = execFileSync(
    "/usr/bin/python3",
    [
      "-c",
      `import h5py, json, sys
f = h5py.File(sys.argv[1], "r")
print(json.dumps({"trainId": f["trainId"][:].tolist(), "dtype": str(f["trainId"].dtype),
  "iq": list(f["az/iq"].shape), "q": f["az/iq_x"].shape[0], "roi": f["roi/sum"][:].tolist(),
  "xgm": f["xgm/value"][:].tolist(), "cx": f["corr/points_x"][:].tolist(), "cy": f["corr/points"][:].tolist(),
  "graph": json.loads(f["graph"][()])["name"]}))`,
      out,
    ],
    { encoding: "utf8" },
  );
  const h = JSON.parse(py);
  assert.deepEqual(h.trainId, [10000, 10001, 10002, 10003]);
  assert.equal(h.dtype, "uint64");
  assert.deepEqual(h.iq, [4, 32]);
  assert.equal(h.q, 32);
  assert.ok(
    h.roi.every((v: number) => v > 0),
    "the ROI lies on module 0 or 1",
  );
  assert.deepEqual(h.cx, h.xgm, "correlation x: the XGM's recorded mean energy per train");
  assert.deepEqual(h.cy, h.roi, "correlation y: the ROI sum");
  assert.equal(h.graph, "test");
  assert.deepEqual(
    csv.slice(1).map((l) => Number(l.split(",")[2])),
    h.roi,
    "CSV and HDF5 hold the same numbers",
  );
  // The notebook helper reads the same file: numbers per train, curves per train with their x.
  const nb = await readGraphResults(out);
  assert.deepEqual(nb.trainIds, h.trainId);
  assert.deepEqual(Array.from(nb.values("roi.sum")), h.roi);
  const iq = nb.outputs.get("az.iq");
  assert.ok(iq?.kind === "curve" && iq.rows === 4 && iq.x.length === 32);
  const corr = nb.plot("corr.points");
  assert.ok("series" in corr && corr.series[0]?.style === "points", "a correlation plots as points");
  const again = await sase(["analyse", run, "--graph", graph, "--out", out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^sase: TARGET_EXISTS: .*results.h5 exists; give --force to replace it\n$/);
});

test("sase analyse names what is wrong with a graph in one line", { timeout: 120_000 }, async () => {
  const bad = join(tmp.dir, "bad.json");
  writeFileSync(
    bad,
    JSON.stringify(
      graphDoc([
        { id: "det", kind: "detector" },
        { id: "r", kind: "roi", inputs: { image: "det.imag" } },
      ]),
    ),
  );
  const r = await sase(["analyse", run, "--graph", bad]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^sase: BAD_GRAPH: .*bad.json: nodes\[1\] "r".inputs.image: "det.imag": det has no output "imag" \(outputs: image, pulseEnergy\)\n$/,
  );
});
