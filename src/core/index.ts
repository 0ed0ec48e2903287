// Public API of the core layer: the data model and device framework every other layer builds on.
export * from "./ndarray.ts";
export * from "./timestamp.ts";
export * from "./log.ts";
export * from "./hash-types.ts";
export * from "./hash.ts";
export * from "./hash-binary.ts";
export * from "./state.ts";
