// CLI commands: sase detector simulate.
import type { Command } from "commander";

/** Adds this group's commands to the sase program. */
export function registerDetectorCommands(_program: Command): void {}
