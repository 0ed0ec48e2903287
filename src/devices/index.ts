// Public API of the devices layer: the standard devices and the embedded facility.
export * from "./timing.ts";
export * from "./motor.ts";
export * from "./facility.ts";
