// One error base: every error sase raises is a SaseError with a code from ERROR_CODES. Checked on the
// sources (no bare Error, every error class derives from SaseError), then on real failures of several
// layers: each carries its code and what it concerns, keeps it across a broker, and reaches the CLI
// (`sase: CODE: message`) and the GUI's request replies with it.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { test } from "node:test";
import { parseGraphDocument } from "../src/analysis/index.ts";
import { BridgeClient, encodeMsgpack, parseProtocolVersion } from "../src/bridge/index.ts";
import { Arena } from "../src/calibration/index.ts";
import { describeFailure } from "../src/cli/errors.ts";
import { registerFilesCommands } from "../src/cli/files.ts";
import {
  ERROR_CODES,
  errorFromWire,
  errorToWire,
  Hash,
  ndarray,
  SaseError,
  toState,
} from "../src/core/index.ts";
import { AGIPD_1M, detectorByName, readCrystfelGeom } from "../src/detector/index.ts";
import { openRun } from "../src/files/index.ts";
import type { PropertyInfo } from "../src/gui/index.ts";
import { encodePng } from "../src/notebook/index.ts";
import { parseUsers } from "../src/gui/server/auth.ts";
import { asRequestError } from "../src/gui/server/backend.ts";
import { validateReconfiguration } from "../src/gui/server/validate.ts";
import { parseChannelId } from "../src/pipeline/index.ts";
import { orderVariables } from "../src/table/index.ts";
import { runCliInProcess } from "./helpers/cli.ts";

const src = resolve(import.meta.dirname, "../src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

const files = sources(src).map((path) => ({
  name: relative(src, path),
  text: readFileSync(path, "utf8").replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, ""),
}));

/** Error classes allowed not to derive from SaseError, each with the reason (none so far). */
const OUTSIDE_THE_BASE: Readonly<Record<string, string>> = {};

test("no bare Error, TypeError or RangeError is created in src/ (a value thrown that is not an Error may be wrapped in one)", () => {
  // TypeError and RangeError too: an argument check must carry a code (BAD_OPTION, BAD_SHAPE, ...) like
  // any other failure, or a GUI sees only INTERNAL.
  const bare = files.flatMap(({ name, text }) =>
    text
      .split("\n")
      .map((line, i) => ({ line, at: `${name}:${i + 1}` }))
      .filter(
        ({ line }) =>
          (/\bnew Error\(/.test(line) && !/\bnew Error\(String\(/.test(line)) ||
          /\bnew (TypeError|RangeError)\(/.test(line),
      )
      .map(({ at, line }) => `${at}: ${line.trim()}`),
  );
  assert.deepEqual(bare, [], "throw a SaseError (or a layer's subclass) with a code from ERROR_CODES");
});

test("every error class in src/ derives from SaseError", () => {
  const parent = new Map<string, string>();
  for (const { text } of files)
    for (const m of text.matchAll(/\bclass (\w+) extends (\w+)/g)) parent.set(m[1]!, m[2]!);
  const errors = [...parent.keys()].filter((c) => /Error$/.test(c) && c !== "SaseError");
  const outside = errors.filter((c) => {
    let at: string | undefined = c;
    while (at !== undefined && at !== "SaseError") at = parent.get(at);
    return at === undefined && !(c in OUTSIDE_THE_BASE);
  });
  assert.deepEqual(outside, []);
  assert.ok(errors.length >= 25, `found only ${errors.length} error classes: the scan is broken`);
});

test("codes are upper-case words, each with what it means", () => {
  for (const [code, meaning] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^[A-Z][A-Z0-9_]*$/);
    assert.ok(meaning.length > 10, code);
  }
});

/** Calls `fn` and returns the SaseError it throws or rejects with. */
async function failure(fn: () => unknown): Promise<SaseError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof SaseError, `${String(e)} is not a SaseError`);
    return e;
  }
  assert.fail("no error");
}

test("failures of several layers carry their code and what they concern, also across a broker", async () => {
  const cases: [string, () => unknown, string, RegExp][] = [
    ["core", () => new Hash().set("cfg.gain", 300, "UINT8"), "HASH_RANGE", /cfg\.gain.*300/],
    ["files", () => openRun("/no/such/run"), "NOT_FOUND", /\/no\/such\/run/],
    ["pipeline", () => parseChannelId("no-colon"), "BAD_CHANNEL_ID", /no-colon/],
    [
      "detector",
      () => readCrystfelGeom("panel0/min_fs 0\n", AGIPD_1M, "x.geom"),
      "BAD_GEOMETRY",
      /x\.geom:1/,
    ],
    ["bridge", () => parseProtocolVersion("9.9"), "BAD_VERSION", /"9\.9"/],
    ["table", () => orderVariables({ "not a name": {} }), "BAD_CONTEXT", /"not a name"/],
    ["analysis", () => parseGraphDocument({ nodes: 3 }), "BAD_GRAPH", /expected "sase\.analysis-graph"/],
    ["gui", () => parseUsers([{ role: "admin" }], "users.json"), "BAD_USERS_FILE", /users\.json\[0\]/],
  ];
  for (const [layer, fn, code, message] of cases) {
    const e = await failure(fn);
    assert.equal(e.code, code, `${layer}: ${e.message}`);
    assert.match(e.message, message, layer);
    const back = errorFromWire(errorToWire(e));
    assert.deepEqual([back.code, back.message], [e.code, e.message], `${layer} across a broker`);
  }
});

test("argument checks carry a code, and the offending value where there is one", async () => {
  const cases: [() => unknown, string, RegExp, string | undefined][] = [
    [() => toState("NOPE"), "BAD_OPTION", /"NOPE" is not a Karabo state/, '"NOPE"'],
    [() => ndarray(new Uint8Array(3), [2, 2]), "BAD_SHAPE", /needs 4 elements, the data has 3/, "[2,2]"],
    [() => detectorByName("XYZ"), "BAD_OPTION", /unknown detector "XYZ"/, '"XYZ"'],
    [
      () => new BridgeClient("tcp://127.0.0.1:1", { requestsInFlight: 0 }),
      "BAD_OPTION",
      /requestsInFlight must be an integer ≥ 1, got 0/,
      "0",
    ],
    [() => new Arena(0).alloc(1 << 20), "NO_ROOM", /Arena full/, "1048576"],
    [() => encodePng(2, 2, new Uint8Array(3)), "BAD_IMAGE", /3 bytes for 2×2/, undefined],
    [() => encodeMsgpack((() => 1) as never), "MSGPACK_MALFORMED", /cannot encode a function/, undefined],
  ];
  for (const [fn, code, message, value] of cases) {
    const e = await failure(fn);
    assert.deepEqual([e.code, e.details.value], [code, value], e.message);
    assert.match(e.message, message);
  }
});

test("the CLI prints a failure as sase: CODE: message, exit code 1", async () => {
  assert.equal(
    describeFailure(new SaseError("TARGET_EXISTS", "out.h5 exists")),
    "TARGET_EXISTS: out.h5 exists",
  );
  const empty = mkdtempSync(join(tmpdir(), "sase-errors-"));
  try {
    const r = await runCliInProcess(registerFilesCommands, ["ls", empty]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^sase: BAD_FILE: file .*sase-errors-.*: no HDF5 files \(\*\.h5\) in run directory\n$/,
    );
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("the GUI's refused requests carry the code and the field at fault", async () => {
  const velocity: PropertyInfo = {
    key: "velocity",
    kind: "property",
    displayedName: "Velocity",
    description: "",
    valueType: "DOUBLE",
    accessMode: "reconfigurable",
    unit: "mm/s",
    maxInc: 100,
    allowedStates: [],
    requiredAccessLevel: 1,
  };
  const e = await failure(() => validateReconfiguration([velocity], { velocity: 1000 }, "operator", "ON"));
  const reply = asRequestError(e);
  assert.deepEqual(
    [reply.code, reply.field, reply.message],
    ["OUT_OF_RANGE", "velocity", "Velocity must be ≤ 100 mm/s"],
  );
  // A failure from a lower layer keeps its code on its way to the page; one of another library is INTERNAL.
  const graph = asRequestError(await failure(() => parseGraphDocument({ nodes: 3 })));
  assert.equal(graph.code, "BAD_GRAPH");
  assert.equal(asRequestError(new TypeError("x is undefined")).code, "INTERNAL");
});
