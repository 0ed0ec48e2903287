// CLI commands: sase calibrate dark|correct.
import type { Command } from "commander";

/** Adds this group's commands to the sase program. */
export function registerCalibrateCommands(_program: Command): void {}
