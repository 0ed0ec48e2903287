// CLI commands: sase start, devices, get, set, call (device framework).
import type { Command } from "commander";

/** Adds this group's commands to the sase program. */
export function registerStartCommands(_program: Command): void {}
