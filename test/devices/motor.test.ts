import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createLogger, type DeviceClient, SaseError, State } from "../../src/core/index.ts";
import { Facility, SimulatedMotor } from "../../src/devices/index.ts";

describe("simulated motor", () => {
  let facility: Facility;
  let client: DeviceClient;
  let n = 0;
  const fresh = async (config: Record<string, unknown> = {}) => {
    const id = `TEST/MOTOR/${++n}`;
    await facility.addDevice(SimulatedMotor, id, { updatePeriod: 5, ...config });
    return id;
  };

  before(async () => {
    facility = await Facility.start({ trainRate: 50, log: createLogger("test", () => {}) });
    client = facility.client;
  });
  after(() => facility.stop());

  it("moves to the target at its velocity, MOVING then STATIC, positions stamped with trains", async () => {
    const id = await fresh({ velocity: 100 });
    const sub = client.subscribe(id, ["position", "state"]);
    await client.set(id, "targetPosition", 5);
    const t0 = Date.now();
    await client.execute(id, "move");
    const positions: number[] = [];
    const states: string[] = [];
    const trains: number[] = [];
    for await (const c of sub) {
      if (c.key === "state") states.push(String(c.value));
      else {
        positions.push(c.value as number);
        trains.push(c.timestamp.trainId);
      }
      if (c.key === "state" && c.value === State.STATIC) break;
    }
    const elapsed = Date.now() - t0;
    assert.deepEqual(states, [State.MOVING, State.STATIC]);
    assert.equal(positions.at(-1), 5);
    assert.ok(
      positions.every((p, i) => i === 0 || p >= positions[i - 1]!),
      "monotonic",
    );
    assert.ok(elapsed >= 40, `5 mm at 100 mm/s takes ~50 ms, took ${elapsed}`);
    assert.ok(
      trains.every((t) => t > 0),
      "every update carries a train ID",
    );
  });

  it("stops on request mid-way", async () => {
    const id = await fresh({ velocity: 20 });
    await client.execute(id, "moveTo", { position: 50 });
    await client.waitFor(id, "position", (p) => (p as number) > 0.5, 5000);
    await client.execute(id, "stop");
    const pos = (await client.get(id, "position")) as number;
    assert.equal(await client.get(id, "state"), State.STATIC);
    assert.ok(pos > 0 && pos < 50, `stopped at ${pos}`);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(await client.get(id, "position"), pos, "no motion after stop");
  });

  it("refuses targets outside the soft limits and inconsistent limits", async () => {
    const id = await fresh();
    const refused = (re: RegExp) => (err: unknown) =>
      err instanceof SaseError && err.code === "REFUSED" && re.test(err.message);
    await assert.rejects(
      client.set(id, "targetPosition", 150),
      refused(/targetPosition 150 is outside the limits \[-100, 100\]/),
    );
    await assert.rejects(client.execute(id, "moveTo", { position: -101 }), refused(/outside the limits/));
    const expert = client.as({ user: "exp", accessLevel: "expert" });
    await assert.rejects(
      expert.reconfigure(id, { lowerLimit: 10, upperLimit: 5 }),
      refused(/lowerLimit 10 must be below upperLimit 5/),
    );
    await assert.rejects(client.set(id, "upperLimit", 200), /needs access level expert/);
    await expert.set(id, "upperLimit", 200);
    await client.set(id, "targetPosition", 150);
  });

  it("refuses commands and settings in the wrong state", async () => {
    const id = await fresh({ velocity: 1 });
    await client.execute(id, "moveTo", { position: 10 });
    await assert.rejects(client.execute(id, "move"), /allowed only in STATIC; device is MOVING/);
    await assert.rejects(client.set(id, "velocity", 2), /may be set only in STATIC; device is MOVING/);
    await client.execute(id, "stop");
    await assert.rejects(client.execute(id, "stop"), /allowed only in MOVING; device is STATIC/);
  });

  it("goes to ERROR on a drive fault and recovers with reset", async () => {
    const id = await fresh();
    const expert = client.as({ user: "exp", accessLevel: "expert" });
    await assert.rejects(client.execute(id, "simulateFault"), /needs access level expert/);
    await assert.rejects(expert.execute(id, "simulateFault"), /simulated drive fault/);
    assert.equal(await client.get(id, "state"), State.ERROR);
    assert.match(String(await client.get(id, "status")), /simulated drive fault/);
    await client.execute(id, "reset");
    assert.equal(await client.get(id, "state"), State.STATIC);
  });
});
