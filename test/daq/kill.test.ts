import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { Catalogue, recoverRuns } from "../../src/daq/index.ts";
import { openRun } from "../../src/files/index.ts";
import { tempRoots } from "./helpers.ts";
import { moduleSource } from "./simfacility.ts";

test("kill -9 of the DAQ mid-run loses no train it reported written; the run is recovered", async () => {
  const roots = tempRoots();
  try {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/daq/record-child.ts", roots.online, roots.catalogue],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SASE_LOG_LEVEL: "warn" } },
    );
    let stderr = "";
    child.stderr.on("data", (b) => {
      stderr += b;
    });
    // Kill it once it has reported 10 trains on disk (mid-way through the third sequence file).
    const { reported, dir } = await new Promise<{ reported: number; dir: string }>((resolve, reject) => {
      let buf = "";
      child.stdout.on("data", (b) => {
        buf += b;
        for (const line of buf.split("\n").slice(0, -1)) {
          const [, n, d] = line.split(" ");
          if (Number(n) >= 10) {
            child.kill("SIGKILL");
            resolve({ reported: Number(n), dir: d! });
          }
        }
        buf = buf.slice(buf.lastIndexOf("\n") + 1);
      });
      // "close": stderr is read to the end by then, so the message says why the child failed.
      child.on(
        "close",
        (code, sig) => sig !== "SIGKILL" && reject(new Error(`child exited ${code}: ${stderr}`)),
      );
    });
    await new Promise((r) => child.once("exit", r));

    const run = await openRun(dir);
    assert.ok(run.trainIds.length >= reported, `${run.trainIds.length} trains on disk, ${reported} reported`);
    const ids = [...run.trainIds];
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    );
    // Every train on disk is whole: both modules, two cells each (apart from trains a module missed).
    const counts = run.keyData(moduleSource(0), "image.data").dataCounts().counts;
    assert.ok([...counts].filter((c) => c === 2).length >= counts.length - 1);
    const data = run.keyData(moduleSource(0), "image.data").ndarray();
    assert.equal(
      data.shape[0],
      [...counts].reduce((a, b) => a + b, 0),
    );
    run.close();
    // h5py opens every file the killed process left, and finds the same trains.
    const py = execFileSync(
      "/usr/bin/python3",
      [
        "-c",
        "import h5py,glob,sys\nids=set()\nfor f in sorted(glob.glob(sys.argv[1]+'/*-DA01-*.h5')):\n  ids|=set(int(t) for t in h5py.File(f,'r')['INDEX/trainId'][:] if t)\nprint(len(ids))",
        dir,
      ],
      { encoding: "utf8" },
    );
    assert.equal(Number(py.trim()), ids.length);

    // The catalogue still says recording; recovery closes the run from the files.
    const cat = Catalogue.open(roots.catalogue);
    assert.equal(cat.findRun(900001, 1)!.state, "recording");
    const [recovered] = await recoverRuns(cat, roots.online, 0);
    assert.equal(recovered!.state, "closed");
    assert.equal(recovered!.trains, ids.length);
    assert.match(recovered!.comment, /closed by recovery/);
    // A sequence file the kill caught while it was being created is hidden and holds no train;
    // recovery removes it, so migration copies only EXDF files.
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith(".part")),
      [],
    );
    cat.close();
  } finally {
    roots.done();
  }
});
