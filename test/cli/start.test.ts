// Runs the real `sase start` in a child process and talks to it over its control endpoint: a few
// commands through the real `sase` binary, the rest through the same command definitions in-process
// (each `sase` process start costs seconds of module loading on a busy machine).
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { registerStartCommands } from "../../src/cli/start.ts";
import { type ChildOutput, waitForReady } from "../helpers/child.ts";
import { runCliInProcess } from "../helpers/cli.ts";

const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), "sase-cli-"));
// A small simulated detector (2 modules, 1 cell): the demo default of 16 modules would load this machine.
const env = {
  ...process.env,
  SASE_HOME: home,
  USER: "tester",
  SASE_BRIDGE_PORT: "0",
  SASE_SIM_MODULES: "2",
  SASE_SIM_CELLS: "1",
};
const bin = join(import.meta.dirname, "../../bin/sase.js");

/** `sase ARGS` as a separate process. */
async function saseProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env, timeout: 90_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** `sase ARGS` through the same command definitions, in this process. */
async function sase(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const portFile = join(home, "control.json");
  const needsPortFile = ["devices", "get", "set", "call"].includes(args[0]!) && !args.includes("--help");
  const r = await runCliInProcess(
    registerStartCommands,
    needsPortFile ? [...args, "--port-file", portFile, "--user", "tester"] : args,
  );
  return { code: r.code, stdout: r.out, stderr: r.err };
}

describe("sase start / devices / get / set / call", () => {
  let facility: ChildProcess;
  let output: ChildOutput;

  before(async () => {
    facility = spawn(process.execPath, [bin, "start", "--rate", "20"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    output = await waitForReady(facility, "sase start", (out) => out.includes("control endpoint:"));
  });

  after(async () => {
    if (facility && facility.exitCode === null && facility.signalCode === null) {
      facility.kill("SIGTERM");
      await new Promise((r) => facility.once("exit", r));
    }
    rmSync(home, { recursive: true, force: true });
  });

  it("writes a private port file with the endpoint and token", () => {
    const file = join(home, "control.json");
    const endpoint = JSON.parse(readFileSync(file, "utf8")) as { url: string; token: string };
    assert.match(endpoint.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(endpoint.token.length, 48);
  });

  it("lists the servers and devices with their states", async () => {
    const r = await saseProcess("devices");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /server {2}sase\/server\/main {2}classes: TimingServer, SimulatedMotor/);
    assert.match(r.stdout, /SASE_RR_SYS\/TSYS\/TIMESERVER +TimingServer +STARTED/);
    assert.match(r.stdout, /SASE_SIM_MOTOR\/MOTOR\/X +SimulatedMotor +STATIC/);
    assert.match(r.stdout, /SASE_SIM_MOTOR\/MOTOR\/Y/);
    // Natural order, whatever order the modules started in.
    const [m3, m15] = ["DET/3CH0 ", "DET/15CH0 "].map((id) => r.stdout.indexOf(id));
    assert.ok(m3 >= 0 && m15 > m3, r.stdout);
  });

  it("completes device ids from the running facility (sase completion devices)", async () => {
    const r = await saseProcess("completion", "devices");
    assert.equal(r.code, 0, r.stderr);
    const ids = r.stdout.trim().split("\n");
    assert.ok(
      ids.includes("SASE_SIM_MOTOR/MOTOR/X") && ids.includes("SASE_RR_SYS/TSYS/TIMESERVER"),
      r.stdout,
    );
  });

  it("gets one property, or all with train IDs", async () => {
    assert.equal((await sase("get", "SASE_SIM_MOTOR/MOTOR/Y", "velocity")).stdout, "2\n");
    const all = await sase("get", "SASE_SIM_MOTOR/MOTOR/X");
    assert.match(all.stdout, /^targetPosition +0 +\(train \d+\)$/m);
    const train = await sase("get", "SASE_RR_SYS/TSYS/TIMESERVER", "trainId");
    assert.match(train.stdout, /^\d{6,}\n$/);
  });

  it("sets several properties at once and calls a slot; the motor moves", async () => {
    const set = await sase("set", "SASE_SIM_MOTOR/MOTOR/X", "targetPosition", "1.5", "velocity", "50");
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, "set targetPosition, velocity on SASE_SIM_MOTOR/MOTOR/X\n");
    const call = await sase("call", "SASE_SIM_MOTOR/MOTOR/X", "move");
    assert.equal(call.stdout, "move on SASE_SIM_MOTOR/MOTOR/X: done\n");
    // poll: on a loaded machine the facility process may be slow to get CPU time
    let position = "";
    for (let i = 0; i < 100 && position !== "1.5\n"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      position = (await sase("get", "SASE_SIM_MOTOR/MOTOR/X", "position")).stdout;
    }
    assert.equal(position, "1.5\n");
    const moveTo = await sase("call", "SASE_SIM_MOTOR/MOTOR/Y", "moveTo", "position=0.01");
    assert.equal(moveTo.code, 0, moveTo.stderr);
    assert.match(
      output.stderr(),
      /reconfigured user=tester level=operator/,
      "the facility logs who changed what",
    );
  });

  it("fails with a clear message and exit code 1 on bad input", async () => {
    const cases: [string[], RegExp][] = [
      [
        ["set", "SASE_SIM_MOTOR/MOTOR/X", "velocity", "fast"],
        /WRONG_TYPE: 'velocity' = "fast": expected a number \(double\)/,
      ],
      [
        ["set", "SASE_SIM_MOTOR/MOTOR/X", "velocity", "500"],
        /OUT_OF_RANGE: 'velocity' = 500: must be <= 100/,
      ],
      [["set", "SASE_SIM_MOTOR/MOTOR/X", "position", "3"], /READ_ONLY/],
      [
        ["set", "SASE_SIM_MOTOR/MOTOR/X", "velocty", "3"],
        /UNKNOWN_KEY: 'velocty' = "3": unknown key \(did you mean 'velocity'\?\)/,
      ],
      [
        ["set", "SASE_SIM_MOTOR/MOTOR/X", "lowerLimit", "-5"],
        /ACCESS_DENIED: 'lowerLimit' = -5: needs access level expert; caller 'tester' has operator/,
      ],
      [["get", "NO/SUCH/DEVICE", "state"], /UNKNOWN_DEVICE: no instance 'NO\/SUCH\/DEVICE'/],
      [
        ["call", "SASE_SIM_MOTOR/MOTOR/X", "fly"],
        /UNKNOWN_SLOT: .*has no slot 'fly'; slots: move, moveTo, stop/,
      ],
      [["call", "SASE_SIM_MOTOR/MOTOR/X", "stop"], /WRONG_STATE: .*allowed only in MOVING; device is STATIC/],
      [["call", "SASE_SIM_MOTOR/MOTOR/X", "moveTo", "position"], /argument 'position': write KEY=VALUE/],
    ];
    for (const [args, message] of cases) {
      const r = await sase(...args);
      assert.equal(r.code, 1, `${args.join(" ")} should fail`);
      assert.match(r.stderr, message, args.join(" "));
    }
    // The level comes from the identity the facility grants, never from a flag: a usage error, exit 2.
    const flag = await sase("set", "SASE_SIM_MOTOR/MOTOR/X", "lowerLimit", "-5", "--access-level", "expert");
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^sase: unknown option '--access-level'/);
  });

  it("--help describes every command", async () => {
    const real = await saseProcess("set", "--help");
    assert.match(real.stdout, /Usage: sase set \[options\] <deviceId> <key> <value> \[more\.\.\.\]/);
    for (const cmd of ["start", "devices", "get", "set", "call"]) {
      const r = await sase(cmd, "--help");
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`Usage: sase ${cmd}`));
    }
  });

  it("stops cleanly on SIGTERM and removes its port file", async () => {
    facility.kill("SIGTERM");
    const code = await new Promise((r) => facility.once("exit", r));
    assert.equal(code, 0);
    assert.equal(existsSync(join(home, "control.json")), false);
    const r = await saseProcess("devices");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no running facility found .*start one with 'sase start'/);
  });
});
