// Entry point of the `sase` command: one sub-command per capability, each with --help.
import { Command } from "commander";

const program = new Command("sase")
  .description("sase: control and data system for X-ray free-electron laser experiments")
  .version("0.1.0");

await program.parseAsync(process.argv);
