// Each node kind on small images and known numbers: masks (drawn, thresholds, bad pixels), background,
// ROIs, hits, pump-probe, correlation, binning, histograms, statistics, reset, and a user node that is
// edited on disk while the graph runs.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { GraphRunner, isImage, isVector, type PortValue } from "../../src/analysis/index.ts";
import { until } from "../helpers/until.ts";
import { graphDoc, makeTrain } from "./helpers.ts";

const num = (v: PortValue | undefined) => v as number;

test("mask, ROI and hits: drawn shapes, thresholds and bad pixels become NaN and are skipped", async () => {
  const runner = await GraphRunner.create(
    graphDoc([
      { id: "det", kind: "detector" },
      {
        id: "mask",
        kind: "mask",
        params: {
          shapes: [
            { type: "rect", x: 0, y: 0, w: 2, h: 16 },
            // Pixel centres within 1.5 of (5, 12): x 4..5 on rows 11..12.
            { type: "circle", x: 5, y: 12, r: 1.5 },
            {
              type: "polygon",
              points: [
                [10, 10],
                [14, 10],
                [14, 14],
                [10, 14],
              ],
            },
          ],
          high: 50,
        },
        inputs: { image: "det.image" },
      },
      { id: "roi", kind: "roi", params: { x: 0, y: 0, w: 4, h: 2 }, inputs: { image: "mask.image" } },
      {
        id: "hits",
        kind: "hits",
        params: { threshold: 5, minPixels: 3, trains: 2 },
        inputs: { image: "mask.image" },
      },
    ]),
  );
  // Pixel value = x; pixel (3, 1) = 99 is above the threshold mask.
  const t = makeTrain(1, (x, y) => (x === 3 && y === 1 ? 99 : x));
  const r = runner.process({
    ...t,
    badPixels: Uint8Array.from({ length: 256 }, (_, i) => (i === 2 ? 1 : 0)),
  });
  const img = r.get("mask.image");
  assert.ok(isImage(img));
  const masked = [...img.data].filter(Number.isNaN).length;
  assert.equal(
    masked,
    32 + 4 + 16 + 1 + 1,
    "two columns, the circle, the 4×4 polygon, a hot and a bad pixel",
  );
  for (const [x, y] of [
    [4, 11],
    [5, 12],
  ])
    assert.ok(Number.isNaN(img.data[y * 16 + x]!), `circle pixel (${x}, ${y})`);
  // ROI x 0..3, y 0..1: columns 0,1 masked; (2,0) bad; (3,1) hot → only (3,0)=3 and (2,1)=2 remain.
  assert.equal(num(r.get("roi.sum")), 5);
  assert.equal(num(r.get("roi.mean")), 2.5);
  const projX = r.get("roi.projX");
  assert.ok(isVector(projX));
  assert.deepEqual([...projX.x], [0, 1, 2, 3]);
  assert.deepEqual([...projX.y], [0, 0, 2, 3]);
  // Lit pixels > 5: x = 6..15 on 16 rows, less those masked by the polygon (x 10..13 on rows 10..13).
  assert.equal(num(r.get("hits.pixels")), 10 * 16 - 16);
  assert.equal(num(r.get("hits.hit")), 1);
  const dark = runner.process(makeTrain(2, () => 0));
  assert.equal(num(dark.get("hits.hit")), 0);
  assert.equal(num(dark.get("hits.hitRate")), 0.5);
});

test("background: the mean of the first trains is subtracted; reset records it again", async () => {
  const runner = await GraphRunner.create(
    graphDoc([
      { id: "det", kind: "detector" },
      { id: "bg", kind: "background", params: { trains: 2, offset: 1 }, inputs: { image: "det.image" } },
      { id: "roi", kind: "roi", params: { x: 0, y: 0, w: 1, h: 1 }, inputs: { image: "bg.image" } },
    ]),
  );
  assert.equal(runner.process(makeTrain(1, () => 10)).has("roi.sum"), false, "recording");
  assert.equal(num(runner.process(makeTrain(2, () => 20)).get("roi.sum")), 20 - 15 - 1);
  assert.equal(num(runner.process(makeTrain(3, () => 40)).get("roi.sum")), 40 - 15 - 1);
  runner.reset("bg");
  assert.equal(runner.process(makeTrain(4, () => 40)).has("roi.sum"), false, "recording again after reset");
  assert.throws(() => runner.reset("nope"), /no node "nope"/);
});

test("pump-probe by even/odd and by lists, with difference and ratio", async () => {
  const runner = await GraphRunner.create(
    graphDoc([
      { id: "det", kind: "detector" },
      { id: "eo", kind: "pumpProbe", inputs: { pulses: "det.pulseEnergy" } },
      {
        id: "ls",
        kind: "pumpProbe",
        params: { pattern: "lists", on: [1, 2], off: [0, 9] },
        inputs: { pulses: "det.pulseEnergy" },
      },
    ]),
  );
  const r = runner.process(makeTrain(1, () => 0, {}, [4, 1, 6, 3]));
  assert.deepEqual(
    ["on", "off", "difference", "ratio"].map((k) => num(r.get(`eo.${k}`))),
    [5, 2, 3, 2.5],
  );
  assert.deepEqual(
    ["on", "off", "difference", "ratio"].map((k) => num(r.get(`ls.${k}`))),
    [3.5, 4, -0.5, 3.5 / 4],
  );
  assert.equal(runner.process(makeTrain(2, () => 0, {}, [])).has("eo.on"), false, "no pulses, no figure");
});

test("correlation, 1D/2D binning, histogram and statistics accumulate over trains until reset", async () => {
  const runner = await GraphRunner.create(
    graphDoc([
      { id: "det", kind: "detector" },
      { id: "motor", kind: "property", params: { device: "M/X", key: "position" } },
      { id: "y2", kind: "property", params: { device: "M/Y", key: "position" } },
      { id: "roi", kind: "roi", params: { x: 0, y: 0, w: 2, h: 1 }, inputs: { image: "det.image" } },
      { id: "corr", kind: "correlation", params: { points: 3 }, inputs: { x: "motor.value", y: "roi.sum" } },
      {
        id: "b1",
        kind: "bin1d",
        params: { min: 0, max: 4, bins: 2 },
        inputs: { x: "motor.value", y: "roi.sum" },
      },
      {
        id: "b2",
        kind: "bin2d",
        params: { xMin: 0, xMax: 4, xBins: 2, yMin: 0, yMax: 2, yBins: 2 },
        inputs: { x: "motor.value", y: "y2.value", z: "roi.sum" },
      },
      { id: "h", kind: "histogram", params: { min: 0, max: 10, bins: 5 }, inputs: { value: "roi.sum" } },
      {
        id: "hi",
        kind: "histogram",
        params: { min: 0, max: 4, bins: 4, accumulate: false },
        inputs: { value: "det.image" },
      },
      { id: "st", kind: "statistics", params: { trains: 2 }, inputs: { value: "roi.sum" } },
    ]),
  );
  let r = runner.process(makeTrain(1, () => 0));
  assert.equal(r.has("corr.points"), false, "no motor position yet: correlation skips the train");
  assert.equal(runner.stats().find((s) => s.id === "corr")!.skipped, 1);
  for (const [k, pos] of [1, 2, 3, 4].entries()) {
    r = runner.process(makeTrain(k + 2, () => pos, { "M/X.position": pos, "M/Y.position": 0.5 }));
  }
  const corr = r.get("corr.points");
  assert.ok(isVector(corr));
  assert.deepEqual([...corr.x], [2, 3, 4], "the latest 3 points");
  assert.deepEqual([...corr.y], [4, 6, 8]);
  const b1 = r.get("b1.mean");
  assert.ok(isVector(b1));
  assert.deepEqual([...b1.x], [1, 3]);
  assert.deepEqual([...b1.y], [2, 6], "x in [0,2): sums 2; [2,4]: 4, 6, 8 (last bin closed)");
  const b2 = r.get("b2.mean");
  assert.ok(isImage(b2));
  assert.deepEqual(
    [...b2.data].map((v) => (Number.isNaN(v) ? null : v)),
    [2, 6, null, null],
  );
  const h = r.get("h.counts");
  assert.ok(isVector(h));
  assert.deepEqual([...h.y], [1, 1, 1, 1, 1], "sums 0, 2, 4, 6, 8 in bins of 2 (the last bin closed)");
  const hi = r.get("hi.counts");
  assert.ok(isVector(hi));
  assert.deepEqual([...hi.y], [0, 0, 0, 256], "this train's image only: every pixel is 4");
  assert.equal(num(r.get("st.mean")), 7);
  assert.equal(num(r.get("st.std")), 1);
  assert.deepEqual([num(r.get("st.min")), num(r.get("st.max"))], [6, 8]);
  runner.reset();
  r = runner.process(makeTrain(9, () => 1, { "M/X.position": 1, "M/Y.position": 0.5 }));
  assert.deepEqual([...(r.get("corr.points") as { x: Float64Array }).x], [1], "reset clears the points");
  assert.deepEqual([...(r.get("h.counts") as { y: Float64Array }).y], [0, 1, 0, 0, 0], "only the sum 2");
});

test("a user node is a TypeScript file; editing it changes the next train's result", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sase-user-node-"));
  const file = join(dir, "brightest.ts");
  const code = (factor: number) => `
import type { UserNode } from "sase";
const node: UserNode = {
  inputs: { image: "image" },
  outputs: { top: "scalar" },
  run: ({ image }, _train, state) => {
    const img = image as { data: Float32Array };
    let top = -Infinity;
    for (const v of img.data) if (v > top) top = v;
    state.n = ((state.n as number) ?? 0) + 1;
    return { top: top * ${factor} + (state.n as number) * 0 };
  },
};
export default node;
`;
  writeFileSync(file, code(1));
  const runner = await GraphRunner.create(
    graphDoc([
      { id: "det", kind: "detector" },
      { id: "u", kind: "user", params: { file: "brightest.ts" }, inputs: { image: "det.image" } },
      { id: "st", kind: "statistics", inputs: { value: "u.top" } },
    ]),
    { baseDir: dir, watchUserNodes: true },
  );
  try {
    assert.equal(num(runner.process(makeTrain(1, (x) => x)).get("u.top")), 15);
    const user = runner.userFiles[0]!;
    writeFileSync(file, code(10));
    utimesSync(file, new Date(), new Date(Date.now() + 2000)); // a new time stamp even on coarse clocks
    await until(
      () => user.reloads >= 1 && num(runner.process(makeTrain(2, (x) => x)).get("u.top")) === 150,
      "the user node to reload",
    );
    assert.equal(user.error, null);
    // A broken edit keeps the last good code and reports why.
    writeFileSync(file, "export default {");
    utimesSync(file, new Date(), new Date(Date.now() + 4000));
    await until(
      () => user.error !== null,
      () => `the user node to reload ${user.reloads} ${user.error} ${readFileSync(file, "utf8")}`,
    );
    assert.match(user.error ?? "", /cannot load the user node/);
    assert.equal(num(runner.process(makeTrain(3, (x) => x)).get("u.top")), 150);
  } finally {
    runner.close();
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(
    GraphRunner.create(graphDoc([{ id: "u", kind: "user", params: { file: "missing.ts" } }]), {
      baseDir: dir,
    }),
    /missing.ts: no user node file at/,
  );
});

test("live, a node slower than its budget drops trains while the others process every one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sase-slow-node-"));
  writeFileSync(
    join(dir, "slow.ts"),
    `export default { inputs: { image: "image" }, outputs: { v: "scalar" }, run: () => { const t = performance.now(); while (performance.now() - t < 30) {} return { v: 1 }; } };\n`,
  );
  const runner = await GraphRunner.create(
    graphDoc([
      { id: "det", kind: "detector" },
      { id: "slow", kind: "user", params: { file: "slow.ts" }, inputs: { image: "det.image" } },
      { id: "roi", kind: "roi", inputs: { image: "det.image" } },
    ]),
    { baseDir: dir, nodeBudgetMs: 10 },
  );
  try {
    for (let k = 0; k < 20; k++) {
      runner.process(makeTrain(k, () => 1));
      await new Promise((r) => setTimeout(r, 10));
    }
    const stats = Object.fromEntries(runner.stats().map((s) => [s.id, s]));
    assert.equal(stats.roi!.processed, 20, "the fast node saw every train");
    assert.ok(stats.slow!.dropped > 0, `the slow node dropped trains (processed ${stats.slow!.processed})`);
    assert.equal(stats.slow!.processed + stats.slow!.dropped, 20);
    assert.ok(stats.slow!.meanMs >= 30);
  } finally {
    runner.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
