#!/usr/bin/env node
// Runs one benchmark (or all of bench/*.ts) through tsx: npm run bench -- files
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";

const wanted = process.argv.slice(2);
const all = readdirSync("bench")
  .filter((f) => f.endsWith(".ts"))
  .sort();
const chosen = wanted.length ? all.filter((f) => wanted.some((w) => f.startsWith(w))) : all;
for (const file of chosen) {
  console.log(`\n=== bench/${file}`);
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "--import", "./scripts/untranspiled.mjs", `bench/${file}`],
    { stdio: "inherit" },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
}
