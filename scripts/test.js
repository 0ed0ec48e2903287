#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's own test runner (through tsx), so CI reads node's summary.
// untranspiled.mjs keeps tsx off h5wasm's 4 MB build (seconds of CPU per test file otherwise).
// Usage: npm test [-- <path filter> ...]   e.g. npm test -- test/files
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = findTests("test").filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
// The tests run the `sase` command from the compiled build (see bin/sase.js), so build it first.
const built = spawnSync(process.execPath, [join(import.meta.dirname, "build.js")], { stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);
const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--import",
    join(import.meta.dirname, "untranspiled.mjs"),
    "--test",
    "--test-concurrency=2",
    "--test-reporter=spec",
    ...files,
  ],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
