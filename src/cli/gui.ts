// CLI commands: sase gui (web GUI). The GUI is served by `sase start` (see `guiAddon`), or with --broker by
// `sase gui` itself for every device on a RabbitMQ topic; `sase gui add-user` manages who may log in.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { createLogger, DeviceClient } from "../core/index.ts";
import type { Facility } from "../devices/index.ts";
import { type BrokerOptions, connectBroker, wantsBroker, withBrokerOptions } from "./broker.ts";
import {
  demoUsers,
  type FacilityGui,
  hashPassword,
  loadUsersFile,
  ROLES,
  type Role,
  startFacilityGui,
  type UserRecord,
} from "../gui/index.ts";
import { CliError } from "./errors.ts";

/**
 * The `sase start` add-on serving the GUI. Configured by environment: SASE_GUI=off disables it,
 * SASE_GUI_PORT (default 8080, 0 = any free port), SASE_GUI_HOST (default 127.0.0.1), SASE_GUI_USERS (a
 * users file made with `sase gui add-user`; default: the demo users), SASE_GUI_AUDIT (change-log file).
 */
export async function guiAddon(facility: Facility): Promise<void> {
  if (process.env.SASE_GUI === "off") return;
  const gui = await startGuiFromEnv(facility);
  process.stdout.write(`GUI: ${gui.url}${gui.imageSource ? ` (live image: ${gui.imageSource})` : ""}\n`);
}

/** Starts the facility's GUI with the settings of the environment (see `guiAddon`). */
export async function startGuiFromEnv(
  facility: Pick<Facility, "client">,
  env = process.env,
): Promise<FacilityGui> {
  const port = Number(env.SASE_GUI_PORT ?? "8080");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError("BAD_ENV", `SASE_GUI_PORT=${env.SASE_GUI_PORT}: give a port number 0..65535`);
  }
  const log = createLogger("gui");
  const users = env.SASE_GUI_USERS ? loadUsersFile(env.SASE_GUI_USERS) : demoUsers();
  if (!env.SASE_GUI_USERS) log.warn("GUI uses the demo users (password = user name); set SASE_GUI_USERS");
  const options = {
    host: env.SASE_GUI_HOST ?? "127.0.0.1",
    users,
    ...(env.SASE_GUI_AUDIT ? { auditFile: env.SASE_GUI_AUDIT } : {}),
    log,
  };
  try {
    return await startFacilityGui(facility, { ...options, port });
  } catch (e) {
    const inUse = (e as NodeJS.ErrnoException).code === "EADDRINUSE";
    if (!inUse) throw e;
    // A port the user asked for is an error; the default port taken (a second facility) is not.
    if (env.SASE_GUI_PORT)
      throw new CliError(
        "PORT_IN_USE",
        `SASE_GUI_PORT=${port}: port in use; choose another (0 = any free port)`,
      );
    log.warn("GUI port 8080 in use; serving on a free port instead", { port });
    return startFacilityGui(facility, { ...options, port: 0 });
  }
}

function readPassword(given: string | undefined): string {
  if (given !== undefined) return given;
  const text = readFileSync(0, "utf8").replace(/\r?\n$/, "");
  if (!text) throw new CliError("NO_PASSWORD", "no password: pass --password or pipe it on stdin");
  return text;
}

/** Adds this group's commands to the sase program. */
export function registerGuiCommands(program: Command): void {
  const gui = program
    .command("gui")
    .description(
      "web GUI: with --broker/--topic serves it for a RabbitMQ topic; add-user manages who may log in (see `sase gui --help`)",
    )
    .addHelpText(
      "after",
      `
The GUI is served by \`sase start\`, which prints its URL. Environment:
  SASE_GUI=off            do not serve the GUI
  SASE_GUI_PORT=8080      port (0 = any free port)
  SASE_GUI_HOST=127.0.0.1 interface to listen on
  SASE_GUI_USERS=FILE     users file (default: demo users observer/operator/expert, password = name)
  SASE_GUI_AUDIT=FILE     append every change made through the GUI to this JSON-lines file
Without logging in, a visitor is an observer: sees everything live, changes nothing.`,
    );

  withBrokerOptions(gui).action(async (opts: BrokerOptions) => {
    if (!wantsBroker(opts)) {
      gui.help();
      return;
    }
    const broker = await connectBroker(opts, createLogger("gui"));
    const served = await startGuiFromEnv({
      client: new DeviceClient(broker, { user: "gui", accessLevel: "operator" }),
    });
    process.stdout.write(`GUI: ${served.url} (topic ${broker.topic} on ${broker.url})\n`);
    const stop = async () => {
      await served.close();
      await broker.close();
      process.exit(0);
    };
    process.on("SIGINT", () => void stop());
    process.on("SIGTERM", () => void stop());
  });

  gui
    .command("add-user")
    .description("add or replace a user in a users file (the password is stored as an scrypt hash)")
    .argument("<file>", "users file (JSON; created if missing)")
    .argument("<name>", "user name")
    .addOption(
      new Option("--role <role>", "what the user may do (required)").choices(ROLES).makeOptionMandatory(),
    )
    .option("--password <password>", "the password (default: read from stdin)")
    .action((file: string, name: string, opts: { role: string; password?: string }) => {
      let users = existsSync(file) ? loadUsersFile(file) : [];
      const record: UserRecord = {
        name,
        role: opts.role as Role,
        hash: hashPassword(readPassword(opts.password)),
      };
      users = [...users.filter((u) => u.name !== name), record];
      writeFileSync(file, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
      process.stdout.write(`${name} (${opts.role}) saved in ${file}\n`);
    });
}
