// Public API of the core layer: the data model and device framework every other layer builds on.
export * from "./ndarray.ts";
export * from "./timestamp.ts";
export * from "./log.ts";
export * from "./hash-types.ts";
export * from "./hash.ts";
export * from "./hash-binary.ts";
export * from "./state.ts";
// Device framework: schema, validation, devices, servers, brokers, clients.
export * from "./access.ts";
export * from "./errors.ts";
export * from "./units.ts";
export * from "./schema.ts";
export * from "./schema-hash.ts";
export * from "./config-hash.ts";
export * from "./validate.ts";
export * from "./stream.ts";
export * from "./clock.ts";
export * from "./broker.ts";
export * from "./inprocess-broker.ts";
export * from "./device.ts";
export * from "./server.ts";
export * from "./client.ts";
export * from "./control.ts";
export * from "./names.ts";
export * from "./version.ts";
