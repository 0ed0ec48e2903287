#!/usr/bin/env node
// The sase command. Sources are TypeScript run through tsx, so no build step stands between a
// checkout and a working CLI.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
