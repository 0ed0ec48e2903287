// CLI commands: sase runs, run flag, migrate (DAQ and data management).
import type { Command } from "commander";

/** Adds this group's commands to the sase program. */
export function registerDaqCommands(_program: Command): void {}
