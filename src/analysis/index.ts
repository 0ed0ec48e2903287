// Public API of the analysis layer: an analysis graph (typed nodes composed without code, stored as a
// versioned JSON document per proposal) that runs the same on the live stream and on a recorded run.
//
//   const runner = await GraphRunner.create(JSON.parse(text), { baseDir });   // validates, loads user nodes
//   const results = runner.process(train);        // Map "node.port" → number | {x, y} | image
//   runner.stats(); runner.reset("corr");
//   const integ = new AzimuthalIntegrator({ width, height, geometry, distance, energy, bins: 512 });
//   integ.integrate(image);                       // I(q), q in integ.q (1/Å)
export * from "./types.ts";
export * from "./params.ts";
export * from "./node.ts";
export * from "./graph.ts";
export * from "./kinds.ts";
export * from "./azimuthal.ts";
export { rasterise } from "./image-nodes.ts";
export { pulsePattern } from "./pulse-nodes.ts";
export { binOf } from "./train-nodes.ts";
export { type UserNode, UserNodeFile, importUserNode } from "./user-node.ts";
export { GraphRunner, type NodeStats, type RunnerOptions, graphBaseDir } from "./runner.ts";
export {
  assembleImage,
  copyModuleFrame,
  flipRows,
  imageGeometry,
  type ModuleArray,
  trimPulses,
} from "./detector-image.ts";
export { analyseRun, graphProperties, moduleSources, type RunAnalysisOptions, runTrains } from "./offline.ts";
export { PER_TRAIN_IMAGE_PIXELS, ResultCollector } from "./results.ts";
export { type LiveImage, LiveGraph, type LiveUpdate, liveTrain, type PropertyLookup } from "./live.ts";
export { GraphStore } from "./store.ts";
