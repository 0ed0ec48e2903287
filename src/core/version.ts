// The sase version, read once from package.json so that the CLI, the files' METADATA and the DAQ's
// provenance cannot disagree with the package.
import { readFileSync } from "node:fs";

/** The version of this sase package (package.json's "version"). */
export const SASE_VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;
