// `sase start --config FILE`: the facility split over processes. Every server of the description meant
// for this host runs as its own `sase server` process on RabbitMQ (and the GUI as a `sase gui`), kept
// alive by the supervisor, each logging to its own file; Ctrl-C stops them all.

import { mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  closestName,
  createLogger,
  initialConfiguration,
  resolveBrokerEnv,
  SaseError,
  SYSTEM_CALLER,
} from "../core/index.ts";
import type { BrokerOptions } from "./broker.ts";
import { type FacilityFile, initFileOf, isThisHost, readFacilityFile } from "./facility-file.ts";
import { SERVER_CLASSES } from "./server.ts";
import { type ProgramSpec, Supervisor } from "./supervisor.ts";

/** Options of a split start. */
export interface SplitOptions extends BrokerOptions {
  config: string;
  host?: string;
  logDir?: string;
}

function fileSafe(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]+/g, "_");
}

/**
 * Checks every device's class and configuration against the classes a `sase server` hosts, so a
 * mistake is named here, with its server, device and key, not found later in one server's log.
 */
export async function checkDevices(facility: FacilityFile, file: string): Promise<void> {
  const known = Object.keys(SERVER_CLASSES);
  for (const server of facility.servers) {
    for (const [deviceId, device] of server.devices) {
      const where = `${file}: server ${server.serverId}: device ${deviceId}`;
      const load = SERVER_CLASSES[device.classId];
      if (!load) {
        const near = closestName(device.classId, known);
        throw new SaseError(
          "UNKNOWN_CLASS",
          `${where}: no class "${device.classId}"${near ? ` (did you mean ${near}?)` : ""}; classes: ${known.join(", ")}`,
        );
      }
      try {
        initialConfiguration((await load()).schema, device.configuration, SYSTEM_CALLER);
      } catch (err) {
        const e = err as SaseError;
        throw new SaseError(e.code ?? "WRONG_TYPE", `${where} (${device.classId}): ${e.message}`);
      }
    }
  }
}

/** The programs `sase start --config` runs on this host, with their log and init files written. */
export async function planSplitFacility(opts: SplitOptions): Promise<{
  programs: ProgramSpec[];
  elsewhere: string[];
  topic: string;
}> {
  const facility = readFacilityFile(opts.config);
  await checkDevices(facility, opts.config);
  const { urls, topic } = resolveBrokerEnv(process.env, {
    urls: opts.broker ?? facility.broker,
    topic: opts.topic ?? facility.topic,
  });
  const logDir =
    opts.logDir ?? join(process.env.SASE_HOME ?? join(homedir(), ".sase"), "logs", fileSafe(topic));
  mkdirSync(logDir, { recursive: true });
  // The password stays out of the process list: children read the broker from Karabo's variables.
  const env = { ...process.env, KARABO_BROKER: urls.join(","), KARABO_BROKER_TOPIC: topic };
  const sase = process.argv[1];
  if (!sase) throw new SaseError("REFUSED", "cannot tell how this sase was started (no script path)");
  const here = (host: string) => (opts.host ? host === opts.host : isThisHost(host));
  const programs: ProgramSpec[] = [];
  const elsewhere: string[] = [];
  for (const server of facility.servers) {
    if (!here(server.host)) {
      elsewhere.push(`${server.serverId} (${server.host})`);
      continue;
    }
    const init = join(logDir, `${fileSafe(server.serverId)}.devices.json`);
    writeFileSync(init, `${JSON.stringify(initFileOf(server), null, 2)}\n`);
    const args = [sase, "server", "--id", server.serverId, "--topic", topic, "--config", init];
    if (facility.timeServer) args.push("--time-server", facility.timeServer);
    programs.push({
      name: server.serverId,
      command: process.execPath,
      args,
      logFile: join(logDir, `${fileSafe(server.serverId)}.log`),
      env,
    });
  }
  if (facility.gui && !opts.host) {
    programs.push({
      name: "gui",
      command: process.execPath,
      args: [sase, "gui", "--topic", topic],
      logFile: join(logDir, "gui.log"),
      env: { ...env, SASE_GUI_PORT: String(facility.gui.port) },
    });
  }
  if (programs.length === 0)
    throw new SaseError(
      "REFUSED",
      `${opts.config}: no server is meant for this host (${elsewhere.join(", ")})`,
    );
  return { programs, elsewhere, topic };
}

/** Runs the split facility until SIGINT/SIGTERM. */
export async function runSplitFacility(opts: SplitOptions): Promise<void> {
  const log = createLogger("sase");
  const { programs, elsewhere, topic } = await planSplitFacility(opts);
  const supervisor = new Supervisor(programs, log);
  supervisor.start();
  for (const p of supervisor.status())
    process.stdout.write(`started ${p.name} (pid ${p.pid}) log ${p.logFile}\n`);
  for (const e of elsewhere) process.stdout.write(`not here: ${e}\n`);
  process.stdout.write(
    `facility on topic ${topic}: ${programs.length} processes supervised; Ctrl-C stops them\n` +
      `its devices: sase devices --topic ${topic} (get, set and call take --topic too)\n`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping every server", { signal });
    await supervisor.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}
