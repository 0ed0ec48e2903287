// A run-table variable that is an analysis graph's output: the cell holds what `sase analyse` gives for
// the same graph and run (mean over trains, the accumulated value, or one value per train), an edit of
// the graph file recomputes only the graph's variables, and a wrong output name is refused when the
// context loads, naming the graph.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { analyseRun, GRAPH_FORMAT, GraphRunner, isVector } from "../../src/analysis/index.ts";
import { Catalogue } from "../../src/daq/index.ts";
import { AGIPD_1M_DETECTOR } from "../../src/detector/index.ts";
import { openRun } from "../../src/files/index.ts";
import { computeRun, contextPath, loadContext, TableStore } from "../../src/table/index.ts";
import { tempRoots } from "../daq/helpers.ts";
import { simulatedRun, writeContext } from "./helpers.ts";

const graph = (roiWidth: number) => ({
  format: GRAPH_FORMAT,
  version: 1,
  proposal: 900030,
  name: "table",
  revision: 1,
  nodes: [
    { id: "det", kind: "detector" },
    { id: "roi", kind: "roi", params: { x: 0, y: 0, w: roiWidth, h: 2000 }, inputs: { image: "det.image" } },
    { id: "az", kind: "azimuthal", params: { bins: 16 }, inputs: { image: "det.image" } },
    { id: "hist", kind: "histogram", params: { bins: 8, max: 65536 }, inputs: { value: "roi.mean" } },
  ],
});

const context = (graphFile: string) => `
import { defineContext, graphVariable } from "sase";
const g = ${JSON.stringify(graphFile)};
export default defineContext({
  roiSum: graphVariable(g, "roi.sum", { title: "ROI sum", unit: "ADU" }),
  roiPerTrain: graphVariable(g, "roi.sum", { reduce: "trains" }),
  iq: graphVariable(g, "az.iq", { title: "I(q)" }),
  hist: graphVariable(g, "hist.counts"),
  label: { title: "Label", compute: (_run, { run }) => "run " + run },
});
`;

test("a table variable is an analysis graph's output, equal to what sase analyse gives", {
  timeout: 120_000,
}, async () => {
  const roots = tempRoots();
  const cat = Catalogue.open(roots.catalogue);
  try {
    // Full-size modules: the graph assembles them with the AGIPD-1M quadrant geometry.
    const run = await simulatedRun(cat, roots, 900030, { trains: 2, detector: AGIPD_1M_DETECTOR });
    const path = contextPath(roots.offline, 900030);
    const graphFile = join(dirname(path), "iq-graph.json");
    writeContext(path, context(graphFile));
    writeFileSync(graphFile, JSON.stringify(graph(300)));
    const store = new TableStore(cat, roots.catalogue);
    const outcomes = await computeRun(store, run, await loadContext(path));
    assert.deepEqual(
      outcomes.map((o) => `${o.name}:${o.status}${o.error ? ` ${o.error}` : ""}`),
      ["roiSum:computed", "roiPerTrain:computed", "iq:computed", "hist:computed", "label:computed"],
    );

    // The same graph through analyseRun, as `sase analyse` runs it.
    const dc = await openRun(run.onlinePath);
    const ref = await analyseRun(dc, await GraphRunner.create(graph(300)));
    dc.close();
    const perTrain = Array.from(ref.scalar("roi.sum"));
    assert.equal(perTrain.length, 2);
    assert.ok(
      perTrain.every((v) => v > 0),
      "the ROI lies on the modules",
    );
    const cell = (name: string) => store.cell(run.id, name)!;
    const array = async (name: string) => Array.from((await store.readArray(cell(name))).data);
    const mean = perTrain.reduce((a, b) => a + b) / perTrain.length;
    assert.ok(Math.abs((cell("roiSum").value as number) - mean) <= 1e-9 * mean, "mean over the trains");
    assert.equal(cell("roiSum").kind, "number");
    assert.deepEqual(await array("roiPerTrain"), perTrain, "one value per train");
    const iqs = ref.values("az.iq").filter(isVector);
    const iqMean = iqs[0]!.y.map((_, i) => iqs.reduce((s, v) => s + v.y[i]!, 0) / iqs.length);
    const iq = await array("iq");
    assert.equal(iq.length, 16);
    iq.forEach((v, i) => {
      const r = iqMean[i]!;
      assert.ok(Number.isNaN(r) ? Number.isNaN(v) : Math.abs(v - r) <= 1e-9 * Math.abs(r), `I(q) bin ${i}`);
    });
    const hist = ref.values("hist.counts")[0];
    assert.ok(isVector(hist));
    assert.deepEqual(
      await array("hist"),
      Array.from(hist.y),
      "an accumulating node: its value after the run",
    );
    assert.equal(
      (await array("hist")).reduce((a, b) => a + b),
      2,
    );

    // Editing the graph recomputes its variables, nothing else.
    writeFileSync(graphFile, JSON.stringify(graph(100)));
    const edited = await computeRun(store, run, await loadContext(path));
    assert.deepEqual(
      edited.filter((o) => o.status === "computed").map((o) => o.name),
      ["roiSum", "roiPerTrain", "iq", "hist"],
    );
    assert.ok((cell("roiSum").value as number) < mean, "a narrower ROI sums less");

    // A wrong output is refused when the context loads.
    writeContext(path, context(graphFile).replace('"az.iq"', '"azz.iq"'));
    await assert.rejects(loadContext(path), /analysis graph .*iq-graph\.json has no node "azz"/);
  } finally {
    cat.close();
    roots.done();
  }
});
