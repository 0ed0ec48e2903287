// The one convention for commands that write: an existing, non-empty target is refused unless the
// user gives --force, and the refusal says what is there and how to go on.
import { readdirSync, statSync } from "node:fs";
import { Option } from "commander";
import { CliError } from "./errors.ts";

/** The --force option of a command that writes: `what` it replaces, and what happens `otherwise`. */
export function forceOption(what: string, otherwise = "refuse to write over existing data"): Option {
  return new Option("--force", `replace ${what} (without: ${otherwise})`).default(false);
}

/** What `path` holds now: null when it does not exist, [] for an empty directory, [path] for a file. */
export function existingEntries(path: string): string[] | null {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    return null;
  }
  return isDir ? readdirSync(path).sort() : [path];
}

/**
 * Throws TARGET_EXISTS when `path` exists and is not an empty directory, unless `force`; returns what
 * is there (for the command to replace).
 */
export function refuseOverwrite(path: string, force: boolean, what = "data"): string[] {
  const entries = existingEntries(path) ?? [];
  if (entries.length === 1 && entries[0] === path && !force)
    throw new CliError("TARGET_EXISTS", `${path} exists; give --force to replace it`);
  if (entries.length > 0 && !force) {
    const some = entries.slice(0, 3).join(", ") + (entries.length > 3 ? ", …" : "");
    throw new CliError(
      "TARGET_EXISTS",
      `${path} already holds ${what} (${entries.length} entr${entries.length === 1 ? "y" : "ies"}: ${some}); give --force to replace it`,
    );
  }
  return entries;
}
