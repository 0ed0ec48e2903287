// GUI latency: from a train leaving the detector (the module devices' output tokens, stamped when
// written) to its assembled image drawn in the page (measured in the page from the frame's train
// timestamp). Median and p99 at the train rate, frames drawn per second, and trains dropped by the
// page's flow control. Baseline in the same run: the same trains assembled in the GUI server (no
// transport, no drawing), i.e. what the browser path adds on top.
//
//   npm run bench -- gui     SASE_BENCH_SECONDS=30  SASE_BENCH_DETECTOR=standin (default: the simulated
//   AGIPD-1M's trains precomputed and written by the module outputs on every tick) | device (16 module
//   devices simulating every train, in worker threads of this process) | corrected (as `sase start`
//   runs it: 16 module devices following the control device, one correction device per module in
//   correction threads, constants from the simulator's truth in a store; the corrected view is measured
//   first, then the same run switched to the raw view). SASE_BENCH_CELLS=4: memory cells per train
//   (device and corrected modes).
import { cpus, tmpdir } from "node:os";
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  addOnlineCorrection,
  agipdConditions,
  assemblerId,
  ConstantStore,
  constantsFromSensor,
  type DarkConstants,
  storeDarkConstants,
} from "../src/calibration/index.ts";
import {
  AGIPD_1M_DETECTOR,
  corrSourceName,
  DetectorControlDevice,
  DetectorModuleDevice,
  memoryCellsCondition,
  modulePixels,
  rawSourceName,
  SimulatedDetector,
} from "../src/detector/index.ts";
import { threadBudget, threadNice } from "../src/core/index.ts";
import { Facility } from "../src/devices/index.ts";
import { CoreBackend, findDetectorFeed, SelectableImageFeed, startGuiServer } from "../src/gui/index.ts";
import { startDetectorStandIn } from "../test/gui/fixtures.ts";
import { CHROMIUM_ARGS } from "../test/gui/harness.ts";
import { loadAverage, median, percentile } from "./lib/stats.ts";

process.env.SASE_LOG_LEVEL ??= "error";
const seconds = Number(process.env.SASE_BENCH_SECONDS ?? 30);
const rate = Number(process.env.SASE_BENCH_RATE ?? 10);

const mode = process.env.SASE_BENCH_DETECTOR ?? "standin";
const cells = Number(process.env.SASE_BENCH_CELLS ?? 4);
const det = AGIPD_1M_DETECTOR;
let storeDir: string | null = null;

/** A store holding every module's dark constants as a perfect characterisation would find them. */
async function truthStore(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "sase-bench-gui-"));
  const store = await ConstantStore.open(dir);
  const sim = new SimulatedDetector(det, { seed: 1, cells, dark: null });
  const memoryCells = memoryCellsCondition(det, cells - 1);
  const conditions = agipdConditions({ memoryCells, acquisitionRate: 4.5, biasVoltage: 300, gainSetting: 0 });
  const P = modulePixels(det);
  const G = det.gainStages;
  for (let m = 0; m < det.nModules; m++) {
    const truth = constantsFromSensor(sim.sensor(m), memoryCells);
    const thresholds = new Float32Array(memoryCells * (2 * G - 1) * P);
    for (let c = 0; c < memoryCells; c++) {
      thresholds.set(truth.thresholds.subarray(c * (G - 1) * P, (c + 1) * (G - 1) * P), c * (2 * G - 1) * P);
    }
    const dark: DarkConstants = {
      cells: memoryCells,
      stages: G,
      pixels: P,
      offset: truth.offset,
      noise: new Float32Array(truth.offset.length).fill(1),
      thresholds,
      badPixels: truth.badPixels,
    };
    storeDarkConstants(store, det, m, dark, conditions, new Date(0), "simulator truth");
  }
  store.close();
  return dir;
}
const facility = await Facility.standard({ trainRate: rate });
let trainsSent: () => number;
let stopDetector: () => Promise<void>;
if (mode === "standin") {
  const d = await startDetectorStandIn(facility, { distinctTrains: 8 });
  trainsSent = d.written;
  stopDetector = d.stop;
} else {
  const ids = Array.from({ length: 16 }, (_, m) => rawSourceName(det, m).split(":")[0]!);
  await facility.addDevice(DetectorControlDevice, det.controlSource, { "bunchStructure.nPulses": cells });
  for (const [m, id] of ids.entries()) {
    await facility.addDevice(DetectorModuleDevice, id, {
      module: m,
      cells,
      rate,
      control: det.controlSource,
    });
  }
  if (mode === "corrected") {
    storeDir = await truthStore();
    await addOnlineCorrection(facility, { storeRoot: storeDir });
  }
  // Trains sent, as module 0 counts them (polled: the bench must not wait on the device in its loop).
  let sent = 0;
  const poll = setInterval(() => {
    facility.client.get(ids[0]!, "trainsSent").then((n) => {
      sent = Number(n);
    });
  }, 250);
  trainsSent = () => sent;
  stopDetector = async () => clearInterval(poll);
}
const backend = await CoreBackend.connect(facility.client);
const feed = findDetectorFeed();
if (!feed) throw new Error("no detector outputs found");
const assembled: number[] = [];
let measuring = false;
const offBaseline = feed.subscribe((f) => {
  if (measuring) assembled.push(Date.now() - f.sentMs);
});
const gui = await startGuiServer({ backend, image: feed, port: 0 });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: CHROMIUM_ARGS,
});
const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
await page.goto(gui.url);
// First frame: generous on a loaded machine (16 simulated modules start their threads first).
await page.waitForFunction(
  () => (window as unknown as { sase: { stats: unknown } }).sase.stats !== null,
  null,
  {
    timeout: 180_000,
  },
);
await new Promise((r) => setTimeout(r, 3000)); // warm-up: JIT, first layout, binning settled
type Stats = { frames: number; latencies: number[]; paintMs: number[]; arrivalMs: number[]; view: string };
const read = () => page.evaluate(() => (window as unknown as { sase: { stats: Stats } }).sase.stats);
const row = (name: string, xs: number[]) =>
  `${name.padEnd(44)} median ${median(xs).toFixed(1).padStart(7)} ms   p99 ${percentile(xs, 99).toFixed(1).padStart(7)} ms   (n=${xs.length})`;

/** Per-hop times the devices publish for their last train (ms), sampled once a second. */
const hops: [label: string, device: string, key: string][] =
  mode === "standin"
    ? []
    : [
        [
          "module 0: simulating a train (thread wait included)",
          rawSourceName(det, 0).split(":")[0]!,
          "simulationMs",
        ],
        ...(mode === "corrected"
          ? ([
              [
                "correction 0: one module train (thread wait included)",
                corrSourceName(det, 0).split(":")[0]!,
                "processingMs",
              ],
              ["assembler: matched train → image sent", assemblerId(det), "assemblyMs"],
            ] as [string, string, string][])
          : []),
      ];

/** Measures for `secs` seconds and prints the figures of one view of the image. */
async function phase(title: string, secs: number): Promise<void> {
  assembled.length = 0;
  const hopMs = hops.map(() => [] as number[]);
  const cpu0 = process.cpuUsage();
  const live0 = { ...gui.liveStats()! };
  const written0 = trainsSent();
  let frames0 = (await read()).frames;
  measuring = true;
  const t0 = Date.now();
  const lat: number[] = [];
  const paint: number[] = [];
  const arrival: number[] = [];
  while (Date.now() - t0 < secs * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    const s = await read();
    // The page keeps its last 1000-2000 figures; take what is new since the last read.
    const fresh = s.frames - frames0;
    lat.push(...s.latencies.slice(-fresh));
    paint.push(...s.paintMs.slice(-fresh));
    arrival.push(...s.arrivalMs.slice(-fresh));
    frames0 = s.frames;
    await Promise.all(
      hops.map(([, device, key], i) =>
        facility.client.get(device, key).then((v) => hopMs[i]!.push(Number(v))),
      ),
    );
  }
  const cpu = process.cpuUsage(cpu0);
  measuring = false;
  const elapsed = (Date.now() - t0) / 1000;
  const view = (await read()).view;
  const live = gui.liveStats()!;
  const trains = trainsSent() - written0;
  console.log(`\n${title}: frames of ${view}`);
  console.log(row("baseline: train left detector → assembled", assembled));
  console.log(row("train left detector → sent by GUI server", live.sendLatencyMs.slice(-lat.length)));
  console.log(row("train left detector → received by page", arrival));
  console.log(row("train left detector → image drawn in page", lat));
  console.log(row("page: colour-map + draw per frame", paint));
  for (const [i, [label]] of hops.entries()) console.log(row(label, hopMs[i]!));
  console.log(
    `trains sent ${trains} (${(trains / elapsed).toFixed(1)}/s), drawn ${lat.length} (${(lat.length / elapsed).toFixed(1)}/s), ` +
      `dropped for the page ${live.framesDropped - live0.framesDropped}; goal: p99 < 100 ms`,
  );
  const mem = process.memoryUsage();
  console.log(
    `this process (devices, threads, GUI server): ${((cpu.user + cpu.system) / 1e6 / elapsed).toFixed(2)} cores, ` +
      `RSS ${(mem.rss / 2 ** 20).toFixed(0)} MiB; load average ${loadAverage()}`,
  );
}

console.log(
  `GUI latency: ${feed.source} from ${mode === "standin" ? "precomputed trains" : `16 module devices (${cells} cells, simulated in worker threads)`}, ${rate} Hz, ` +
    `Chromium headless (software rendering), 1600×1000 page; ${cpus().length} cores, load average ${loadAverage()}`,
);
if (mode !== "standin") {
  console.log(
    `threads: simulation ${threadBudget("simulation")} (nice ${threadNice("simulation")}), correction ${threadBudget("correction")} (nice ${threadNice("correction")})`,
  );
}
await phase(
  `whole image fitted (binned on the server)${mode === "corrected" ? ", corrected modules assembled by the assembler device" : ""}`,
  seconds,
);
if (mode === "corrected" && feed instanceof SelectableImageFeed) {
  // The same run, the same page: the raw view beside the corrected one.
  feed.selectView("raw");
  await new Promise((r) => setTimeout(r, 2000));
  await phase("whole image fitted (binned on the server), raw modules", seconds);
  feed.selectView("corrected");
}
// Zoom in on the image centre until the page asks for full resolution (only the visible region).
const box = (await page.getByTestId("image-canvas").boundingBox({ timeout: 120_000 }))!;
await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -300);
await new Promise((r) => setTimeout(r, 2000));
await phase("zoomed in to full resolution (visible region only)", Math.max(5, seconds / 2));

await browser.close();
offBaseline();
await gui.close();
await feed.close();
backend.close();
await stopDetector();
await facility.stop();
if (storeDir) rmSync(storeDir, { recursive: true, force: true });
