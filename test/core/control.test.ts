import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  ControlClient,
  ControlServer,
  createLogger,
  fromJsonSafe,
  ndarray,
  SaseError,
  toJsonSafe,
} from "../../src/core/index.ts";
import { Facility, TimingServer } from "../../src/devices/index.ts";

describe("control endpoint", () => {
  const dir = mkdtempSync(join(tmpdir(), "sase-control-"));
  const portFile = join(dir, "control.json");
  let facility: Facility;
  let control: ControlServer;
  let client: ControlClient;

  before(async () => {
    facility = await Facility.standard({ log: createLogger("t", () => {}) });
    control = await ControlServer.start(facility.client, { portFile });
    client = ControlClient.fromPortFile({ user: "ctl", accessLevel: "operator" }, portFile);
  });
  after(async () => {
    await control.close();
    await facility.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps its token in a port file only the owner can read", () => {
    assert.equal(statSync(portFile).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(portFile, "utf8")).token, control.endpoint.token);
  });

  it("refuses requests without the token, or with a bad caller or operation", async () => {
    const res = await fetch(`${control.endpoint.url}/api`, { method: "POST", body: "{}" });
    assert.equal(res.status, 401);
    assert.match(((await res.json()) as { message: string }).message, /wrong control token/);
    const bad = new ControlClient(control.endpoint, { user: "", accessLevel: "operator" });
    await assert.rejects(bad.send({ op: "topology" }), /names no user/);
    await assert.rejects(client.send({ op: "dance" } as never), /unknown control operation "dance"/);
  });

  it("carries bigints both ways and instantiates devices for a caller with enough access", async () => {
    await client.send({
      op: "instantiate",
      serverId: facility.server.id,
      classId: TimingServer.classId,
      deviceId: "T/TIME/2",
      configuration: { firstTrainId: 123456789012n, autoStart: false },
    });
    const c = await client.send<{ values: Record<string, unknown> }>({
      op: "configuration",
      deviceId: "T/TIME/2",
      keys: ["firstTrainId"],
    });
    assert.equal(c.values.firstTrainId, 123456789012n);
    const observer = new ControlClient(control.endpoint, { user: "obs", accessLevel: "observer" });
    await assert.rejects(
      observer.send({ op: "kill", deviceId: "T/TIME/2" }),
      (err: unknown) => err instanceof SaseError && err.code === "ACCESS_DENIED",
    );
    await client.send({ op: "kill", deviceId: "T/TIME/2" });
  });

  it("acts with the level the endpoint grants, whatever level a request claims", async () => {
    const claimsAdmin = new ControlClient(control.endpoint, { user: "eve", accessLevel: "admin" });
    const set = {
      op: "reconfigure",
      deviceId: "SASE_SIM_MOTOR/MOTOR/X",
      text: { lowerLimit: "-7" },
    } as const;
    await assert.rejects(claimsAdmin.send(set), /needs access level expert; caller 'eve' has operator/);
    const expertFile = join(dir, "expert.json");
    const expert = await ControlServer.start(facility.client, {
      portFile: expertFile,
      accessLevel: "expert",
    });
    try {
      await new ControlClient(expert.endpoint, { user: "eve", accessLevel: "admin" }).send(set);
      assert.equal(await facility.client.get("SASE_SIM_MOTOR/MOTOR/X", "lowerLimit"), -7);
    } finally {
      await expert.close();
    }
  });

  it("parses typed text against the device schema", async () => {
    const r = await client.send<{ applied: string[] }>({
      op: "reconfigure",
      deviceId: "SASE_SIM_MOTOR/MOTOR/X",
      text: { velocity: "7.5" },
    });
    assert.deepEqual(r.applied, ["velocity"]);
    assert.equal(await facility.client.get("SASE_SIM_MOTOR/MOTOR/X", "velocity"), 7.5);
  });

  it("says clearly when no facility is running", () => {
    assert.throws(
      () => ControlClient.fromPortFile({ user: "u", accessLevel: "observer" }, join(dir, "none.json")),
      /no running facility found/,
    );
  });

  it("JSON form keeps bigints exact and summarises arrays", () => {
    const v = { a: 2n ** 63n, b: [1n], c: new Float32Array([1, 2]), d: ndarray(new Uint16Array(6), [2, 3]) };
    const safe = JSON.parse(JSON.stringify(toJsonSafe(v)));
    assert.deepEqual(safe.d, { $ndarray: { dtype: "uint16", shape: [2, 3] } });
    assert.deepEqual(fromJsonSafe(safe), { a: 2n ** 63n, b: [1n], c: [1, 2], d: safe.d });
  });
});
