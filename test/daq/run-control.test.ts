import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Catalogue, DaqController } from "../../src/daq/index.ts";
import { openRun, validateRun } from "../../src/files/index.ts";
import { tempRoots, waitForTrains } from "./helpers.ts";
import { MOTOR, moduleSource, startSimFacility } from "./simfacility.ts";

const DAQ = "SPB_DAQ/RUN/CONTROL";

test("run control records motors and two detector modules into a numbered, catalogued EXDF run", async () => {
  const roots = tempRoots();
  const sim = await startSimFacility({ modules: 2, cells: 2 });
  const { facility } = sim;
  try {
    await facility.addDevice(DaqController, DAQ, {
      dataSources: [MOTOR, moduleSource(0), moduleSource(1)],
      onlineRoot: roots.online,
      cataloguePath: roots.catalogue,
      trainTimeoutMs: 300,
      trainsPerSequence: 8,
      runType: "test",
      sample: "none",
    });
    const c = facility.client;
    assert.equal(await c.get(DAQ, "state"), "STOPPED");
    await c.execute(DAQ, "monitor");
    assert.equal(await c.get(DAQ, "runState"), "ACQUIRING");
    const started = (await c.execute(DAQ, "record")) as { run: number; directory: string };
    assert.equal(started.run, 1);
    assert.equal(await c.get(DAQ, "runState"), "RECORDING");
    await waitForTrains(c, DAQ, 4);
    await c.execute(MOTOR, "moveTo", { position: 3 });
    await c.waitFor(MOTOR, "state", (s) => s === "STATIC", 10_000);
    // Trains recorded after the move has ended must carry the new position (under load, ten trains
    // may already be on disk by the time the move ends).
    const afterMove = (await c.get(DAQ, "trainsRecorded")) as number;
    await waitForTrains(c, DAQ, Math.max(10, afterMove + 3));
    const stopped = (await c.execute(DAQ, "stopRecording")) as { run: number; trains: number };
    assert.ok(stopped.trains >= 10, `only ${stopped.trains} trains`);
    await sleep(600); // figures are published every 500 ms
    const stats = (await c.get(DAQ, "sourceStats")) as {
      source: string;
      received: number;
      missing: number;
    }[];
    assert.deepEqual(
      stats.map((s) => s.source),
      [moduleSource(0), moduleSource(1)],
    );
    assert.ok(stats.every((s) => s.received > 0));
    assert.ok(((await c.get(DAQ, "matchRatio")) as number) > 0.8);
    // A second run gets the next number.
    const second = (await c.execute(DAQ, "record")) as { run: number };
    assert.equal(second.run, 2);
    await sleep(300);
    await c.execute(DAQ, "stop");
    assert.equal(await c.get(DAQ, "state"), "STOPPED");

    const cat = Catalogue.open(roots.catalogue);
    const run = cat.findRun(900001, 1)!;
    assert.equal(run.state, "closed");
    assert.equal(run.trains, stopped.trains);
    assert.equal(run.runType, "test");
    assert.deepEqual(run.sources.sort(), [MOTOR, moduleSource(0), moduleSource(1)].sort());
    assert.equal(cat.findRun(900001, 2)!.state, "closed");
    cat.close();

    const data = await openRun(started.directory);
    assert.equal(data.trainIds.length, stopped.trains);
    assert.ok(
      data.files.some((f) => f.includes("AGIPD01-S00001")),
      data.files.join(" "),
    );
    const pos = data.keyData(MOTOR, "position").ndarray().data as Float64Array;
    assert.equal(pos[0], 0);
    assert.ok(pos[pos.length - 1]! > 0, "the motor's move is recorded");
    const counts = data.keyData(moduleSource(1), "image.data").dataCounts().counts;
    assert.ok([...counts].filter((n) => n === 2).length >= counts.length - 2);
    data.close();
    const problems = await validateRun(started.directory);
    assert.deepEqual(problems, []);
    const prov = JSON.parse(readFileSync(join(started.directory, "provenance.json"), "utf8"));
    assert.equal(prov.devices[MOTOR].velocity, 100);
    assert.equal(prov.recordedBy.device, DAQ);
  } finally {
    await sim.stop();
    roots.done();
  }
});

test("wrong and silent sources are reported with the fix", async () => {
  const roots = tempRoots();
  const sim = await startSimFacility({ modules: 2, cells: 1, silent: [1] });
  const { facility } = sim;
  try {
    await facility.addDevice(DaqController, DAQ, {
      dataSources: ["SPB_IRU_MOTORS/MOTR/X"],
      onlineRoot: roots.online,
      cataloguePath: roots.catalogue,
      trainTimeoutMs: 100,
    });
    const c = facility.client;
    await assert.rejects(
      c.execute(DAQ, "monitor"),
      /not a running device: did you mean SPB_IRU_MOTORS\/MOTOR\/X\?/,
    );
    const typo = "SPB_DET_AGIPD1M-1/DET/0CH0:xtfd";
    await c.set(DAQ, "dataSources", [moduleSource(0), moduleSource(1), typo]);
    await c.execute(DAQ, "monitor");
    await sleep(1200);
    const problems = (await c.get(DAQ, "problems")) as string[];
    const text = problems.join("\n");
    assert.match(text, new RegExp(`${moduleSource(1)} sent nothing`));
    assert.match(text, /did you mean SPB_DET_AGIPD1M-1\/DET\/0CH0:xtdf\?/);
    assert.ok(((await c.get(DAQ, "matchRatio")) as number) < 0.1);
    await c.execute(DAQ, "stop");
  } finally {
    await sim.stop();
    roots.done();
  }
});
