// Public API of the bridge layer: the Karabo bridge protocol (1.0 and 2.2, as karabo-bridge-py and
// EXtra-data speak it), server, client, run replay, a simulated AGIPD stream and a bridge device.
//
//   const server = new BridgeServer({ endpoint: "tcp://*:4545", sock: "REP", protocol: "2.2" });
//   await server.start();
//   await server.serve(servedTrainsFromRun(await openRun(dir)));   // or server.feed(train) per train
//   (servedTrainsFromRun leaves detector arrays in the file; the server streams them through a few
//   reused 1 MiB buffers as it writes them: bridgeTrainsFromRun reads every train into memory)
//
//   const client = new BridgeClient("tcp://host:4545", { timeoutMs: 5000 });
//   for await (const train of client) { use(train.data[source]["image.data"]); client.release(train); }
//
// A train is { data: source → key → value | NDArray, metadata: source → {source, timestamp, ...} }.
// "REP" is served from a ROUTER socket, so bad requests are answered at once and requests can overlap;
// on tcp:// that ROUTER speaks ZMTP 3.1 itself over node:net (zmtp-router.ts), a train leaving as one
// gathered writev with its arrays uncopied. A REQ client on tcp:// speaks ZMTP 3.1 the same way
// (zmtp.ts), reading large frames straight into their arrays, and release(train) lets the next train
// reuse that memory. Other endpoints and socket types, or `transport: "zeromq"`, go through zeromq.js.
// All stay wire-compatible with karabo-bridge-py.
export * from "./types.ts";
export { MsgpackError, MsgExt, type MsgMap, type MsgValue, decodeMsgpack, encodeMsgpack } from "./msgpack.ts";
export {
  type Frames,
  type OutFrame,
  decodeTrain,
  encodeTrain,
  encodeTrainStreaming,
  parseNumpyDType,
} from "./protocol.ts";
export { DROP_POLICIES, type DropPolicy } from "./queue.ts";
export { BridgeServer, type BridgeServerOptions, type BridgeServerStats } from "./server.ts";
export { BridgeClient, type BridgeClientOptions, type RawMessage } from "./client.ts";
export {
  type RunTrainsOptions,
  STREAM_FROM_BYTES,
  bridgeTrainFromRun,
  bridgeTrainsFromRun,
  servedTrainsFromRun,
} from "./files.ts";
export { type AgipdSimOptions, simulatedAgipdTrains } from "./sim.ts";
export { KaraboBridge, sourceFromToken } from "./device.ts";
export { type PipelineTrainsOptions, pipelineTrains } from "./pipeline.ts";
