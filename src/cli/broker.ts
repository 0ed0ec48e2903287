// The options every networked command shares: --broker and --topic put it on RabbitMQ with Karabo's
// protocol (defaults from Karabo's KARABO_BROKER / KARABO_BROKER_TOPIC). Who may do what on a device is
// decided by the process hosting it, from the broker user the caller connected as (SASE_BROKER_USERS).
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import {
  type AccessLevel,
  type AmqpBroker,
  connectAmqpBroker,
  createLogger,
  isAccessLevel,
  type Logger,
  SaseError,
} from "../core/index.ts";

/** The parsed --broker / --topic options. */
export interface BrokerOptions {
  broker?: string;
  topic?: string;
}

/** Adds --broker and --topic to a command. */
export function withBrokerOptions(cmd: Command): Command {
  return cmd
    .option(
      "--broker <urls>",
      "RabbitMQ URL amqp://user:password@host:5672 (a comma list is tried in order); default $KARABO_BROKER",
    )
    .option("--topic <topic>", "Karabo topic (default $KARABO_BROKER_TOPIC, else $USER)");
}

/** True when the command should go through a broker rather than the local `sase start`. */
export function wantsBroker(opts: BrokerOptions): boolean {
  return opts.broker !== undefined || opts.topic !== undefined;
}

/**
 * Connects to the broker named by the options (or Karabo's environment). Callers' access levels come
 * from SASE_BROKER_USERS, a JSON file mapping broker user names to levels ("*": everyone else).
 */
export async function connectBroker(
  opts: BrokerOptions,
  log: Logger = createLogger("broker"),
): Promise<AmqpBroker> {
  const { levels, fallback } = loadBrokerUsers(process.env.SASE_BROKER_USERS);
  return connectAmqpBroker({
    ...(opts.broker !== undefined && { urls: opts.broker }),
    ...(opts.topic !== undefined && { topic: opts.topic }),
    accessLevels: levels,
    defaultAccessLevel: fallback,
    log,
  });
}

/** Reads a broker users file: `{ "alice": "expert", "*": "observer" }` (no file: everyone observer). */
export function loadBrokerUsers(file: string | undefined): {
  levels: Record<string, AccessLevel>;
  fallback: AccessLevel;
} {
  if (!file) return { levels: {}, fallback: "observer" };
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new SaseError("WRONG_TYPE", `SASE_BROKER_USERS=${file}: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data))
    throw new SaseError("WRONG_TYPE", `SASE_BROKER_USERS=${file}: expected an object of user → access level`);
  const levels: Record<string, AccessLevel> = {};
  for (const [user, level] of Object.entries(data)) {
    if (!isAccessLevel(level))
      throw new SaseError(
        "WRONG_TYPE",
        `SASE_BROKER_USERS=${file}: '${user}' has unknown level ${JSON.stringify(level)}`,
      );
    levels[user] = level;
  }
  const { "*": fallback = "observer", ...named } = levels;
  return { levels: named, fallback };
}
