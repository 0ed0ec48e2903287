// The table of sase's top-level commands: which module defines each, with the line `sase --help`
// shows. main.ts loads a module only when one of its commands runs, so `sase --help` and `sase ls`
// never load the device framework, the GUI or ZeroMQ. A test checks this table against the modules.
import type { Command } from "commander";

/**
 * A module of commands: registers them on the program. `wholeProgram` makes a program with every
 * command (for `sase completion`, which lists them all), so that no command module imports the
 * program that loads it.
 */
export type Registrar = (program: Command, wholeProgram: () => Promise<Command>) => void;

/** One module and the top-level commands it defines. */
export interface CommandGroup {
  /** name → [arguments as help shows them, description] */
  readonly commands: Readonly<Record<string, readonly [string, string]>>;
  readonly load: () => Promise<Registrar>;
}

/** Every command group, in the order `sase --help` lists them. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    commands: {
      start: [
        "[options]",
        "run the embedded facility until Ctrl-C: timing server, motors, pipeline demo, simulated AGIPD modules, run control + DAQ, live Karabo bridge and the web GUI",
      ],
      devices: ["[options]", "list servers and devices of the running facility"],
      get: [
        "[options] <deviceId> [key]",
        "print a device property (or, without KEY, every property with its train ID)",
      ],
      set: [
        "[options] <deviceId> <key> <value> [more...]",
        "reconfigure a device; with several KEY VALUE pairs, all are applied or none",
      ],
      call: ["[options] <deviceId> <slot> [args...]", "call a device slot (command) and print its reply"],
    },
    load: async () => (await import("./start.ts")).registerStartCommands,
  },
  {
    commands: {
      server: ["[options]", "run one device server on a RabbitMQ topic (Karabo 3's protocol) until Ctrl-C"],
    },
    load: async () => (await import("./server.ts")).registerServerCommands,
  },
  {
    commands: {
      ls: [
        "[options] <path>",
        "list an EXDF run directory or file like lsxfel: trains, duration, detectors, sources (keys with --detail)",
      ],
      validate: [
        "[options] <path>",
        "check an EXDF run or file (index consistency, train order, one run); exit code 1 on problems",
      ],
    },
    load: async () => (await import("./files.ts")).registerFilesCommands,
  },
  {
    commands: { bridge: ["", "Karabo bridge: stream trains to analysis clients (ZeroMQ)"] },
    load: async () => (await import("./bridge.ts")).registerBridgeCommands,
  },
  {
    commands: { detector: ["", "simulated megapixel detector (AGIPD-like)"] },
    load: async () => (await import("./detector.ts")).registerDetectorCommands,
  },
  {
    commands: { calibrate: ["", "detector calibration: dark characterisation, constants, correction"] },
    load: async () => (await import("./calibrate.ts")).registerCalibrateCommands,
  },
  {
    commands: {
      runs: ["[options]", "list the runs in the catalogue"],
      run: ["", "one run: flag its quality, show its details"],
      migrate: [
        "[options]",
        "copy runs flagged good/unclear to the offline store, verify SHA-256 checksums, then submit their correction and run-table jobs",
      ],
      jobs: ["[options]", "list offline jobs (calibration) and refresh their states"],
    },
    load: async () => (await import("./daq.ts")).registerDaqCommands,
  },
  {
    commands: {
      table: [
        "[options] [command]",
        "the run table: one row per run, a column per variable of the proposal's context.ts",
      ],
    },
    load: async () => (await import("./table.ts")).registerTableCommands,
  },
  {
    commands: {
      analyse: [
        "[options] <run>",
        "run an analysis graph (JSON, as the GUI saves it) on a recorded run; results as HDF5 and CSV (without --out: CSV on stdout)",
      ],
    },
    load: async () => (await import("./analysis.ts")).registerAnalysisCommands,
  },
  {
    commands: {
      notebook: ["", "Jupyter notebooks in TypeScript: setup, kernel, headless runs"],
    },
    load: async () => (await import("./notebook.ts")).registerNotebookCommands,
  },
  {
    commands: {
      gui: [
        "",
        "web GUI: with --broker/--topic serves it for a RabbitMQ topic; add-user manages who may log in (see `sase gui --help`)",
      ],
    },
    load: async () => (await import("./gui.ts")).registerGuiCommands,
  },
  {
    commands: { completion: ["", "print a shell completion script: source <(sase completion bash)"] },
    load: async () => (await import("./completion.ts")).registerCompletionCommands,
  },
];

/** The group defining top-level command `name`, if any. */
export function groupOf(name: string): CommandGroup | undefined {
  return COMMAND_GROUPS.find((g) => Object.hasOwn(g.commands, name));
}
