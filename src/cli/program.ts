// The sase program: the top-level options, and the commands a command line needs. Only the module
// defining the command being run is loaded (see commands.ts), so `sase --help` answers at once and
// `sase ls` never loads the device framework; completion and tests ask for every command.
import { Command } from "commander";
// The version module alone, not core's index: `sase --help` must not load the device framework.
import { SASE_VERSION } from "../core/version.ts";
import { COMMAND_GROUPS, groupOf } from "./commands.ts";

/** The sase program with the commands needed for `argv` (all of them: `all`). */
export async function saseProgram(argv: readonly string[], all = false): Promise<Command> {
  const program = new Command("sase")
    .description("sase: control and data system for X-ray free-electron laser experiments")
    .version(SASE_VERSION)
    .option("--debug", "print the stack trace of a failure (also SASE_DEBUG=1)");
  const name = invokedCommand(argv);
  const group = all ? undefined : name && groupOf(name);
  const whole = () => saseProgram([], true);
  if (group) {
    (await group.load())(program, whole);
  } else if (all) {
    for (const g of COMMAND_GROUPS) (await g.load())(program, whole);
  } else {
    // Help or an unknown command: list every command without loading any.
    program.configureHelp({ subcommandTerm: (cmd) => `${cmd.name()} ${cmd.usage()}`.trimEnd() });
    for (const g of COMMAND_GROUPS)
      for (const [cmd, [args, description]] of Object.entries(g.commands))
        program.command(cmd).usage(args).description(description);
  }
  return program;
}

/** The top-level command `argv` (user arguments) runs: its first word, or the one after `help`. */
function invokedCommand(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith("-"));
  return words[0] === "help" ? words[1] : words[0];
}
