// Public API of the detector layer: detector descriptions and the simulated AGIPD-like detector.
export * from "./description.ts";
export * from "./random.ts";
export * from "./encoding.ts";
export * from "./simulate.ts";
export * from "./detector.ts";
export * from "./run.ts";
export * from "./device.ts";
