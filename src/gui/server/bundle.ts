// Builds the browser bundle with esbuild when the server starts: no CDN, no separate install, no build
// step to forget. The result lives in memory (about 100 kB); building takes a fraction of a second.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

// The browser sources are TypeScript under src/gui/web, also when this module runs compiled from
// dist/gui/server (see scripts/build.js).
const HERE = dirname(fileURLToPath(import.meta.url));
const WEB_DIR = [join(HERE, "..", "web"), join(HERE, "..", "..", "..", "src", "gui", "web")].find((d) =>
  existsSync(join(d, "main.ts")),
) as string;

/** The files the page needs, keyed by URL path. */
export interface WebBundle {
  files: Map<string, { body: Buffer; type: string }>;
}

let cached: Promise<WebBundle> | null = null;

/** Builds (once per process) the page: index.html, app.js, app.css and its icon. */
export function webBundle(): Promise<WebBundle> {
  cached ??= buildBundle().catch((e) => {
    cached = null;
    throw e;
  });
  return cached;
}

async function buildBundle(): Promise<WebBundle> {
  const result = await build({
    entryPoints: { app: join(WEB_DIR, "main.ts") },
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: false,
    write: false,
    outdir: "/",
    loader: { ".css": "css" },
    logLevel: "silent",
  });
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const f of result.outputFiles) {
    const name = f.path.slice(f.path.lastIndexOf("/"));
    const type = name.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
    files.set(name, { body: Buffer.from(f.contents), type });
  }
  files.set("/", { body: readFileSync(join(WEB_DIR, "index.html")), type: "text/html; charset=utf-8" });
  files.set("/icon.svg", { body: readFileSync(join(WEB_DIR, "icon.svg")), type: "image/svg+xml" });
  return { files };
}
