// Serving a run streams each detector array from its file through a few reused buffers instead of
// reading the train into memory first: what a client receives must be byte for byte what reading
// the run gives, over the streamed path (REP, 2.2) and the paths that read first (1.0, PUSH).
import assert from "node:assert/strict";
import { readdirSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  BridgeClient,
  BridgeServer,
  type BridgeTrain,
  type ProtocolVersion,
  STREAM_FROM_BYTES,
  type ServerSocketType,
  bridgeTrainsFromRun,
  servedTrainsFromRun,
} from "../../src/bridge/index.ts";
import { isNDArray, type NDArray, type SaseError } from "../../src/core/index.ts";
import { type ArrayInFile, isArrayInFile, openRun } from "../../src/files/index.ts";
import { AGIPD, tempDir, writeSampleRun } from "../files/helpers.ts";
import { until } from "../helpers/until.ts";
import { within } from "./helpers.ts";

const bytes = (a: NDArray) => new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);

/** Reads `a` in pieces of `piece` bytes into one reused buffer, as a server streaming it does. */
function readInPieces(a: ArrayInFile, piece: number): Uint8Array {
  const out = new Uint8Array(a.byteLength);
  const buf = new Uint8Array(piece);
  for (let off = 0; off < a.byteLength; off += piece) {
    const n = Math.min(piece, a.byteLength - off);
    if (a.read(off, buf.subarray(0, n))) out.set(buf.subarray(0, n), off); // else all zeros: out has them
  }
  return out;
}

test("a run's detector arrays left in the file read back byte for byte, in pieces of any size", async () => {
  const { dir, cleanup } = tempDir("sase-stream-");
  try {
    // 16.8 MB a train in 4 MiB chunks, two trains a sequence file, train 10002 without the detector.
    await writeSampleRun(dir, 4);
    const run = await openRun(dir);
    try {
      const read = run.trains();
      let n = 0;
      for await (const { trainId, data } of run.trainsInFile(STREAM_FROM_BYTES)) {
        const want = (await read.next()).value as {
          trainId: number;
          data: Record<string, Record<string, unknown>>;
        };
        assert.equal(trainId, want.trainId);
        assert.deepEqual(
          Object.keys(data).sort(),
          Object.keys(want.data).sort(),
          `train ${trainId}: sources`,
        );
        const image = data[AGIPD]?.["image.data"];
        if (trainId === 10002) assert.equal(image, undefined);
        else {
          assert.ok(isArrayInFile(image), `train ${trainId}: image.data left in the file`);
          const expected = want.data[AGIPD]?.["image.data"] as NDArray;
          assert.deepEqual([...image.shape], [...expected.shape]);
          assert.equal(image.dtype, expected.dtype);
          for (const piece of [STREAM_FROM_BYTES, 999_983, image.byteLength])
            assert.ok(
              Buffer.from(readInPieces(image, piece)).equals(bytes(expected)),
              `train ${trainId}: bytes`,
            );
          // Small keys are read as before.
          assert.ok(isNDArray(data[AGIPD]?.["image.cellId"]));
        }
        n++;
      }
      assert.equal(n, 4);
    } finally {
      run.close();
    }
  } finally {
    cleanup();
  }
});

/** The trains a client gets from a server replaying `dir` (every train, in order). */
async function served(
  dir: string,
  sock: ServerSocketType,
  protocol: ProtocolVersion,
): Promise<BridgeTrain[]> {
  const run = await openRun(dir);
  const server = new BridgeServer({
    endpoint: "tcp://127.0.0.1:0",
    sock,
    protocol,
    dropPolicy: "block",
    queueSize: 1,
  });
  const endpoint = await server.start();
  const client = new BridgeClient(endpoint, {
    sock: sock === "REP" ? "REQ" : "PULL",
    timeoutMs: 30_000,
    requestsInFlight: 2,
  });
  const serving = server.serve(servedTrainsFromRun(run));
  try {
    const got: BridgeTrain[] = [];
    for (let i = 0; i < run.trainIds.length; i++) got.push(await within(60_000, `train ${i}`, client.next()));
    await serving;
    return got;
  } finally {
    client.close();
    await server.close();
    run.close();
  }
}

test("a server replaying a run gives clients every byte of it, streamed (REP 2.2) or read first (1.0, PUSH)", async () => {
  const { dir, cleanup } = tempDir("sase-stream-");
  try {
    await writeSampleRun(dir, 3);
    const run = await openRun(dir);
    const want: BridgeTrain[] = [];
    try {
      for await (const t of bridgeTrainsFromRun(run)) want.push(t);
    } finally {
      run.close();
    }
    for (const [sock, protocol] of [
      ["REP", "2.2"],
      ["REP", "1.0"],
      ["PUSH", "2.2"],
    ] as const) {
      const got = await served(dir, sock, protocol);
      assert.equal(got.length, want.length);
      got.forEach((train, i) => {
        const w = want[i] as BridgeTrain;
        const what = `${sock} ${protocol} train ${i}`;
        assert.deepEqual(Object.keys(train.data).sort(), Object.keys(w.data).sort(), `${what}: sources`);
        for (const [source, values] of Object.entries(w.data))
          for (const [key, v] of Object.entries(values)) {
            const g = train.data[source]?.[key];
            if (isNDArray(v)) {
              assert.ok(isNDArray(g), `${what} ${source} ${key}: an array`);
              assert.deepEqual([...g.shape], [...v.shape], `${what} ${source} ${key}: shape`);
              assert.ok(Buffer.from(bytes(g)).equals(bytes(v)), `${what} ${source} ${key}: bytes`);
            }
          }
      });
    }
  } finally {
    cleanup();
  }
});

test("a file cut short before its train streams from it fails the server's drain() with BAD_FILE", async () => {
  const { dir, cleanup } = tempDir("sase-stream-");
  try {
    await writeSampleRun(dir, 1);
    const run = await openRun(dir);
    const server = new BridgeServer({ endpoint: "tcp://127.0.0.1:0", dropPolicy: "block", queueSize: 1 });
    const endpoint = await server.start();
    const client = new BridgeClient(endpoint, { timeoutMs: 30_000, requestsInFlight: 1 });
    try {
      // The run's one train is queued (its arrays still in the file); then the file shrinks.
      const serving = server.serve(servedTrainsFromRun(run));
      await until(() => server.stats.queued === 1, "the train queued", 30_000);
      const detector = readdirSync(dir).find((f) => f.includes("AGIPD00")) as string;
      truncateSync(join(dir, detector), 64 << 10);
      const received = client.next().then(
        () => "a train",
        (err: Error) => err.message,
      );
      const badFile = (err: SaseError) => {
        assert.equal(err.code, "BAD_FILE");
        assert.match(err.message, /AGIPD00.*file ends before byte/);
        return true;
      };
      await within(30_000, "serve", serving); // its part, handing the run's trains over, is done
      await assert.rejects(within(30_000, "drain", server.drain()), badFile);
      client.close();
      assert.notEqual(await received, "a train");
    } finally {
      client.close();
      await server.close();
      run.close();
    }
  } finally {
    cleanup();
  }
});
