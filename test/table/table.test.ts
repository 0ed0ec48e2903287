import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { Catalogue, LocalExecutor, migrateAndCalibrate, waitForJobs } from "../../src/daq/index.ts";
import { XGM_SOURCE } from "../../src/detector/index.ts";
import { openRun } from "../../src/files/index.ts";
import {
  computeRun,
  contextPath,
  loadContext,
  submitTableJob,
  TableStore,
  tableCsv,
  tableOf,
} from "../../src/table/index.ts";
import { tempRoots } from "../daq/helpers.ts";
import { CONTEXT, simulatedRun, tableCli, writeContext } from "./helpers.ts";

test("migration queues a table job that fills the run's row; errors stay in their cells", async () => {
  const roots = tempRoots();
  const cat = Catalogue.open(roots.catalogue);
  try {
    const run = await simulatedRun(cat, roots, 900020);
    writeContext(contextPath(roots.offline, 900020), CONTEXT);
    const executor = new LocalExecutor(2);
    const t0 = performance.now();
    const { jobs } = await migrateAndCalibrate(cat, {
      offlineRoot: roots.offline,
      executor,
      calibrate: false,
      onMigrated: (r) => submitTableJob(cat, roots, r, executor.name),
    });
    assert.deepEqual(
      jobs.map((j) => j.kind),
      ["table"],
    );
    const [job] = await waitForJobs(cat, executor, { timeoutMs: 120_000, intervalMs: 100 });
    assert.equal(job!.state, "done", job!.error ?? "");
    console.log(`migrated → row filled: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // The table job is not a correction: the run's calibration status is untouched.
    assert.equal(cat.runById(run.id).calibration, "none");

    const store = new TableStore(cat, roots.catalogue);
    const cells = Object.fromEntries(store.cells(run.id).map((c) => [c.name, c]));
    const dc = await openRun(cat.runById(run.id).offlinePath!);
    const flux = dc.keyData(XGM_SOURCE, "pulseEnergy.photonFlux").ndarray().data as Float32Array;
    dc.close();
    const xgm = Array.from(flux).reduce((a, b) => a + b, 0) / flux.length;
    assert.ok(Math.abs((cells.xgm!.value as number) - xgm) < 1e-9 * Math.abs(xgm));
    assert.ok(xgm > 0);
    assert.equal(cells.xgmDouble!.value, (cells.xgm!.value as number) * 2);
    assert.equal(cells.label!.value, `run ${run.number}`);
    assert.equal(cells.roi!.kind, "number");
    assert.ok((cells.roi!.value as number) > 0);
    assert.equal(cells.pulses!.kind, "array");
    assert.deepEqual(cells.pulses!.shape, [4]);
    assert.ok(existsSync(cells.pulses!.h5Path!));
    const img = await store.readArray(cells.image!);
    assert.deepEqual(img.shape, [2, 3]);
    assert.deepEqual(Array.from(img.data), [1, 2, 3, 4, 5, 6]);
    assert.equal(cells.broken!.kind, "error");
    assert.equal(cells.broken!.error, "no beam in this run");
    assert.match(cells.afterBroken!.error!, /depends on broken, which failed: no beam/);
    assert.match(cells.missing!.error!, /the run has no source SPB_CAM\/NONE/);
    assert.equal(cells.xgm!.contextVersion, (await loadContext(contextPath(roots.offline, 900020))).version);

    // The CLI prints the same table; CSV quotes what needs it.
    const { columns, rows } = tableOf(store, 900020);
    const csv = tableCsv(columns, rows);
    assert.match(csv.split("\r\n")[0]!, /^run,quality,XGM mean \[µJ\],Twice XGM,ROI sum \[ADU\],Label,/);
    assert.match(csv, /error: no beam in this run/);
    const cli = await tableCli("table", "--csv", "--catalogue", roots.catalogue);
    assert.equal(cli.code, 0, cli.err);
    assert.equal(cli.out, csv);
  } finally {
    cat.close();
    roots.done();
  }
});

test("recompute touches only what changed: an edited variable and its dependents, or new data", async () => {
  const roots = tempRoots();
  const cat = Catalogue.open(roots.catalogue);
  try {
    const run = await simulatedRun(cat, roots, 900021, { trains: 2 });
    const path = contextPath(roots.offline, 900021);
    writeContext(path, CONTEXT);
    const store = new TableStore(cat, roots.catalogue);
    const first = await computeRun(store, run, await loadContext(path));
    assert.equal(first.filter((o) => o.status === "unchanged").length, 0);
    const again = await computeRun(store, run, await loadContext(path));
    assert.ok(again.every((o) => o.status === "unchanged"));

    writeContext(path, CONTEXT.replace("* 2 :", "* 3 :").replace('"run " + run', '"run #" + run'));
    const edited = await computeRun(store, run, await loadContext(path));
    const changed = edited.filter((o) => o.status !== "unchanged").map((o) => o.name);
    assert.deepEqual(changed.sort(), ["label", "xgmDouble"]);
    assert.equal(store.cell(run.id, "label")!.value, `run #${run.number}`);

    const only = await computeRun(store, run, await loadContext(path), { only: ["xgm"], force: true });
    assert.deepEqual(
      only.map((o) => o.name),
      ["xgm"],
    );

    // Comments: every edit is kept with its user.
    store.setComment(run.id, "first look", "alice");
    store.setComment(run.id, "sample moved", "bob");
    assert.equal(store.comment(run.id), "sample moved");
    assert.deepEqual(
      store.commentHistory(run.id).map((c) => c.user),
      ["alice", "bob"],
    );

    const bad = await tableCli(
      "table",
      "recompute",
      "--var",
      "nope",
      "--catalogue",
      roots.catalogue,
      "--offline",
      roots.offline,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^sase: BAD_CONTEXT: the context has no variable nope \(it has: xgm, xgmDouble/m);
  } finally {
    cat.close();
    roots.done();
  }
});

test("a context that does not load, or a malformed one, is reported naming the file", async () => {
  const roots = tempRoots();
  try {
    const path = contextPath(roots.offline, 900022);
    writeContext(path, "export default { x: { title: 'X' } };");
    await assert.rejects(loadContext(path), /context\.ts: variable x needs a compute function/);
    writeContext(
      path,
      "export default { a: { title: 'A', dependsOn: ['b'], compute: () => 1 }, b: { title: 'B', dependsOn: ['a'], compute: () => 1 } };",
    );
    await assert.rejects(loadContext(path), /cycle: a → b → a/);
    writeContext(path, "export default {{;");
    await assert.rejects(loadContext(path), /context file .*context\.ts does not load/);
  } finally {
    roots.done();
  }
});
