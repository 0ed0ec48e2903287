// The GUI server without a browser: logins and tokens, role checks and schema validation of changes
// (over a real WebSocket against a real facility), the change log, bad messages, and image binning.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { FACILITY_IDS, Facility } from "../../src/devices/index.ts";
import {
  decodeImageFrame,
  encodeImageFrame,
  hashPassword,
  type ServerMessage,
  startFacilityGui,
  type FacilityGui,
} from "../../src/gui/index.ts";
import { Auth, parseUsers, verifyPassword } from "../../src/gui/server/auth.ts";
import type { LiveFrame } from "../../src/gui/server/backend.ts";
import { binImage, LiveHub, roiSum } from "../../src/gui/server/live.ts";
import type { TrainPlots } from "../../src/gui/index.ts";
import { parseClientMessage } from "../../src/gui/server/protocol.ts";

process.env.SASE_LOG_LEVEL ??= "error";
const MOTOR = FACILITY_IDS.motorX;

test("passwords are stored as salted scrypt hashes and tokens map back to users", () => {
  const h1 = hashPassword("secret");
  const h2 = hashPassword("secret");
  assert.notEqual(h1, h2, "a fresh salt each time");
  assert.ok(verifyPassword("secret", h1));
  assert.ok(!verifyPassword("Secret", h1));
  const auth = new Auth([{ name: "ana", role: "expert", hash: h1 }]);
  assert.equal(auth.login("ana", "wrong"), null);
  assert.equal(auth.login("bob", "secret"), null);
  const ok = auth.login("ana", "secret");
  assert.ok(ok && ok.token.length >= 32);
  assert.deepEqual(auth.identify(ok.token), { user: "ana", role: "expert" });
  assert.equal(auth.identify("made-up").role, "observer");
  auth.logout(ok.token);
  assert.equal(auth.identify(ok.token).user, "anonymous");
  assert.throws(
    () => parseUsers([{ name: "x", role: "admin", hash: h1 }], "users.json"),
    /role must be one of/,
  );
  assert.throws(
    () => parseUsers([{ name: "x", role: "operator", hash: "plain" }], "users.json"),
    /scrypt hash/,
  );
});

test("messages from the page are checked before anything acts on them", () => {
  assert.deepEqual(parseClientMessage('{"t":"call","req":3,"deviceId":"A/B/C","slot":"move"}'), {
    t: "call",
    req: 3,
    deviceId: "A/B/C",
    slot: "move",
  });
  assert.throws(() => parseClientMessage("{"), /not JSON/);
  assert.throws(() => parseClientMessage('{"t":"drop tables"}'), /unknown message type/);
  assert.throws(
    () => parseClientMessage('{"t":"set","req":1,"deviceId":"A","values":[]}'),
    /"values" must be an object/,
  );
  assert.throws(() => parseClientMessage('{"t":"imageView","binning":99}'), /binning/);
});

test("a frame stored bottom-up gives the live view the same image, ROI sum and radial profile", () => {
  const width = 40;
  const height = 30;
  const top = new Float32Array(width * height).map((_, i) => (i % 17 === 0 ? Number.NaN : (i * 7) % 23));
  const up = new Float32Array(top.length);
  for (let y = 0; y < height; y++) up.set(top.subarray(y * width, (y + 1) * width), (height - 1 - y) * width);
  const base = { trainId: 1, sentMs: Date.now(), width, height, centre: [12, 25] as [number, number] };
  const roi = { x: 3, y: 4, w: 20, h: 11 };
  const asStored = { ...base, pixels: top };
  const bottomUp: LiveFrame = {
    ...base,
    get pixels(): Float32Array {
      throw new Error("the live view must not ask for the flipped copy");
    },
    pixelsYUp: up,
  };
  assert.equal(roiSum(bottomUp, roi), roiSum(asStored, roi));
  // Through the hub: what a page receives for each.
  const seen: { image: Uint8Array; plots: TrainPlots }[] = [];
  for (const frame of [asStored, bottomUp]) {
    let emit: (f: LiveFrame) => void = () => {};
    const hub = new LiveHub({
      source: "test",
      subscribe: (l) => {
        emit = l;
        return () => {};
      },
    });
    const got: { image?: Uint8Array; plots?: TrainPlots } = {};
    const viewer = {
      sendImage: (b: Uint8Array) => (got.image = b),
      sendPlots: (p: TrainPlots) => (got.plots = p),
    };
    hub.add(viewer);
    hub.setRoi(viewer, roi);
    emit(frame);
    seen.push({ image: got.image!, plots: got.plots! });
  }
  assert.deepEqual(seen[1]!.image, seen[0]!.image);
  assert.deepEqual(seen[1]!.plots.radial, seen[0]!.plots.radial);
  assert.equal(seen[1]!.plots.roiSum, seen[0]!.plots.roiSum);
  assert.ok(seen[0]!.plots.radial.some((v) => v > 0));
});

test("image frames carry train, timing and range; binning averages finite pixels", () => {
  const px = new Float32Array([1, 2, 3, Number.NaN, 5, 6, 7, 8, 9, 10, 11, 12]); // 4 wide, 3 high
  const b = binImage(px, 4, 3, 2);
  assert.equal(b.width, 2);
  assert.equal(b.height, 1);
  assert.deepEqual(Array.from(b.pixels), [(1 + 2 + 5 + 6) / 4, (3 + 7 + 8) / 3]);
  // A region (what a zoomed-in page shows) is cut out at full resolution.
  const cut = binImage(px, 4, 3, 1, { x: 1, y: 1, w: 2, h: 2 });
  assert.deepEqual([cut.x0, cut.y0, cut.width, cut.height], [1, 1, 2, 2]);
  assert.deepEqual(Array.from(cut.pixels), [6, 7, 10, 11]);
  const edge = binImage(px, 4, 3, 2, { x: 3, y: 0, w: 10, h: 10 });
  assert.deepEqual([edge.x0, edge.width, edge.height], [2, 1, 1], "aligned to the binning, clipped");
  const full = binImage(px, 4, 3, 1);
  assert.equal(full.min, 1);
  assert.equal(full.max, 12);
  // The same image stored bottom-up (as assembled images are) bins to the same top-down result.
  const up = new Float32Array([9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, Number.NaN]);
  assert.deepEqual(Array.from(binImage(up, 4, 3, 2, null, true).pixels), Array.from(b.pixels));
  assert.deepEqual(
    Array.from(binImage(up, 4, 3, 1, { x: 1, y: 1, w: 2, h: 2 }, true).pixels),
    Array.from(cut.pixels),
  );
  assert.deepEqual(Array.from(binImage(up, 4, 3, 1, null, true).pixels), Array.from(px));
  const bytes = encodeImageFrame(
    {
      width: 4,
      height: 3,
      trainId: 123456789,
      sentMs: 1.5e12,
      min: 1,
      max: 12,
      binning: 1,
      x0: 0,
      y0: 0,
      fullWidth: 4,
      fullHeight: 3,
    },
    px,
  );
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const { header, pixels } = decodeImageFrame(copy);
  assert.equal(header.trainId, 123456789);
  assert.equal(header.sentMs, 1.5e12);
  assert.equal(pixels[4], 5);
  assert.throws(() => decodeImageFrame(copy.slice(0, 80)), /bytes for 4x3/);
  assert.throws(() => decodeImageFrame(copy.slice(0, 60)), /too short/);
});

describe("GUI server over WebSocket", () => {
  let facility: Facility;
  let gui: FacilityGui;
  const auditFile = join(mkdtempSync(join(tmpdir(), "sase-gui-")), "audit.jsonl");

  before(async () => {
    facility = await Facility.standard();
    gui = await startFacilityGui(facility, { port: 0, image: null, auditFile });
  });
  after(async () => {
    await gui?.close();
    await facility?.stop();
  });

  /** A WebSocket session; `request` sends and waits for the reply of the same number. */
  async function session(token?: string) {
    const ws = new WebSocket(`${gui.url.replace("http", "ws")}ws${token ? `?token=${token}` : ""}`);
    const inbox: ServerMessage[] = [];
    const waiters: (() => void)[] = [];
    ws.on("message", (data, binary) => {
      if (binary) return;
      inbox.push(JSON.parse(data.toString()) as ServerMessage);
      for (const w of waiters.splice(0)) w();
    });
    await new Promise((r) => ws.once("open", r));
    let req = 0;
    const next = async <T extends ServerMessage>(pred: (m: ServerMessage) => boolean): Promise<T> => {
      for (;;) {
        const i = inbox.findIndex(pred);
        if (i >= 0) return inbox.splice(i, 1)[0] as T;
        await new Promise<void>((r) => waiters.push(r));
      }
    };
    return {
      ws,
      next,
      async request(m: Record<string, unknown>) {
        const n = ++req;
        ws.send(JSON.stringify({ ...m, req: n }));
        return next<Extract<ServerMessage, { t: "reply" }>>((x) => x.t === "reply" && x.req === n);
      },
    };
  }

  async function login(user: string, password: string): Promise<string> {
    const r = await fetch(`${gui.url}api/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user, password }),
    });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("set-cookie") ?? "", /HttpOnly/);
    return ((await r.json()) as { token: string }).token;
  }

  test("the page is served from sase itself, bundled, with no external resources", async () => {
    const html = await (await fetch(gui.url)).text();
    assert.match(html, /<script type="module" src="\/app.js">/);
    assert.doesNotMatch(html, /https?:\/\//);
    const js = await fetch(`${gui.url}app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    assert.ok((await js.text()).length > 20_000);
    const bad = await fetch(`${gui.url}api/login`, {
      method: "POST",
      body: "x",
      headers: { "content-type": "text/plain" },
    });
    assert.equal(bad.status, 400);
    const wrong = await fetch(`${gui.url}api/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "operator", password: "nope" }),
    });
    assert.equal(wrong.status, 401);
  });

  test("an observer gets the topology and live values but every change is refused", async () => {
    const s = await session();
    const welcome = await s.next<Extract<ServerMessage, { t: "welcome" }>>((m) => m.t === "welcome");
    assert.equal(welcome.role, "observer");
    const topo = await s.next<Extract<ServerMessage, { t: "topology" }>>((m) => m.t === "topology");
    const devices = topo.topology.hosts.flatMap((h) => h.servers.flatMap((x) => x.devices.map((d) => d.id)));
    assert.ok(devices.includes(MOTOR) && devices.includes(FACILITY_IDS.timing));
    for (const m of [
      { t: "set", deviceId: MOTOR, values: { velocity: 3 } },
      { t: "call", deviceId: MOTOR, slot: "move" },
      { t: "kill", deviceId: MOTOR },
      {
        t: "instantiate",
        serverId: "sase/server/main",
        classId: "SimulatedMotor",
        deviceId: "X/Y/Z",
        config: {},
      },
    ]) {
      const r = await s.request(m);
      assert.equal(r.ok, false, `${m.t} refused`);
      if (!r.ok) assert.match(r.error.message, /needs the operator role; you are observer/);
    }
    assert.equal(await facility.client.get(MOTOR, "velocity"), 5);
    s.ws.close();
  });

  test("an operator's change is validated against the schema, applied all-or-nothing, and logged", async () => {
    const token = await login("operator", "operator");
    const s = await session(token);
    const welcome = await s.next<Extract<ServerMessage, { t: "welcome" }>>((m) => m.t === "welcome");
    assert.equal(welcome.user, "operator");
    s.ws.send(JSON.stringify({ t: "watchDevice", deviceId: MOTOR }));
    const schema = await s.next<Extract<ServerMessage, { t: "schema" }>>((m) => m.t === "schema");
    const velocity = schema.properties.find((p) => p.key === "velocity");
    assert.equal(velocity?.unit, "mm/s");
    assert.equal(velocity?.maxInc, 100);
    assert.ok(velocity?.allowedStates.includes("STATIC"));
    assert.equal(schema.properties.find((p) => p.key === "move")?.kind, "slot");

    const bad = await s.request({
      t: "set",
      deviceId: MOTOR,
      values: { targetPosition: 3, velocity: "fast" },
    });
    assert.equal(bad.ok, false);
    if (!bad.ok)
      assert.deepEqual(bad.error, {
        code: "WRONG_TYPE",
        message: "Velocity must be a number",
        field: "velocity",
      });
    const expert = await s.request({ t: "set", deviceId: MOTOR, values: { upperLimit: 50 } });
    assert.equal(expert.ok, false);
    if (!expert.ok) assert.equal(expert.error.field, "upperLimit");
    // A rule only the device knows (target beyond its soft limits) comes back from the device itself.
    const device = await s.request({ t: "set", deviceId: MOTOR, values: { targetPosition: 500 } });
    assert.equal(device.ok, false);
    if (!device.ok) assert.match(device.error.message, /outside the limits/);
    assert.equal(await facility.client.get(MOTOR, "targetPosition"), 0);

    const good = await s.request({ t: "set", deviceId: MOTOR, values: { targetPosition: 3, velocity: 50 } });
    assert.equal(good.ok, true);
    const update = await s.next<Extract<ServerMessage, { t: "values" }>>(
      (m) => m.t === "values" && m.values.some((v) => v.key === "velocity" && v.value === 50),
    );
    assert.ok(update.values.find((v) => v.key === "velocity")!.stamp.trainId > 0);

    const lines = readFileSync(auditFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const last = lines.at(-1);
    assert.equal(last.user, "operator");
    assert.equal(last.action, "set");
    assert.match(last.detail, /velocity=50/);
    assert.ok(lines.some((l) => !l.ok && l.user === "operator" && /must be a number/.test(l.detail)));
    s.ws.close();
  });

  test("an expert may change what an operator may not", async () => {
    const token = await login("expert", "expert");
    // The cookie alone, sent by a page of another site, does not make its socket an expert's.
    const foreign = new WebSocket(`${gui.url.replace("http", "ws")}ws`, {
      headers: { cookie: `sase_token=${token}`, origin: "http://evil.example" },
    });
    const first = await new Promise<ServerMessage>((r) =>
      foreign.once("message", (d) => r(JSON.parse(String(d)))),
    );
    assert.equal(first.t === "welcome" && first.role, "observer");
    foreign.close();
    const s = await session(token);
    const r = await s.request({ t: "set", deviceId: MOTOR, values: { upperLimit: 90 } });
    assert.equal(r.ok, true);
    assert.equal(await facility.client.get(MOTOR, "upperLimit"), 90);
    s.ws.close();
  });

  test("an operator starts and stops a device (a page watching it is told); a bad message gets a notice", async () => {
    const s = await session(await login("operator", "operator"));
    const started = await s.request({
      t: "instantiate",
      serverId: "sase/server/main",
      classId: "SimulatedMotor",
      deviceId: "TEST/MOTOR/Z",
      config: {},
    });
    assert.equal(started.ok, true);
    await s.next((m) => m.t === "topology" && JSON.stringify(m).includes("TEST/MOTOR/Z"));
    const dup = await s.request({
      t: "instantiate",
      serverId: "sase/server/main",
      classId: "SimulatedMotor",
      deviceId: "TEST/MOTOR/Z",
      config: {},
    });
    assert.equal(dup.ok, false);
    s.ws.send(JSON.stringify({ t: "watchDevice", deviceId: "TEST/MOTOR/Z" }));
    await s.next((m) => m.t === "schema" && m.deviceId === "TEST/MOTOR/Z");
    assert.equal((await s.request({ t: "kill", deviceId: "TEST/MOTOR/Z" })).ok, true);
    await s.next((m) => m.t === "deviceGone" && m.deviceId === "TEST/MOTOR/Z");
    s.ws.send("not json");
    const notice = await s.next<Extract<ServerMessage, { t: "notice" }>>((m) => m.t === "notice");
    assert.match(notice.text, /not JSON/);
    s.ws.close();
  });

  test("the topology lists devices in natural order (module 9 before module 10)", async () => {
    const s = await session(await login("operator", "operator"));
    const ids = ["TEST/MODULE/10", "TEST/MODULE/9"];
    for (const deviceId of ids) {
      const r = await s.request({
        t: "instantiate",
        serverId: "sase/server/main",
        classId: "SimulatedMotor",
        deviceId,
        config: {},
      });
      assert.equal(r.ok, true);
    }
    const topo = await s.next<Extract<ServerMessage, { t: "topology" }>>(
      (m) => m.t === "topology" && ids.every((id) => JSON.stringify(m).includes(id)),
    );
    const devices = topo.topology.hosts.flatMap((h) => h.servers.flatMap((x) => x.devices.map((d) => d.id)));
    assert.ok(devices.indexOf("TEST/MODULE/9") < devices.indexOf("TEST/MODULE/10"), devices.join(", "));
    for (const deviceId of ids) assert.equal((await s.request({ t: "kill", deviceId })).ok, true);
    s.ws.close();
  });
});
