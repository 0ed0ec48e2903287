// Module hooks for ./untranspiled.mjs: the files of these packages load without tsx's transform.
import { readFile } from "node:fs/promises";

const AS_IS = /\/node_modules\/h5wasm\/dist\/node\/[^/]+\.js$/;

export async function load(url, context, nextLoad) {
  if (AS_IS.test(url)) return { format: "module", source: await readFile(new URL(url)), shortCircuit: true };
  return nextLoad(url, context);
}
