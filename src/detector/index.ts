// Public API of the detector layer: detectors described as data (geometry included) and the simulated
// AGIPD-like detector.
//
//   const sim = new SimulatedDetector(AGIPD_1M_DETECTOR, { seed: 1, cells: 64, dark: null });
//   const train = sim.moduleTrain(module, trainId);        // raw image.data, cellId, pulseId, ...
//   await writeSimulatedRun(dir, { detector, run, trains, modules, cells, seed });   // EXDF raw run
//   facility.addDevice(DetectorModuleDevice, "SPB_DET_AGIPD1M-1/DET/0CH0", { module: 0 });  // :xtdf
export * from "./description.ts";
export * from "./random.ts";
export * from "./encoding.ts";
export * from "./simulate.ts";
export * from "./detector.ts";
export * from "./run.ts";
export * from "./device.ts";
export * from "./control-device.ts";
export * from "./sim-threads.ts";
export * from "./geometry.ts";
export * from "./assemble-simd.ts";
export * from "./geometry-crystfel.ts";
export * from "./radial.ts";
export * from "./xgm-device.ts";
