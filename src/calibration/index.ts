// Public API of the calibration layer: geometry and assembly, dark characterisation, constants and
// correction of detector data.
export * from "./geometry.ts";
export * from "./geometry-crystfel.ts";
export * from "./radial.ts";
export * from "./badpixels.ts";
export * from "./constants.ts";
export * from "./kernel.ts";
export * from "./corrector.ts";
export * from "./truth.ts";
export * from "./dark.ts";
export * from "./store.ts";
export * from "./module-constants.ts";
export * from "./pool.ts";
export * from "./run-io.ts";
export * from "./offline.ts";
export * from "./frame-pool.ts";
export * from "./device.ts";
export * from "./simd.ts";
export * from "./assembler.ts";
