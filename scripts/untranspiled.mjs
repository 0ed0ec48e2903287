// Imported after tsx (`node --import tsx --import ./scripts/untranspiled.mjs`, and by bin/sase.js when
// it runs the TypeScript sources): loads h5wasm's JavaScript as it is. tsx rewrites every dynamic
// import() of each JavaScript module it loads and attaches a source map; on h5wasm's 4 MB build that
// costs seconds of CPU and hundreds of MB per process (12 s on a loaded machine), paid by every test,
// benchmark and command that opens an HDF5 file. h5wasm is plain JavaScript: it needs no transform.
// Hooks registered later run first, so this one answers before tsx sees the file.
import { register } from "node:module";

register("./untranspiled-hooks.mjs", import.meta.url);
// Worker threads do not inherit module hooks: src/core/worker.ts loads this file in each worker too.
globalThis[Symbol.for("sase.untranspiled")] = import.meta.url;
