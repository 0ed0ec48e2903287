// Public API of the pipeline layer: output and input channels that stream data tokens between devices.
//
//   const out = new OutputChannel("DET/AGIPD/M0:output", { "image.data": { type: "NDARRAY", dtype: "uint16" } });
//   await out.listen();                               // optional: accept inputs of other processes (TCP)
//   await out.write({ image: { data: ndarray(...) } }, { trainId });
//   await out.endOfStream();
//
//   const inp = new InputChannel("CAL/AGIPD/M0:input", { connectedOutputChannels: ["DET/AGIPD/M0:output"],
//                                  dataDistribution: "shared", onSlowness: "wait" }).connect();
//   for await (const token of inp) { token.data.get("image.data"); token.meta.timestamp.trainId; }
//   // or: inp.onData(async (token) => ...).onEndOfStream(() => ...)
//
// In one process the input receives the very objects written (zero copy; treat them as read-only).
// Across processes the same API runs over TCP in Karabo's pipeline protocol, so Karabo's devices connect
// to sase outputs and sase inputs to Karabo outputs (address from `listen()`, found through the registry
// or given as `tcp://host:port`). Health figures: `stats()` / `onHealth()` on both ends.
//
// On devices: declare `output: outputChannel({ dataSchema })` / `input: inputChannel({ ... })` in the
// schema of a `definePipelineDevice({...})` class; use `this.output("output")` / `this.input("input")`.
// Settings are the channel's INIT keys (`input.connectedOutputChannels`, `input.onSlowness`, ...); health
// is published as read-only keys (`input.rate`, `.latencyMs`, `.queueDepth`, `.dropped`, `.lost`,
// `.reconnects`, `.lastError`, `.health`, `.alarmCondition`; `output.address`, `.connections`, ...).
// Ad-hoc consumers (GUI, bridge, DAQ) create an InputChannel with an id of their own and connect it.
export * from "./data-schema.ts";
export * from "./input.ts";
export type { DeliveryInfo, OutputStats, PeerStats, WriteMeta } from "./output.ts";
export { OutputChannel } from "./output.ts";
export * from "./registry.ts";
export type { AlarmLevel } from "./stats.ts";
export * from "./types.ts";
export * from "./device.ts";
export * from "./matcher.ts";
export * from "./producer.ts";
export * from "./demo-devices.ts";
