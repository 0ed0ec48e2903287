// CLI commands: sase ls, validate (EXDF files).
import type { Command } from "commander";

/** Adds this group's commands to the sase program. */
export function registerFilesCommands(_program: Command): void {}
