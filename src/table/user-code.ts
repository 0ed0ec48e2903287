// Loading user TypeScript (context files) at run time. A file outside any package would load as
// CommonJS, where `import ... from "sase"` cannot resolve; so the file is compiled to an ES module
// (esbuild, which tsx uses too) in a temporary folder (never beside the data) and imported from there,
// with "sase" resolving to this checkout. Its imports are therefore "sase" and node's own modules.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { register } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { transform } from "esbuild";
import { pathToFileURL } from "node:url";
import { ContextError, orderVariables, type RunContext, type Variable } from "./variables.ts";

let registered = false;

// This library as the running process has it: the TypeScript sources (under tsx) or dist's build.
const SASE_ENTRY = new URL(import.meta.url.endsWith(".ts") ? "../index.ts" : "../index.js", import.meta.url);

// A module resolution hook (as source, so it needs no file of its own in src or dist). It passes
// "sase" on down the chain as the entry's URL, so that tsx, where registered, resolves and loads it.
const RESOLVE_HOOK = `export async function resolve(specifier, context, next) {
  return next(specifier === "sase" ? ${JSON.stringify(SASE_ENTRY.href)} : specifier, context);
}`;

/** Makes `import ... from "sase"` work in user code loaded after this call (idempotent). */
export function registerSaseImports(): void {
  if (registered) return;
  register(`data:text/javascript,${encodeURIComponent(RESOLVE_HOOK)}`);
  registered = true;
}

/** A context file, loaded: its variables in dependency order and the hash of its text. */
export interface LoadedContext {
  readonly path: string;
  /** SHA-256 (first 16 hex digits) of the file: the context version stored with every value. */
  readonly version: string;
  readonly variables: readonly [string, Variable][];
}

/** Loads a context file (TypeScript; its default export is the variables). Errors name the file. */
export async function loadContext(path: string): Promise<LoadedContext> {
  const full = resolve(path);
  let text: string;
  try {
    text = readFileSync(full, "utf8");
  } catch (e) {
    throw new ContextError(`cannot read context file ${full}: ${(e as Error).message}`);
  }
  const version = createHash("sha256").update(text).digest("hex").slice(0, 16);
  registerSaseImports();
  let mod: { default?: unknown };
  try {
    const js = await transform(text, { loader: "ts", format: "esm", sourcefile: full, target: "node20" });
    const dir = join(tmpdir(), "sase-context");
    mkdirSync(dir, { recursive: true });
    // Named by version: a long-lived process loads an edited file afresh.
    const compiled = join(dir, `context-${version}.mjs`);
    writeFileSync(compiled, js.code);
    mod = (await import(pathToFileURL(compiled).href)) as { default?: unknown };
  } catch (e) {
    throw new ContextError(`context file ${full} does not load: ${(e as Error).message}`);
  }
  const context = (mod.default ?? mod) as RunContext;
  try {
    return { path: full, version, variables: orderVariables(context) };
  } catch (e) {
    throw new ContextError(`${full}: ${(e as Error).message}`);
  }
}
