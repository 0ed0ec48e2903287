// Public API of the notebook layer: sase in Jupyter. Rich display of sase objects (a run's info as a
// table, images with a colour bar, figures as SVG), a small plotting helper, the TypeScript kernel and
// headless runs of notebooks with provenance.
//   display(run); display(imshow(meanImage, { title: "mean" })); plot(xgm, { xlabel: "pulse" })
//   histogram(values, { bins: 100 }); scatter(motor, roi, { xlabel: "x [mm]" })
//   await runNotebook("nb.ipynb", { params: { run: "12" }, outIpynb, outHtml })
//   await analyseGraph(run, "g.json")      // an analysis graph's results, every output plotted
//   await readGraphResults("results.h5")   // the same from `sase analyse --out`
export * from "./cells.ts";
export * from "./display.ts";
export * from "./figure.ts";
export * from "./graph-results.ts";
export * from "./kernel.ts";
export * from "./kernelspec.ts";
export * from "./png.ts";
export * from "./runner.ts";
