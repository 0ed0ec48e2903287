// Entry point of the `sase` command: each capability registers its own sub-commands, each with --help.
import { Command } from "commander";
import { registerBridgeCommands } from "./bridge.ts";
import { registerCalibrateCommands } from "./calibrate.ts";
import { registerDaqCommands } from "./daq.ts";
import { registerDetectorCommands } from "./detector.ts";
import { registerFilesCommands } from "./files.ts";
import { registerGuiCommands } from "./gui.ts";
import { registerStartCommands } from "./start.ts";

const program = new Command("sase")
  .description("sase: control and data system for X-ray free-electron laser experiments")
  .version("0.1.0")
  .showHelpAfterError();

registerStartCommands(program);
registerFilesCommands(program);
registerBridgeCommands(program);
registerDetectorCommands(program);
registerCalibrateCommands(program);
registerDaqCommands(program);
registerGuiCommands(program);

await program.parseAsync(process.argv);
