#!/usr/bin/env node
// Compiles src/**/*.ts to dist/**/*.js, one file per module (no bundle), so that `sase` starts without
// transpiling at run time and each command loads only the layers it imports. Relative imports are
// rewritten from .ts to .js; packages stay imports. Runs from `npm ci`/`npm pack` (the prepare script)
// and before `npm test`; takes about a second.
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { build } from "esbuild";

const root = join(import.meta.dirname, "..");
const src = join(root, "src");
const dist = join(root, "dist");

function sources(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    // The browser code is bundled by the GUI server at run time, from src/gui/web.
    if (entry.isDirectory()) {
      if (relative(src, path) !== join("gui", "web")) found.push(...sources(path));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) found.push(path);
  }
  return found;
}

/** Leaves every import as an import; relative ones point at the compiled .js sibling. */
const perModule = {
  name: "per-module",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      return { path: args.path.replace(/^(\.\.?\/.*)\.ts$/, "$1.js"), external: true };
    });
  },
};

rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: sources(src),
  outdir: dist,
  outbase: src,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  plugins: [perModule],
  logLevel: "warning",
});
// bin/sase.js uses dist only while no source is newer than this stamp.
writeFileSync(join(dist, "BUILT"), `${new Date().toISOString()}\n`);
