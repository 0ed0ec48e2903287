// The sase bridge commands as a user runs them: real processes, real sockets, real run files.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { BridgeClient, BridgeServer, trainIdOf } from "../../src/bridge/index.ts";
import { type ChildOutput, waitForReady } from "../helpers/child.ts";
import { type ExpectedMessage, assertTrainMatches, sampleTrain, within } from "./helpers.ts";

const run = promisify(execFile);
const sase = new URL("../../bin/sase.js", import.meta.url).pathname;
const fixtures = new URL("../../../shared/fixtures/", import.meta.url).pathname;
const runDir = join(fixtures, "exdf/spb_r0238_v1.2");
const env = { ...process.env, SASE_LOG_LEVEL: "warn" };

function expected(capture: string): ExpectedMessage[] {
  return (
    JSON.parse(readFileSync(join(fixtures, "bridge", capture, "index.json"), "utf8")) as {
      expected: ExpectedMessage[];
    }
  ).expected;
}

/** Starts a sase command and resolves with the endpoint it prints. */
async function startServer(
  args: string[],
): Promise<{ child: ChildProcess; endpoint: string; output: ChildOutput }> {
  const child = spawn(process.execPath, [sase, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const listening = /on (tcp:\/\/\S+)/;
  const output = await waitForReady(child, `sase ${args.join(" ")}`, (out) => listening.test(out));
  return { child, endpoint: listening.exec(output.stdout())![1]!, output };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  // "close": the exit code once its output is read to the end (the tests look at what it printed last).
  return new Promise((resolve) => child.once("close", (code) => resolve(code)));
}

test("sase bridge serve RUN_DIR sends what EXtra-data's server sent, to sase and to Python clients", async () => {
  const { child, endpoint } = await startServer([
    "bridge",
    "serve",
    runDir,
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--source",
    "*XGM*",
  ]);
  const client = new BridgeClient(endpoint, { timeoutMs: 20_000, requestsInFlight: 1 });
  try {
    const want = expected("files_xgm_v2.2");
    for (let i = 0; i < 2; i++)
      assertTrainMatches(await client.next(), want[i] as ExpectedMessage, `sase client train ${i}`);
    client.close();
    // Python, decoding as karabo-bridge-py does, gets the third train exactly as EXtra-data served it.
    const script = new URL("./py/bridge_client.py", import.meta.url).pathname;
    const { stdout } = await run("/usr/bin/python3", [script, endpoint, "--count", "1"], { timeout: 30_000 });
    const [third] = JSON.parse(stdout) as ExpectedMessage[];
    assert.deepEqual(third, want[2]);
  } finally {
    client.close();
    child.kill("SIGINT");
    await exited(child);
  }
});

test("sase bridge serve --sock PUSH --protocol 1.0 sends every selected train once, then exits", async () => {
  const args = [
    "bridge",
    "serve",
    runDir,
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--sock",
    "PUSH",
    "--protocol",
    "1.0",
  ];
  const { child, endpoint, output } = await startServer([
    ...args,
    "--source",
    "SA1_XTD2_XGM/DOOCS/MAIN",
    "--key",
    "pulseEnergy.*",
  ]);
  const client = new BridgeClient(endpoint, { sock: "PULL", timeoutMs: 20_000 });
  try {
    const ids: unknown[] = [];
    for (let i = 0; i < 64; i++) {
      const train = await client.next();
      ids.push(trainIdOf(train));
      assert.deepEqual(Object.keys(train.data), ["SA1_XTD2_XGM/DOOCS/MAIN"]);
      assert.ok(
        Object.keys(train.data["SA1_XTD2_XGM/DOOCS/MAIN"] ?? {}).every(
          (k) => k.startsWith("pulseEnergy.") || k === "metadata",
        ),
      );
    }
    assert.deepEqual(
      ids,
      Array.from({ length: 64 }, (_, i) => 10000 + i),
    );
    assert.equal(await within(20_000, "serve exit", exited(child)), 0);
    assert.match(output.stdout(), /Sent 64 trains/);
  } finally {
    client.close();
    child.kill("SIGINT");
  }
});

test("sase bridge monitor prints trains, sources, sizes and keys", async () => {
  const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block" });
  const endpoint = await server.start();
  try {
    for (const tid of [5, 6, 7]) void server.feed(sampleTrain(tid));
    const { stdout } = await run(
      process.execPath,
      [sase, "bridge", "monitor", endpoint, "-n", "2", "-vv", "--timeout", "20"],
      {
        env,
        timeout: 60_000,
      },
    );
    assert.match(stdout, /^Train 5 {2}2 sources {2}\d+\.\d kB/m);
    assert.match(stdout, /^Train 6 /m);
    assert.match(stdout, / {4}image\.data: array uint16 \[4, 8, 16\]/);
    assert.match(stdout, / {4}state\.value: "ON"/);
    assert.match(stdout, /^2 trains, /m);
  } finally {
    await server.close();
  }
});

test("sase bridge sim serves simulated AGIPD module trains at the asked rate", async () => {
  const { child, endpoint } = await startServer([
    "bridge",
    "sim",
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--rate",
    "50",
    "--cells",
    "4",
    "-n",
    "1000",
  ]);
  const client = new BridgeClient(endpoint, { timeoutMs: 20_000, requestsInFlight: 1 });
  try {
    const train = await client.next();
    const data = train.data["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"];
    const image = data?.["image.data"];
    assert.ok(image && typeof image === "object" && "shape" in image);
    assert.deepEqual(image.shape, [128, 512, 4]);
    assert.equal(image.dtype, "uint16");
    const meta = train.metadata["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"];
    assert.match(meta?.["timestamp.frac"] ?? "", /^\d{18}$/);
    // Trains are made at the asked rate whether taken or not: the IDs tell the rate. With a queue of
    // one train, the train taken a second later is (nearly) the newest one made.
    const first = trainIdOf(await client.next()) as number;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const last = trainIdOf(await client.next()) as number;
    const rate = (last - first) / ((performance.now() - t0) / 1000);
    assert.ok(rate > 20 && rate < 80, `made ${rate.toFixed(1)} trains/s, asked 50`);
  } finally {
    client.close();
    child.kill("SIGINT");
    await exited(child);
  }
});

test("bad arguments are refused with a clear message", async () => {
  await assert.rejects(
    run(process.execPath, [sase, "bridge", "serve", "/no/such/run"], { env }),
    (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /^sase: .*\/no\/such\/run/m);
      return true;
    },
  );
  await assert.rejects(
    run(process.execPath, [sase, "bridge", "serve", runDir, "--protocol", "3.0"], { env }),
    (err: { stderr: string }) => {
      assert.match(err.stderr, /--protocol.*Allowed choices are 1\.0, 2\.2/s);
      return true;
    },
  );
});

/** Resident memory of a process, in bytes (Linux). */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`sase bridge serve streams trains from the files (memory grows by less than a train) and ends on ${signal} with exit 0`, async () => {
    const modules = ["0", "1", "2", "3"];
    const { child, endpoint, output } = await startServer([
      "bridge",
      "serve",
      runDir,
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      ...modules.flatMap((m) => ["--source", `SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`]),
    ]);
    const pid = child.pid as number;
    const base = rssOf(pid);
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(pid));
    }, 10);
    const client = new BridgeClient(endpoint, { timeoutMs: 60_000, requestsInFlight: 1 });
    let trainBytes = 0;
    try {
      for (let i = 0; i < 6; i++) trainBytes = Math.max(trainBytes, (await client.nextRaw()).bytes);
    } finally {
      clearInterval(sampler);
      client.close();
    }
    // A 4-module train is 67 MB: reading a batch of 32 trains at once (the old way) needed 2 GB, and
    // reading each train into memory before sending it at least one train. Now the arrays are
    // streamed from the files through a few 1 MiB buffers: memory grows by a few MB, never a train.
    const grown = peak - base;
    assert.ok(
      grown < 48 << 20 && grown < trainBytes,
      `RSS grew by ${(grown / 1e6).toFixed(0)} MB for trains of ${(trainBytes / 1e6).toFixed(0)} MB`,
    );
    child.kill(signal);
    assert.equal(await within(20_000, "exit after signal", exited(child)), 0);
    assert.doesNotMatch(output.stderr(), /sase:|closed/);
  });
}
