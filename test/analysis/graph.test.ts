// The graph document: validation names the field at fault and what was expected; the canonical text is
// stable (a save of an unchanged graph is byte-identical) and round-trips.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkGraph,
  formatGraph,
  GraphError,
  type GraphNodeDoc,
  parseGraphDocument,
} from "../../src/analysis/index.ts";
import { graphDoc } from "./helpers.ts";

const ok: GraphNodeDoc[] = [
  { id: "det", kind: "detector" },
  { id: "roi1", kind: "roi", params: { x: 1, y: 2, w: 3, h: 4 }, inputs: { image: "det.image" } },
  { id: "motor", kind: "property", params: { device: "M/X", key: "position" } },
  { id: "corr", kind: "correlation", inputs: { x: "motor.value", y: "roi1.sum" } },
];

function refuses(nodes: unknown[], pattern: RegExp): void {
  assert.throws(
    () => checkGraph(graphDoc(nodes as never)),
    (e: unknown) => e instanceof GraphError && pattern.test(e.message),
  );
}

test("a valid graph is ordered so every node follows those it reads", () => {
  const g = checkGraph(graphDoc([ok[3]!, ok[1]!, ok[2]!, ok[0]!]));
  const order = g.nodes.map((n) => n.id);
  assert.ok(order.indexOf("det") < order.indexOf("roi1"));
  assert.ok(order.indexOf("roi1") < order.indexOf("corr"));
  assert.ok(order.indexOf("motor") < order.indexOf("corr"));
  assert.equal(g.nodes.find((n) => n.id === "corr")!.params.points, 1000, "defaults filled in");
});

test("validation errors name the node, the field and what was expected", () => {
  refuses([{ id: "a", kind: "roii" }], /nodes\[0\] "a".kind: no node kind "roii" \(did you mean "roi"\?\)/);
  refuses(
    [ok[0], { id: "r", kind: "roi", params: { w: -1 }, inputs: { image: "det.image" } }],
    /"r".params.w: must be ≥ 1, got -1/,
  );
  refuses(
    [ok[0], { id: "r", kind: "roi", params: { z: 1 }, inputs: { image: "det.image" } }],
    /params.z: unknown parameter; this node takes x, y, w, h/,
  );
  refuses([ok[0], { id: "r", kind: "roi" }], /"r".inputs.image: required input is not connected \(image\)/);
  refuses(
    [ok[0], { id: "r", kind: "roi", inputs: { image: "det.imag" } }],
    /"det.imag": det has no output "imag" \(outputs: image, pulseEnergy\)/,
  );
  refuses(
    [ok[0], { id: "r", kind: "roi", inputs: { image: "dett.image" } }],
    /no node "dett" \(did you mean "det"\?\)/,
  );
  refuses(
    [ok[0], ok[1], { id: "c", kind: "correlation", inputs: { x: "roi1.projX", y: "roi1.sum" } }],
    /"roi1.projX" is a vector, this input takes scalar/,
  );
  refuses([ok[0], { id: "det", kind: "roi" }], /another node is called "det"/);
  refuses(
    [
      { id: "a", kind: "statistics", inputs: { value: "b.mean" } },
      { id: "b", kind: "statistics", inputs: { value: "a.mean" } },
    ],
    /cycle: a → b → a/,
  );
  refuses([{ id: "u", kind: "user" }], /"u".params.file: a user node needs the path of its .ts file/);
  refuses(
    [{ id: "m", kind: "mask", params: { shapes: [{ type: "ellipse" }] } }],
    /params.shapes\[0\].type: expected "rect", "circle" or "polygon"/,
  );
  assert.throws(
    () => parseGraphDocument({ ...graphDoc([]), version: 99 }),
    /version: this sase reads versions 1..1, got 99/,
  );
  assert.throws(
    () => parseGraphDocument({ ...graphDoc([]), format: "x" }),
    /format: expected "sase.analysis-graph"/,
  );
  assert.throws(() => parseGraphDocument({ ...graphDoc([]), name: "../etc" }), /name: expected a name/);
});

test("the canonical text is stable, diffable and round-trips", () => {
  const doc = parseGraphDocument(graphDoc([{ ...ok[1]!, params: { y: 2, x: 1, h: 4, w: 3 } }, ok[0]!]));
  const text = formatGraph(doc);
  assert.equal(formatGraph(parseGraphDocument(JSON.parse(text))), text, "unchanged graph → identical text");
  assert.ok(
    text.includes('"params": {\n        "h": 4,\n        "w": 3,\n        "x": 1,\n        "y": 2\n      }'),
    text,
  );
  // One parameter changed → one line of the text changed.
  const changed = formatGraph({
    ...doc,
    nodes: [{ ...doc.nodes[0]!, params: { ...doc.nodes[0]!.params, w: 30 } }, doc.nodes[1]!],
  });
  const a = text.split("\n");
  const b = changed.split("\n");
  assert.equal(a.length, b.length);
  assert.deepEqual(
    a.filter((l, i) => l !== b[i]),
    ['        "w": 3,'],
  );
});
