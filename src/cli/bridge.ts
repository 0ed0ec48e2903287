// CLI commands: sase bridge serve|monitor|sim.
import type { Command } from "commander";

/** Adds this group's commands to the sase program. */
export function registerBridgeCommands(_program: Command): void {}
