// Entry point of the `sase` command (see program.ts for what it loads).
import { runCommandLine } from "./errors.ts";
import { saseProgram } from "./program.ts";

const program = await saseProgram(process.argv.slice(2));
process.exitCode = await runCommandLine(program, process.argv);
