// Live and offline give identical results for the same trains: a simulated raw run is played to the
// detector's module outputs (real in-process pipeline channels) and assembled by the GUI's live feed,
// as `sase start` does (modules 0–3, the first quadrant: top left of the image); the same graph then runs offline on the run's files (`analyseRun`, as
// `sase analyse` does). Every output of every node agrees bit for bit, train by train.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  analyseRun,
  GraphRunner,
  imageGeometry,
  isImage,
  isVector,
  liveTrain,
  type PortValue,
  type TrainResults,
} from "../../src/analysis/index.ts";
import { isNDArray, ndarray } from "../../src/core/index.ts";
import {
  AGIPD_1M_DETECTOR,
  agipdQuadrantGeometry,
  rawSourceName,
  writeSimulatedRun,
  XGM_OUTPUT,
} from "../../src/detector/index.ts";
import { openRun } from "../../src/files/index.ts";
import { DetectorImageFeed, type LiveFrame } from "../../src/gui/index.ts";
import { OutputChannel } from "../../src/pipeline/index.ts";
import { graphDoc } from "./helpers.ts";

process.env.SASE_LOG_LEVEL ??= "error";
const MODULES = 4;
const TRAINS = 5;
const dir = mkdtempSync(join(tmpdir(), "sase-live-offline-"));
const det = AGIPD_1M_DETECTOR;

const GRAPH = graphDoc([
  { id: "det", kind: "detector" },
  {
    id: "mask",
    kind: "mask",
    params: {
      shapes: [
        {
          type: "polygon",
          points: [
            [300, 300],
            [500, 350],
            [400, 500],
          ],
        },
      ],
      high: 60000,
    },
    inputs: { image: "det.image" },
  },
  { id: "roi1", kind: "roi", params: { x: 100, y: 100, w: 300, h: 250 }, inputs: { image: "mask.image" } },
  { id: "roi2", kind: "roi", params: { x: 420, y: 400, w: 50, h: 80 }, inputs: { image: "det.image" } },
  { id: "az", kind: "azimuthal", params: { bins: 128 }, inputs: { image: "mask.image" } },
  { id: "hits", kind: "hits", params: { threshold: 6000, minPixels: 10 }, inputs: { image: "mask.image" } },
  { id: "pp", kind: "pumpProbe", inputs: { pulses: "det.pulseEnergy" } },
  { id: "corr", kind: "correlation", inputs: { x: "roi2.sum", y: "roi1.sum" } },
  { id: "hist", kind: "histogram", params: { min: 0, max: 1e8, bins: 50 }, inputs: { value: "roi1.sum" } },
  { id: "stats", kind: "statistics", params: { trains: 3 }, inputs: { value: "pp.difference" } },
]);

let trainIds: number[] = [];
before(async () => {
  trainIds = await writeSimulatedRun(dir, {
    detector: det,
    run: 1,
    trains: TRAINS,
    modules: MODULES,
    cells: 4,
    seed: 11,
  });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function same(a: PortValue | undefined, b: PortValue | undefined, what: string): void {
  assert.ok(
    a !== undefined && b !== undefined,
    `${what}: live ${a === undefined ? "missing" : "present"}, offline ${b === undefined ? "missing" : "present"}`,
  );
  if (typeof a === "number") assert.ok(Object.is(a, b), `${what}: live ${a}, offline ${String(b)}`);
  else if (isImage(a) && isImage(b)) assert.deepEqual(a.data, b.data, what);
  else if (isVector(a) && isVector(b)) {
    assert.deepEqual(a.x, b.x, `${what} x`);
    assert.deepEqual(a.y, b.y, `${what} y`);
  } else assert.fail(`${what}: different types`);
}

test("live (pipeline → assembled feed) and offline (run files) give identical results train by train", {
  timeout: 120_000,
}, async () => {
  const run = await openRun(dir);
  const geometry = agipdQuadrantGeometry(det);
  // Live: the run's trains written to the module and XGM outputs, one train at a time.
  const outputs = Array.from({ length: MODULES }, (_, m) => new OutputChannel(rawSourceName(det, m)));
  const xgm = new OutputChannel(XGM_OUTPUT);
  const feed = new DetectorImageFeed({
    label: "test",
    geometry,
    moduleOutputs: Array.from({ length: det.nModules }, (_, m) =>
      m < MODULES ? rawSourceName(det, m) : null,
    ),
    xgm: { output: XGM_OUTPUT, key: "data.intensityTD" },
    inputDeviceId: "TEST/LIVE/OFFLINE",
  });
  const live = await GraphRunner.create(GRAPH);
  const liveResults = new Map<number, TrainResults>();
  let waiting: ((f: LiveFrame) => void) | null = null;
  const unsubscribe = feed.subscribe((f) => waiting?.(f));
  try {
    const deadline = Date.now() + 30_000;
    while (![...outputs, xgm].every((o) => o.stats().connections > 0)) {
      assert.ok(Date.now() < deadline, "the live feed did not connect");
      await new Promise((r) => setTimeout(r, 20));
    }
    const modules = outputs.map((_, m) => run.keyData(rawSourceName(det, m), "image.data"));
    const pulses = run.keyData(XGM_OUTPUT, "data.intensityTD");
    for (const trainId of trainIds) {
      const frame = new Promise<LiveFrame>((resolve) => {
        waiting = resolve;
      });
      const e = pulses.trainData(trainId);
      await xgm.write({ data: { intensityTD: isNDArray(e) ? e.data : [] } }, { trainId });
      await new Promise((r) => setTimeout(r, 20)); // the energies reach the feed before the modules
      await Promise.all(
        outputs.map((out, m) => {
          const a = modules[m]!.trainData(trainId);
          if (!isNDArray(a)) throw new Error("module data is not an array");
          return out.write({ image: { data: ndarray(a.data, [...a.shape]) } }, { trainId });
        }),
      );
      const f = await frame;
      assert.equal(f.trainId, trainId);
      liveResults.set(trainId, live.process(liveTrain(f, imageGeometry(geometry), () => undefined)));
    }
  } finally {
    unsubscribe();
    await feed.close();
    await Promise.all([...outputs, xgm].map((o) => o.close()));
  }
  // Offline: the same graph on the run's files.
  const offline = await GraphRunner.create(GRAPH);
  const collected = new Map<number, TrainResults>();
  const originalProcess = offline.process.bind(offline);
  offline.process = (t) => {
    const r = originalProcess(t);
    collected.set(t.trainId, r);
    return r;
  };
  await analyseRun(run, offline, { detector: det });
  run.close();
  assert.equal(collected.size, TRAINS);
  let compared = 0;
  for (const trainId of trainIds) {
    const a = liveResults.get(trainId)!;
    const b = collected.get(trainId)!;
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), `train ${trainId}: same outputs`);
    for (const name of a.keys()) {
      same(a.get(name), b.get(name), `train ${trainId} ${name}`);
      compared++;
    }
  }
  assert.ok(compared === TRAINS * 26, `compared ${compared} outputs`);
  const first = liveResults.get(trainIds[0]!)!;
  assert.ok((first.get("roi1.sum") as number) > 0, "the ROI sees photons");
  assert.ok(Number.isFinite(first.get("pp.difference") as number), "the XGM's pulses reached both");
});
