import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  Catalogue,
  type CorrectionCommand,
  type Executor,
  LocalExecutor,
  migrateAndCalibrate,
  SlurmExecutor,
  slurmAvailable,
  waitForJobs,
} from "../../src/daq/index.ts";
import { fakeRun, tempRoots } from "./helpers.ts";

// A stand-in correction that does real file work: lists the raw run and writes the list into proc/,
// failing with status 3 when the raw folder holds a file named FAIL.
const listing: CorrectionCommand = (raw, proc) => [
  process.execPath,
  "-e",
  `const fs=require("fs");const names=fs.readdirSync(process.argv[1]);console.log("correcting",names.length,"files");
   if(names.includes("FAIL")){console.error("bad input");process.exit(3)}
   fs.mkdirSync(process.argv[2],{recursive:true});fs.writeFileSync(process.argv[2]+"/CORR.txt",names.join("\\n"))`,
  raw,
  proc,
];

async function migrateThenCorrect(executor: Executor) {
  const roots = tempRoots();
  const cat = Catalogue.open(roots.catalogue);
  try {
    const ok = cat.flagRun(fakeRun(cat, roots, 900010, { "RAW-R0001-DA01-S00000.h5": 100 }).id, "good");
    const broken = cat.flagRun(fakeRun(cat, roots, 900010, { FAIL: 1 }).id, "good");
    const { migrations, jobs } = await migrateAndCalibrate(cat, {
      offlineRoot: roots.offline,
      executor,
      correctionCommand: listing,
    });
    assert.deepEqual(
      migrations.map((m) => m.status),
      ["migrated", "migrated"],
    );
    assert.equal(jobs.length, 2);
    const states = new Set<string>(jobs.map((j) => j.state));
    const done = await waitForJobs(cat, executor, {
      timeoutMs: 60_000,
      onPoll: (js) => {
        for (const j of js) states.add(j.state);
      },
    });
    const good = done.find((j) => j.runId === ok.id)!;
    const bad = done.find((j) => j.runId === broken.id)!;
    assert.equal(good.state, "done", good.error ?? "");
    assert.equal(good.exitCode, 0);
    assert.equal(readFileSync(`${good.logPath}.exit`, "utf8").trim(), "0");
    assert.ok(good.externalId);
    assert.match(readFileSync(good.logPath, "utf8"), /correcting 1 files/);
    const proc = join(roots.offline, "p900010", "proc", "r0001", "CORR.txt");
    assert.equal(readFileSync(proc, "utf8"), "RAW-R0001-DA01-S00000.h5");
    const lineage = JSON.parse(
      readFileSync(join(roots.offline, "p900010", "proc", "r0001", "lineage.json"), "utf8"),
    );
    assert.equal(lineage.inputs[0].files[0].path, "RAW-R0001-DA01-S00000.h5");
    assert.equal(lineage.exitCode, 0);
    assert.equal(bad.state, "failed");
    assert.equal(bad.exitCode, 3);
    assert.match(bad.error!, /exited with status 3/);
    assert.match(readFileSync(bad.logPath, "utf8"), /bad input/);
    assert.equal(cat.runById(ok.id).calibration, "done");
    assert.equal(cat.runById(broken.id).calibration, "failed");
    return { states, good };
  } finally {
    cat.close();
    roots.done();
  }
}

test("local pool: a migrated run is corrected by a child process; failures keep their exit status", async () => {
  // Pool of one: the second job waits queued in the catalogue until the first is done.
  const { states, good } = await migrateThenCorrect(new LocalExecutor(1));
  assert.ok(states.has("queued"));
  assert.equal(good.executor, "local");
});

test("SLURM: correction jobs go through sbatch/squeue on the local cluster", async (t) => {
  if (!(await slurmAvailable())) {
    t.skip("no SLURM controller answers (sinfo failed): run scripts/slurm-local.sh start as root to enable");
    return;
  }
  const executor = new SlurmExecutor();
  const { good } = await migrateThenCorrect(executor);
  assert.equal(good.executor, "slurm");
  assert.match(good.externalId!, /^\d+$/);
});

test("SLURM executor builds its sbatch line from the job", () => {
  const ex = new SlurmExecutor({ partition: "upex", extraArgs: ["--time=01:00:00"] });
  const args = ex.sbatchArgs(
    { id: 7, name: "correct", command: ["x"], cwd: "/w", logPath: "/l/j.log" },
    "/l/j.log.sh",
  );
  assert.deepEqual(args, [
    "--parsable",
    "--job-name=sase-correct-7",
    "--output=/l/j.log",
    "--open-mode=append",
    "--chdir=/w",
    "--partition=upex",
    "--time=01:00:00",
    "/l/j.log.sh",
  ]);
});
