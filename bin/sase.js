#!/usr/bin/env node
// The sase command. It runs the compiled JavaScript in dist/ (built by `npm ci` and `npm pack`
// through the prepare script, and by `npm test`), which starts in a fraction of a second. In a git
// checkout, while a source under src/ is newer than that build (it is being edited) or there is no
// build, it runs the TypeScript sources through tsx instead, so a checkout never runs stale code.
// An installed package (no .git; npm does not keep file times) always runs its dist.
import { existsSync, readdirSync, statSync } from "node:fs";

const src = new URL("../src/", import.meta.url);

/** Modification time of dist's build stamp, or -1 when there is no build. */
function builtAt() {
  try {
    return statSync(new URL("../dist/BUILT", import.meta.url)).mtimeMs;
  } catch {
    return -1;
  }
}

function sourcesNewerThan(time) {
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    if (statSync(`${entry.parentPath ?? entry.path}/${entry.name}`).mtimeMs > time) return true;
  }
  return false;
}

const built = builtAt();
const checkout = existsSync(new URL("../.git", import.meta.url));
if (built >= 0 && !(checkout && sourcesNewerThan(built))) {
  await import("../dist/cli/main.js");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  // After tsx, so that h5wasm's 4 MB build loads as it is (see that file).
  await import("../scripts/untranspiled.mjs");
  await import("../src/cli/main.ts");
}
