// Public API of the table layer: the run table (DAMNIT-style). A proposal's context.ts declares
// variables; each migrated run gets them computed by a job; values live in the catalogue (arrays and
// images in HDF5 beside it); errors stay in their cells.
//   export default defineContext({ xgm: { title: "XGM", unit: "µJ", sources: [XGM_SOURCE],
//     compute: (run) => mean(run.keyData(XGM_SOURCE, "pulseEnergy.photonFlux").ndarray().data) } });
//   const store = new TableStore(cat, roots.catalogue);
//   await computeRun(store, run, await loadContext(contextPath(roots.offline, run.proposal)));
//   tableCsv(...Object.values(tableOf(store, proposal)))
// A variable may be an analysis graph's output: graphVariable("iq.json", "az.iq", { title: "I(q)" }).
export * from "./compute.ts";
export * from "./graph-variable.ts";
export * from "./jobs.ts";
export * from "./rows.ts";
export * from "./store.ts";
export * from "./user-code.ts";
export * from "./variables.ts";
