// CLI commands: sase gui (web GUI).
import type { Command } from "commander";

/** Adds this group's commands to the sase program. */
export function registerGuiCommands(_program: Command): void {}
