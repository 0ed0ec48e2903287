// The sase library: the public API of every layer, lowest first (the order of README's "Layers").
export * from "./core/index.ts";
export * from "./files/index.ts";
export * from "./devices/index.ts";
export * from "./pipeline/index.ts";
export * from "./detector/index.ts";
export * from "./bridge/index.ts";
export * from "./calibration/index.ts";
export * from "./daq/index.ts";
export * from "./analysis/index.ts";
export * from "./table/index.ts";
export * from "./notebook/index.ts";
// The GUI layer shares some names with core (Topology, AccessMode: its browser-side wire forms).
export * as gui from "./gui/index.ts";
