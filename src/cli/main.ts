// Entry point of the `sase` command (see program.ts for what it loads).
import { runCommandLine } from "./errors.ts";
import { saseProgram } from "./program.ts";

// Piped into `head` or a pager that quit: stop quietly, as Unix tools do on SIGPIPE, instead of
// Node's unhandled EPIPE with its stack. A command that stops on Ctrl-C (a server, the facility,
// a monitor) is stopped the same way, so that it closes what it holds (a run being recorded).
let readerGone = false;
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  if (readerGone) return;
  readerGone = true;
  if (process.listenerCount("SIGINT") > 0) process.emit("SIGINT", "SIGINT");
  else process.exit(0);
});

const program = await saseProgram(process.argv.slice(2));
process.exitCode = await runCommandLine(program, process.argv);
