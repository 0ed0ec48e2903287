// The GUI in a real browser (Debian's Chromium through playwright-core) against a real embedded facility
// with the simulated AGIPD's module devices and the DAQ, set up as `sase start` does: the topology
// loads, an observer sees the live detector image update with new train IDs but is refused any change,
// a property edit round-trips, a bad value shows its error beside the field, a slot call changes the
// state, and a run is recorded and flagged from the runs panel.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { addFacilityDaq, Catalogue } from "../../src/daq/index.ts";
import { AGIPD_1M_DETECTOR, modulesNearestBeam, rawSourceName } from "../../src/detector/index.ts";
import { FACILITY_IDS, Facility } from "../../src/devices/index.ts";
import { type FacilityGui, type GuiServer, startFacilityGui } from "../../src/gui/index.ts";
import { launchBrowser, login, screenshot } from "./harness.ts";

process.env.SASE_LOG_LEVEL ??= "error";
const dataDir = mkdtempSync(join(tmpdir(), "sase-gui-test-"));
const MOTOR = FACILITY_IDS.motorX;
const VIEWPORT = { width: 1600, height: 1000 };

describe("GUI in Chromium", { timeout: 240_000 }, () => {
  let facility: Facility;
  let facilityGui: FacilityGui;
  let gui: GuiServer;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;

  before(async () => {
    facility = await Facility.standard();
    // The real detector path: module devices sending raw trains (4 of 16 modules, one cell, to spare
    // this 2-core machine), recorded by the DAQ; the GUI finds both as in `sase start`.
    await addFacilityDaq(facility, {
      modules: 4,
      cells: 1,
      onlineRoot: join(dataDir, "online"),
      cataloguePath: join(dataDir, "catalogue.sqlite"),
    });
    facilityGui = await startFacilityGui(facility, { port: 0 });
    gui = facilityGui.server;
    ({ browser, close: closeBrowser } = await launchBrowser());
  });

  after(async () => {
    await closeBrowser?.();
    await facilityGui?.close();
    await facility?.stop();
  });

  async function openPage(): Promise<Page> {
    const page = await browser.newPage({ viewport: VIEWPORT });
    // This machine is shared and often loaded: be patient rather than flaky.
    page.setDefaultTimeout(60_000);
    page.on("pageerror", (e) => assert.fail(`page error: ${e.message}`));
    const failed: string[] = [];
    failedLoads.set(page, failed);
    page.on("console", (m) => {
      if (m.type() === "error" && /Failed to load resource/.test(m.text())) failed.push(m.text());
    });
    await page.goto(gui.url);
    return page;
  }
  /** Per page, what the browser could not load (a 404 shows only in its console). */
  const failedLoads = new WeakMap<Page, string[]>();

  test("an observer sees the topology and live image but is refused any change", async () => {
    const page = await openPage();
    // Tree: host → server → classes → devices with their state colours.
    const row = page.getByTestId(`device-${MOTOR}`);
    await row.waitFor();
    assert.equal(await row.getAttribute("data-state"), "STATIC");
    const dot = await row.locator(".state-dot").evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(dot, "rgb(0, 170, 0)", "STATIC is Karabo's green");
    await page.getByTestId(`device-${FACILITY_IDS.timing}`).waitFor();
    // Search narrows the tree.
    await page.getByTestId("tree-search").fill("timing");
    await page.getByTestId(`device-${MOTOR}`).waitFor({ state: "detached" });
    await page.getByTestId("tree-search").fill("");

    // The device panel shows values but nothing is editable, no slot can be pressed.
    await row.click();
    await page.getByTestId("value-velocity").waitFor();
    assert.equal(await page.getByTestId("role").textContent(), "observer");
    assert.ok(await page.getByTestId("input-velocity").isDisabled());
    assert.ok(await page.getByTestId("slot-move").isDisabled());
    await screenshot(page, "observer");

    // Even a hand-made request through the page's own socket is refused by the server and logged.
    const reply = await page.evaluate(async () => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      await new Promise((r) => ws.addEventListener("open", r));
      return new Promise<string>((resolve) => {
        ws.addEventListener("message", (ev) => {
          const m = JSON.parse(ev.data as string);
          if (m.t === "reply") resolve(JSON.stringify(m));
        });
        ws.send(
          JSON.stringify({ t: "set", req: 1, deviceId: "SASE_SIM_MOTOR/MOTOR/X", values: { velocity: 9 } }),
        );
      });
    });
    const parsed = JSON.parse(reply) as { ok: boolean; error: { message: string } };
    assert.equal(parsed.ok, false);
    assert.match(parsed.error.message, /needs the operator role; you are observer/);
    assert.equal(await facility.client.get(MOTOR, "velocity"), 5, "the refused change was not applied");
    const refused = gui.audit.recent().find((e) => e.action === "set" && !e.ok);
    assert.equal(refused?.user, "anonymous");

    // Live image: the assembled detector, new train IDs keep arriving and are drawn.
    assert.match(facilityGui.imageSource ?? "", /SPB_DET_AGIPD1M-1 \(raw, 4 of 16 modules\)/);
    const first = await waitForTrain(page, 0);
    const later = await waitForTrain(page, first);
    assert.ok(later > first, `image train ${later} after ${first}`);
    const shown = Number(await page.getByTestId("image-train").getAttribute("data-train"));
    assert.ok(shown >= later, "the header shows the train drawn");
    assert.deepEqual(failedLoads.get(page), [], "every resource of the page loads (the icon too)");
    // Per-pixel readout under the mouse.
    const box = (await page.getByTestId("image-canvas").boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    assert.match((await page.getByTestId("readout").textContent()) ?? "", /x \d+ {2}y \d+ {2}value /);
    // A region of interest (shift-drag; an observer may, it changes nothing in the facility) gets its
    // sum plotted per train, next to the radial profile.
    await page.keyboard.down("Shift");
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.7, { steps: 4 });
    await page.mouse.up();
    await page.keyboard.up("Shift");
    await page.waitForFunction(() => {
      const p = (window as unknown as { sase: { plots: { roi: number; radial: number } } }).sase.plots;
      return p.roi >= 2 && p.radial > 10;
    });
    await screenshot(page, "observer-live");

    // When the detector stops, the page says so instead of passing the last image off as live.
    // The facility simulates the four modules nearest the beam.
    const modules = modulesNearestBeam(AGIPD_1M_DETECTOR)
      .slice(0, 4)
      .map((m) => rawSourceName(AGIPD_1M_DETECTOR, m).split(":")[0]!);
    await Promise.all(modules.map((id) => facility.client.execute(id, "stop")));
    await page.waitForFunction(() =>
      document.querySelector("[data-testid=image-train]")?.textContent?.startsWith("no new trains for"),
    );
    await Promise.all(modules.map((id) => facility.client.execute(id, "start")));
    await waitForTrain(page, later);
    await page.close();
  });

  test("an operator edits a property, sees a bad value's error beside the field, and calls slots", async () => {
    const page = await openPage();
    // Select first, then log in: the panel rebuilds for the new role on the new connection.
    await page.getByTestId(`device-${MOTOR}`).click();
    await page.getByTestId("value-velocity").waitFor();
    await login(page, "operator", "operator");
    assert.equal(await page.getByTestId("role").textContent(), "operator");
    const velocity = page.getByTestId("input-velocity");
    await velocity.waitFor();
    await page.waitForFunction(() => {
      const el = document.querySelector("[data-testid=input-velocity]") as HTMLInputElement | null;
      return el !== null && !el.disabled;
    });

    // Round trip: the value comes back from the device, with a timestamp and train ID.
    await velocity.fill("7.5");
    await page.getByTestId("apply").click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=value-velocity]")?.textContent === "7.5",
    );
    assert.equal(await facility.client.get(MOTOR, "velocity"), 7.5);
    const train = Number(await page.locator("tr[data-key=velocity] td.train").textContent());
    assert.ok(train > 0, "the update carries a train ID");

    // A bad value (above the maximum) and a good one together: the error sits next to the bad field and
    // nothing is applied, not even the good value.
    await page.getByTestId("input-targetPosition").fill("20");
    await velocity.fill("1000");
    await page.getByTestId("apply").click();
    const err = page.getByTestId("error-velocity");
    await err.waitFor({ state: "visible" });
    // The code comes first, as the CLI prints it.
    assert.match((await err.textContent()) ?? "", /^OUT_OF_RANGE: Velocity must be ≤ 100 mm\/s/);
    assert.equal(await facility.client.get(MOTOR, "velocity"), 7.5);
    assert.equal(await facility.client.get(MOTOR, "targetPosition"), 0, "all or nothing");
    await screenshot(page, "bad-value");

    // Fix it and move: the slot call puts the motor in MOVING, Stop brings it back to STATIC. Slowly
    // (100 s to the target), so that it is still moving when Stop is clicked on a loaded machine.
    await velocity.fill("0.2");
    await page.getByTestId("apply").click();
    await err.waitFor({ state: "hidden" });
    await page.waitForFunction(
      () => document.querySelector("[data-testid=value-targetPosition]")?.textContent === "20",
    );
    // Plot the position over time while the motor moves.
    await page.locator("tr[data-key=position] button.trend").click();
    await page.getByTestId("slot-move").click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=panel-state]")?.textContent === "MOVING",
    );
    await page.waitForFunction(
      (id) => document.querySelector(`[data-testid="device-${id}"]`)?.getAttribute("data-state") === "MOVING",
      MOTOR,
    );
    assert.ok(await page.getByTestId("slot-move").isDisabled(), "Move is not allowed while MOVING");
    await page.waitForFunction(
      () => (window as unknown as { sase: { plots: { trend: number } } }).sase.plots.trend >= 3,
    );
    assert.match((await page.getByTestId("trend-label").textContent()) ?? "", /MOTOR\/X\.position/);
    await screenshot(page, "moving");
    await page.getByTestId("slot-stop").click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=panel-state]")?.textContent === "STATIC",
    );
    assert.equal(await facility.client.get(MOTOR, "state"), "STATIC");
    // Every change is logged with who made it.
    const mine = gui.audit.recent().filter((e) => e.user === "operator" && e.ok);
    assert.deepEqual(
      mine.map((e) => e.action),
      ["login", "set", "set", "call", "call"],
    );
    // Expert-only properties stay locked for an operator.
    assert.ok(await page.getByTestId("input-upperLimit").isDisabled());

    // Runs: record a run with a sample name, stop it, flag it; the catalogue has it.
    await page.getByTestId("tab-runs").click();
    await page.getByTestId("run-sample").fill("lysozyme");
    await page.getByTestId("run-start").click();
    await page.waitForFunction(() =>
      document.querySelector("[data-testid=run-state]")?.textContent?.startsWith("RECORDING"),
    );
    await page.waitForTimeout(600);
    await page.getByTestId("run-stop").click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=run-state]")?.textContent === "ACQUIRING",
    );
    await page.getByTestId("quality-1").selectOption("good");
    await page.waitForFunction(() => {
      const sel = document.querySelector("[data-testid=quality-1]") as HTMLSelectElement | null;
      return sel?.value === "good";
    });
    await screenshot(page, "runs");
    const cat = Catalogue.open(join(dataDir, "catalogue.sqlite"));
    try {
      const run = cat.runs()[0]!;
      assert.equal(run.sample, "lysozyme");
      assert.equal(run.quality, "good");
      assert.ok(run.trains > 0, `run recorded ${run.trains} trains`);
    } finally {
      cat.close();
    }
    assert.ok(gui.audit.recent().some((e) => e.action === "quality" && e.user === "operator" && e.ok));
    await page.close();
  });
});

/** Waits until the page has drawn an image of a train after `after`; returns its train ID. */
async function waitForTrain(page: Page, after: number): Promise<number> {
  await page.waitForFunction(
    (a) => {
      const s = (window as unknown as { sase: { stats: { lastTrainId: number } | null } }).sase.stats;
      return s !== null && s.lastTrainId > a;
    },
    after,
    { timeout: 60_000 },
  );
  return page.evaluate(
    () => (window as unknown as { sase: { stats: { lastTrainId: number } } }).sase.stats.lastTrainId,
  );
}
