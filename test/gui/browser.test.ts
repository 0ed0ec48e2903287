// The GUI in a real browser (Debian's Chromium through playwright-core) against a real embedded facility:
// the topology loads, a property edit round-trips, a bad value shows its error beside the field, a slot
// call changes the state, the live detector image updates with new train IDs, and an observer is refused.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { DetectorGeometry } from "../../src/calibration/index.ts";
import { XGM_OUTPUT } from "../../src/detector/index.ts";
import { FACILITY_IDS, Facility } from "../../src/devices/index.ts";
import { type GuiServer, startGuiServer } from "../../src/gui/index.ts";
import { CoreBackend } from "../../src/gui/server/core-backend.ts";
import { DetectorImageFeed } from "../../src/gui/server/detector-feed.ts";
import { moduleOutputs, startDetectorStandIn, XGM_KEY } from "./fixtures.ts";
import { launchBrowser, login, screenshot } from "./harness.ts";

process.env.SASE_LOG_LEVEL ??= "error";
const MOTOR = FACILITY_IDS.motorX;
const VIEWPORT = { width: 1600, height: 1000 };

describe("GUI in Chromium", { timeout: 240_000 }, () => {
  let facility: Facility;
  let backend: CoreBackend;
  let feed: DetectorImageFeed;
  let gui: GuiServer;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;

  before(async () => {
    facility = await Facility.standard();
    backend = await CoreBackend.connect(facility.client);
    feed = new DetectorImageFeed({
      label: "SPB_DET_AGIPD1M-1 (raw, assembled)",
      geometry: DetectorGeometry.agipd1mFromQuadPositions(),
      moduleOutputs: moduleOutputs(),
      xgm: { output: XGM_OUTPUT, key: XGM_KEY },
    });
    gui = await startGuiServer({ backend, image: feed, port: 0 });
    ({ browser, close: closeBrowser } = await launchBrowser());
  });

  after(async () => {
    await closeBrowser?.();
    await gui?.close();
    await feed?.close();
    backend?.close();
    await facility?.stop();
  });

  async function openPage(): Promise<Page> {
    const page = await browser.newPage({ viewport: VIEWPORT });
    // This machine is shared and often loaded: be patient rather than flaky.
    page.setDefaultTimeout(60_000);
    page.on("pageerror", (e) => assert.fail(`page error: ${e.message}`));
    await page.goto(gui.url);
    return page;
  }

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

    // Live image: the detector starts sending; new train IDs keep arriving and are drawn.
    const detector = await startDetectorStandIn(facility);
    try {
      const first = await waitForTrain(page, 0);
      const later = await waitForTrain(page, first);
      assert.ok(later > first, `image train ${later} after ${first}`);
      await page.waitForFunction(() => (document.querySelector(".uplot") as HTMLElement | null) !== null);
      await screenshot(page, "observer-live");
    } finally {
      await detector.stop();
    }
    await page.close();
  });

  test("an operator edits a property, sees a bad value's error beside the field, and calls slots", async () => {
    const page = await openPage();
    await login(page, "operator", "operator");
    assert.equal(await page.getByTestId("role").textContent(), "operator");
    await page.getByTestId(`device-${MOTOR}`).click();
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
    assert.match((await err.textContent()) ?? "", /Velocity must be ≤ 100 mm\/s/);
    assert.equal(await facility.client.get(MOTOR, "velocity"), 7.5);
    assert.equal(await facility.client.get(MOTOR, "targetPosition"), 0, "all or nothing");
    await screenshot(page, "bad-value");

    // Fix it and move: the slot call puts the motor in MOVING, Stop brings it back to STATIC.
    await velocity.fill("2");
    await page.getByTestId("apply").click();
    await err.waitFor({ state: "hidden" });
    await page.waitForFunction(
      () => document.querySelector("[data-testid=value-targetPosition]")?.textContent === "20",
    );
    await page.getByTestId("slot-move").click();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=panel-state]")?.textContent === "MOVING",
    );
    await page.waitForFunction(
      (id) => document.querySelector(`[data-testid="device-${id}"]`)?.getAttribute("data-state") === "MOVING",
      MOTOR,
    );
    assert.ok(await page.getByTestId("slot-move").isDisabled(), "Move is not allowed while MOVING");
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
