// sase completion bash|zsh: a shell completion script for every command, option and option choice,
// with device ids from the running facility (asked at completion time through `sase completion
// devices`, which prints nothing when no facility answers).
import type { Command, Option } from "commander";

/** Every command under `cmd` with its path ("detector/simulate"), depth first. */
function commandPaths(cmd: Command, prefix = ""): { path: string; cmd: Command }[] {
  const out: { path: string; cmd: Command }[] = [];
  for (const sub of cmd.commands) {
    if ((sub as unknown as { _hidden?: boolean })._hidden) continue;
    const path = prefix ? `${prefix}/${sub.name()}` : sub.name();
    out.push({ path, cmd: sub }, ...commandPaths(sub, path));
  }
  return out;
}

function optionWords(cmd: Command): string[] {
  const words: string[] = [];
  for (const o of cmd.options as readonly Option[]) {
    if (o.hidden) continue;
    if (o.long) words.push(o.long);
  }
  return [...words, "--help"];
}

/** Commands whose first argument is a device id. */
const DEVICE_COMMANDS = ["get", "set", "call"];

/** The bash completion script for `program` (commands loaded). */
export function bashCompletion(program: Command): string {
  const nodes = commandPaths(program);
  const cases: string[] = [];
  const top = [...program.commands.map((c) => c.name()).filter((n) => n !== "help"), ...optionWords(program)];
  cases.push(`    "") words=${JSON.stringify(top.join(" "))} ;;`);
  const choiceCases: string[] = [];
  for (const { path, cmd } of nodes) {
    const words = [...cmd.commands.map((c) => c.name()), ...optionWords(cmd)];
    cases.push(`    ${JSON.stringify(path)}) words=${JSON.stringify(words.join(" "))} ;;`);
    for (const o of cmd.options as readonly Option[]) {
      if (o.argChoices && o.long)
        choiceCases.push(
          `    ${JSON.stringify(`${path}:${o.long}`)}) words=${JSON.stringify(o.argChoices.join(" "))} ;;`,
        );
    }
  }
  return `# sase shell completion (bash). Load it with: source <(sase completion bash)
_sase() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local nodes=${JSON.stringify(` ${nodes.map((n) => n.path).join(" ")} `)}
  local node="" w i words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    [[ $w == -* ]] && continue
    if [[ $nodes == *" \${node:+$node/}$w "* ]]; then node=\${node:+$node/}$w; fi
  done
  case "$node:$prev" in
${choiceCases.join("\n")}
  esac
  if [[ -z $words ]]; then
    case "$node" in
${cases.join("\n")}
    esac
    if [[ $cur != -* && " ${DEVICE_COMMANDS.join(" ")} " == *" $node "* ]]; then
      words="$words $(sase completion devices 2>/dev/null)"
    fi
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _sase sase
`;
}

/** The zsh completion script: the bash one through zsh's bashcompinit. */
export function zshCompletion(program: Command): string {
  return `# sase shell completion (zsh). Load it with: source <(sase completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program).split("\n").slice(1).join("\n")}`;
}

/** Device ids of the running facility, or none when it cannot be reached within `timeoutMs`. */
async function facilityDeviceIds(timeoutMs: number): Promise<string[]> {
  const { ControlClient, defaultPortFile, SaseError } = await import("../core/index.ts");
  const client = ControlClient.fromPortFile(
    { user: "completion", accessLevel: "observer" },
    defaultPortFile(),
  );
  const topology = client.send<{ devices: Record<string, unknown> }>({ op: "topology" });
  const timeout = new Promise<never>((_, reject) => {
    setTimeout(() => reject(new SaseError("TIMEOUT", "no answer")), timeoutMs).unref();
  });
  return Object.keys((await Promise.race([topology, timeout])).devices).sort();
}

/** Adds `sase completion` to the program; `wholeProgram` gives the commands it completes. */
export function registerCompletionCommands(program: Command, wholeProgram: () => Promise<Command>): void {
  const completion = program
    .command("completion")
    .description("print a shell completion script: source <(sase completion bash)");
  completion
    .command("bash")
    .description("completion script for bash")
    .action(async () => {
      process.stdout.write(bashCompletion(await wholeProgram()));
    });
  completion
    .command("zsh")
    .description("completion script for zsh")
    .action(async () => {
      process.stdout.write(zshCompletion(await wholeProgram()));
    });
  completion
    .command("devices", { hidden: true })
    .description("device ids of the running facility, one per line (none when it cannot be reached)")
    .action(async () => {
      const ids = await facilityDeviceIds(2000).catch(() => [] as string[]);
      if (ids.length) process.stdout.write(`${ids.join("\n")}\n`);
      // The client's socket may keep the process alive: the answer is complete.
      process.exit(0);
    });
}
