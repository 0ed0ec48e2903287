// The layer rule and no import cycles, checked on the sources: every relative import in src/ goes to
// the same layer or one below it (LAYERS, bottom first, as README's diagram shows them), and no files
// import each other in a cycle. Type-only imports count too: a cycle of types is still two files that
// cannot be understood one without the other.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

/**
 * The layers, bottom first; layers on one line are side by side and do not import each other. A new
 * folder under src/ goes here (and into README's "Layers" diagram) on the line above everything it imports.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["core"],
  ["files", "devices"],
  ["pipeline"],
  ["detector", "bridge"],
  ["calibration", "daq"],
  ["analysis"],
  ["table"],
  ["gui", "notebook"],
  ["cli"],
];

const src = resolve(import.meta.dirname, "../src");
const rank = new Map(LAYERS.flatMap((line, i) => line.map((layer) => [layer, i] as const)));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return relative(src, path) === join("gui", "web") ? [] : sources(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

/**
 * Relative imports of a file: `import`/`export ... from` (type-only and side-effect ones too) and, when
 * `dynamic`, `import("...")` — a lazy load still crosses layers, but it is no load-order cycle.
 */
function importsOf(file: string, dynamic: boolean): string[] {
  const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  const statement = /^\s*(?:import|export)\s+(?:[^;'"]*?\s+from\s+)?["'](\.[^"']+)["']/gm;
  for (const m of text.matchAll(statement)) out.push(m[1]!);
  if (dynamic) for (const m of text.matchAll(/\bimport\(\s*["'](\.[^"']+)["']\s*\)/g)) out.push(m[1]!);
  return out.map((spec) => resolve(dirname(file), spec));
}

const files = sources(src);
const graph = new Map(files.map((f) => [f, importsOf(f, true)]));
const staticGraph = new Map(files.map((f) => [f, importsOf(f, false)]));
const layerOf = (file: string) => relative(src, file).split("/")[0]!;
const name = (file: string) => relative(src, file);

test("every folder under src/ has its place in the layer table", () => {
  const folders = readdirSync(src, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  const missing = folders.filter((f) => !rank.has(f));
  assert.deepEqual(
    missing,
    [],
    `src/${missing[0]} is not in the layer table: add it to LAYERS in test/layers.test.ts (on the line ` +
      "above every layer it imports) and to the Layers diagram in README.md",
  );
});

test("no import runs up the layer order", () => {
  const wrong: string[] = [];
  for (const [file, imports] of graph) {
    const from = layerOf(file);
    for (const target of imports) {
      const to = layerOf(target);
      if (from === to || from.endsWith(".ts") || !rank.has(from) || !rank.has(to)) continue;
      if (rank.get(to)! >= rank.get(from)!)
        wrong.push(`${name(file)} imports ${name(target)}: ${from} may not import ${to}`);
    }
  }
  assert.deepEqual(wrong, [], `layer order (test/layers.test.ts LAYERS):\n${wrong.join("\n")}`);
});

test("no files import each other in a cycle", () => {
  // Tarjan's strongly connected components: a component of more than one file is a cycle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of staticGraph.get(v) ?? []) {
      if (!staticGraph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(name(w));
      } while (w !== v);
      if (scc.length > 1) cycles.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.map((c) => c.join(" ↔ ")).join("\n")}`);
});
