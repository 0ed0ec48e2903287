// The run-table view in Chromium against a catalogue filled by the table layer: cells (values and a
// variable's error) appear, a row fills live when its run is computed, clicking a cell shows its plot
// or image, an operator's comment is stored with the user and logged, and CSV export matches
// `sase table --csv`.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { Catalogue, type RunRecord } from "../../src/daq/index.ts";
import { Facility } from "../../src/devices/index.ts";
import { type FacilityGui, RunTableBackend, startFacilityGui } from "../../src/gui/index.ts";
import {
  computeRun,
  contextPath,
  loadContext,
  TableStore,
  tableCsv,
  tableOf,
} from "../../src/table/index.ts";
import { tempRoots } from "../daq/helpers.ts";
import { CONTEXT, simulatedRun, writeContext } from "../table/helpers.ts";
import { until } from "../helpers/until.ts";
import { launchBrowser, login, screenshot } from "./harness.ts";

process.env.SASE_LOG_LEVEL ??= "error";
const PROPOSAL = 900030;

describe("run table in Chromium", { timeout: 180_000 }, () => {
  const roots = tempRoots();
  let cat: Catalogue;
  let store: TableStore;
  let runs: RunRecord[];
  let facility: Facility;
  let gui: FacilityGui;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;

  before(async () => {
    cat = Catalogue.open(roots.catalogue);
    store = new TableStore(cat, roots.catalogue);
    runs = [
      await simulatedRun(cat, roots, PROPOSAL, { trains: 2 }),
      await simulatedRun(cat, roots, PROPOSAL, { trains: 2 }),
    ];
    writeContext(contextPath(roots.offline, PROPOSAL), CONTEXT);
    // Only the first run is computed before the page opens; the second fills while it watches.
    await computeRun(store, runs[0]!, await loadContext(contextPath(roots.offline, PROPOSAL)));
    facility = await Facility.standard();
    gui = await startFacilityGui(facility, { port: 0, table: new RunTableBackend(roots.catalogue, 200) });
    ({ browser, close: closeBrowser } = await launchBrowser());
  });

  after(async () => {
    await closeBrowser?.();
    await gui?.close();
    await facility?.stop();
    cat?.close();
    roots.done();
  });

  async function openTable(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(60_000);
    page.on("pageerror", (e) => assert.fail(`page error: ${e.message}`));
    await page.goto(gui.url);
    await page.getByTestId("tab-table").click();
    return page;
  }

  test("cells show values and errors, fill live, and open their plot or image", async () => {
    const page = await openTable();
    const [r1, r2] = [runs[0]!.number, runs[1]!.number];
    const xgm = store.cell(runs[0]!.id, "xgm")!.value as number;
    const shown = page.getByTestId(`cell-${r1}-xgm`);
    await shown.filter({ hasText: /\d/ }).waitFor();
    assert.ok(
      Math.abs(Number(await shown.textContent()) - xgm) < 1e-4 * xgm,
      `${await shown.textContent()} vs ${xgm}`,
    );
    assert.match((await page.getByTestId(`cell-${r1}-broken`).textContent()) ?? "", /no beam in this run/);
    assert.equal(await page.getByTestId(`cell-${r2}-xgm`).textContent(), "…");

    // A job elsewhere fills run 2: the page follows without reloading.
    await computeRun(store, runs[1]!, await loadContext(contextPath(roots.offline, PROPOSAL)));
    await page
      .getByTestId(`cell-${r2}-label`)
      .filter({ hasText: `run ${r2}` })
      .waitFor();

    await page.getByTestId(`cell-${r1}-image`).click();
    await page.getByTestId("cell-image").waitFor();
    await page.getByTestId(`cell-${r1}-xgm`).click();
    await page.getByTestId("cell-plot").locator("canvas").first().waitFor();
    assert.match((await page.getByTestId("cell-detail-title").textContent()) ?? "", /XGM mean \[µJ\] · run/);
    await screenshot(page, "run-table");

    // CSV export is the same table the CLI prints.
    const csv = await page.evaluate(
      async (p) => (await fetch(`/api/table.csv?proposal=${p}`)).text(),
      PROPOSAL,
    );
    const { columns, rows } = tableOf(store, PROPOSAL);
    assert.equal(csv, tableCsv(columns, rows));
    await page.close();
  });

  test("an observer cannot comment; an operator's comment is stored with the user and logged", async () => {
    const page = await openTable();
    const r1 = runs[0]!.number;
    assert.equal(await page.getByTestId(`comment-${r1}`).evaluate((e) => e.tagName), "SPAN");
    await login(page, "operator", "operator");
    await page.getByTestId("tab-table").click();
    const input = page.getByTestId(`comment-${r1}`);
    await input.fill('sample moved, "quoted"');
    await input.press("Enter");
    await until(
      () => store.comment(runs[0]!.id) === 'sample moved, "quoted"',
      "the comment in the catalogue",
    );
    assert.equal(store.commentHistory(runs[0]!.id).at(-1)!.user, "operator");
    assert.ok(gui.server.audit.recent().some((e) => e.action === "comment" && e.user === "operator" && e.ok));
    await page.close();
  });
});
