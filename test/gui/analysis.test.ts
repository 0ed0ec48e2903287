// The analysis graph in Chromium against a real facility (simulated AGIPD modules, motors, DAQ), as
// `sase start` runs it: an operator builds ROI → correlation against the motor by clicking, saves; the
// correlation plot fills with live trains while the motor scans; after a page reload the graph is back
// and still running, from the proposal's saved document on disk. Mask shapes drawn on the live image
// with the mouse land in the graph document and mask the live image.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { addFacilityDaq } from "../../src/daq/index.ts";
import { FACILITY_IDS, Facility } from "../../src/devices/index.ts";
import { type FacilityGui, startFacilityGui } from "../../src/gui/index.ts";
import { launchBrowser, login, screenshot } from "./harness.ts";

process.env.SASE_LOG_LEVEL ??= "error";
const dataDir = mkdtempSync(join(tmpdir(), "sase-gui-analysis-"));
const MOTOR = FACILITY_IDS.motorX;

describe("analysis graph in Chromium", { timeout: 240_000 }, () => {
  let facility: Facility;
  let gui: FacilityGui;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;

  before(async () => {
    facility = await Facility.standard();
    await addFacilityDaq(facility, {
      modules: 2,
      cells: 1,
      onlineRoot: join(dataDir, "online"),
      cataloguePath: join(dataDir, "catalogue.sqlite"),
    });
    gui = await startFacilityGui(facility, {
      port: 0,
      analysisDir: join(dataDir, "analysis"),
      proposal: 900002,
    });
    ({ browser, close: closeBrowser } = await launchBrowser());
  });

  after(async () => {
    await closeBrowser?.();
    await gui?.close();
    await facility?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function openAnalysis(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(60_000);
    page.on("pageerror", (e) => assert.fail(`page error: ${e.message}`));
    await page.goto(gui.url);
    await page.getByTestId("tab-analysis").click();
    await page.getByTestId("analysis-add").waitFor();
    return page;
  }

  const points = async (page: Page) =>
    Number(await page.getByTestId("plot-correlation1-points").getAttribute("data-points"));

  test("ROI → correlation with the motor, built by clicking, runs live, is saved and comes back", async () => {
    let page = await openAnalysis();
    await login(page, "operator", "operator");
    await page.getByTestId("tab-analysis").click();
    for (const kind of ["detector", "roi", "property", "correlation"]) {
      await page.getByTestId("analysis-kind").selectOption(kind);
      await page.getByTestId("analysis-add").click();
    }
    // The ROI wired itself to the detector's image; give it a region around the beam.
    assert.equal(await page.getByTestId("input-roi1-image").inputValue(), "detector1.image");
    for (const [k, v] of Object.entries({ x: "400", y: "400", w: "300", h: "300" })) {
      await page.getByTestId(`param-roi1-${k}`).fill(v);
    }
    await page.getByTestId("param-property1-device").fill(MOTOR);
    await page.getByTestId("param-property1-key").fill("position");
    await page.getByTestId("input-correlation1-x").selectOption("property1.value");
    await page.getByTestId("input-correlation1-y").selectOption("roi1.sum");
    await page.getByTestId("analysis-name").fill("roi-vs-motor");
    await page.getByTestId("analysis-save").click();
    await page.getByTestId("analysis-status").filter({ hasText: "saved revision 1" }).waitFor();

    // The motor scans while trains arrive: points appear at more than one position.
    await facility.client.set(MOTOR, "velocity", 20);
    await facility.client.set(MOTOR, "targetPosition", 4);
    await facility.client.execute(MOTOR, "move");
    await page.waitForFunction(
      () =>
        Number(
          document.querySelector('[data-testid="plot-correlation1-points"]')?.getAttribute("data-points"),
        ) >= 8,
    );
    assert.match((await page.getByTestId("node-stats-roi1").textContent()) ?? "", /\d+\.\d Hz · \d+\.\d ms/);
    assert.notEqual(await page.getByTestId("value-roi1-sum").textContent(), "–");
    await screenshot(page, "analysis-live");

    // Stored as the proposal's graph, in the canonical document format.
    const saved = JSON.parse(readFileSync(join(dataDir, "analysis", "p900002", "roi-vs-motor.json"), "utf8"));
    assert.equal(saved.revision, 1);
    assert.deepEqual(
      saved.nodes.map((n: { id: string }) => n.id),
      ["detector1", "roi1", "property1", "correlation1"],
    );

    // Reload: the graph is back (from the server) and its plot still fills.
    await page.close();
    page = await openAnalysis();
    await page.getByTestId("node-correlation1").waitFor();
    assert.equal(await page.getByTestId("input-correlation1-x").inputValue(), "property1.value");
    assert.equal(await page.getByTestId("param-roi1-w").inputValue(), "300");
    await page.waitForFunction(
      () =>
        Number(
          document.querySelector('[data-testid="plot-correlation1-points"]')?.getAttribute("data-points"),
        ) >= 8,
    );
    // An observer may watch but not change the graph.
    await page.getByTestId("analysis-reset").click();
    await page.getByTestId("analysis-status").filter({ hasText: "needs the operator role" }).waitFor();
    assert.ok((await points(page)) >= 8);
    await page.close();
  });

  test("rectangle, circle and polygon masks drawn on the image are saved as geometry and mask live", async () => {
    const page = await openAnalysis();
    await login(page, "operator", "operator");
    await page.getByTestId("tab-analysis").click();
    // Start from an empty graph (an earlier test may have saved one for the proposal).
    for (let b = page.locator('[data-testid^="node-remove-"]'); (await b.count()) > 0; )
      await b.first().click();
    for (const kind of ["detector", "mask", "roi", "roi"]) {
      await page.getByTestId("analysis-kind").selectOption(kind);
      await page.getByTestId("analysis-add").click();
    }
    await page.getByTestId("input-roi2-image").selectOption("mask1.image");
    await page.locator('[data-testid="image-train"][data-train]').waitFor();
    const box = (await page.getByTestId("image-canvas").boundingBox())!;
    const drag = async (x0: number, y0: number, x1: number, y1: number) => {
      await page.mouse.move(x0, y0);
      await page.mouse.down();
      await page.mouse.move(x1, y1, { steps: 4 });
      await page.mouse.up();
    };
    // The rectangle spans the canvas, so most of the (fitted) image.
    await page.getByTestId("draw-mask1-rect").click();
    await drag(box.x + 1, box.y + 1, box.x + box.width - 1, box.y + box.height - 1);
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    await page.getByTestId("draw-mask1-circle").click();
    await drag(cx, cy, cx + 40, cy);
    await page.getByTestId("draw-mask1-polygon").click();
    await page.mouse.click(cx - 60, cy - 60);
    await page.mouse.click(cx + 60, cy - 60);
    await page.mouse.dblclick(cx, cy + 60);
    const shapes = JSON.parse(await page.getByTestId("param-mask1-shapes").inputValue());
    assert.deepEqual(
      shapes.map((s: { type: string }) => s.type),
      ["rect", "circle", "polygon"],
    );
    const rect = shapes[0];
    assert.ok(rect.w > 100 && rect.h > 100, `rect ${JSON.stringify(rect)}`);
    assert.ok(shapes[1].r > 10, `circle ${JSON.stringify(shapes[1])}`);
    assert.equal(shapes[2].points.length, 3);
    // Two ROIs on the pixels inside the rectangle: roi1 on the detector image, roi2 after the mask.
    const x = Math.ceil(Math.max(0, rect.x));
    const y = Math.ceil(Math.max(0, rect.y));
    const region = { x, y, w: Math.floor(rect.x + rect.w) - x, h: Math.floor(rect.y + rect.h) - y };
    for (const r of ["roi1", "roi2"]) {
      for (const [k, v] of Object.entries(region)) await page.getByTestId(`param-${r}-${k}`).fill(String(v));
    }
    await page.getByTestId("analysis-name").fill("masks");
    await page.getByTestId("analysis-save").click();
    await page.getByTestId("analysis-status").filter({ hasText: "saved revision 1" }).waitFor();

    // Live: the unmasked sum is not zero, the masked one is (every pixel is under the rectangle).
    await page.waitForFunction(() =>
      ["value-roi1-sum", "value-roi2-sum"].every(
        (id) => document.querySelector(`[data-testid="${id}"]`)?.textContent !== "–",
      ),
    );
    assert.notEqual(Number(await page.getByTestId("value-roi1-sum").textContent()), 0);
    assert.equal(Number(await page.getByTestId("value-roi2-sum").textContent()), 0);
    // Saved as geometry in the proposal's graph document.
    const saved = JSON.parse(readFileSync(join(dataDir, "analysis", "p900002", "masks.json"), "utf8"));
    const mask = saved.nodes.find((n: { id: string }) => n.id === "mask1");
    assert.deepEqual(mask.params.shapes, shapes);
    await screenshot(page, "analysis-masks");
    await page.close();
  });
});
