// Public API of the bridge layer: the Karabo bridge protocol (1.0 and 2.2), server and client.
export * from "./types.ts";
export { MsgpackError, MsgExt, type MsgMap, type MsgValue, decodeMsgpack, encodeMsgpack } from "./msgpack.ts";
export { type Frames, decodeTrain, encodeTrain, parseNumpyDType } from "./protocol.ts";
export { DROP_POLICIES, type DropPolicy } from "./queue.ts";
export { BridgeServer, type BridgeServerOptions, type BridgeServerStats } from "./server.ts";
export { BridgeClient, type BridgeClientOptions, type RawMessage } from "./client.ts";
export { type RunTrainsOptions, bridgeTrainFromRun, bridgeTrainsFromRun } from "./files.ts";
export { type AgipdSimOptions, simulatedAgipdTrains } from "./sim.ts";
export { KaraboBridge, sourceFromToken } from "./device.ts";
