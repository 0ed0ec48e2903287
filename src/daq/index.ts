// Public API of the daq layer: run catalogue, migration, triggered calibration, run control, recording.
export * from "./acquisition.ts";
export * from "./catalogue.ts";
export * from "./config.ts";
export * from "./device.ts";
export * from "./executors.ts";
export * from "./jobs.ts";
export * from "./manage.ts";
export * from "./migrate.ts";
export * from "./recorder.ts";
export * from "./recover.ts";
export * from "./sources.ts";
export * from "./facility.ts";
