// Public API of the calibration layer: dark characterisation, constants, correction of detector data
// and assembly of the modules into one image (the geometry itself is part of the detector layer).
export * from "./badpixels.ts";
export * from "./constants.ts";
export * from "./kernel.ts";
export * from "./corrector.ts";
export * from "./truth.ts";
export * from "./dark.ts";
export * from "./pc.ts";
export * from "./pc-run.ts";
export * from "./store.ts";
export * from "./module-constants.ts";
export * from "./pool.ts";
export * from "./run-io.ts";
export * from "./offline.ts";
export * from "./frame-pool.ts";
export * from "./online-threads.ts";
export * from "./device.ts";
export * from "./simd.ts";
export * from "./assembler.ts";
export * from "./facility.ts";
