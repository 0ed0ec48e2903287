// Public API of the calibration layer: geometry and assembly, dark characterisation, constants and
// correction of detector data.
export * from "./geometry.ts";
export * from "./geometry-crystfel.ts";
export * from "./radial.ts";
