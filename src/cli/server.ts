// CLI command: sase server — one device server process on a RabbitMQ topic (Karabo's protocol), hosting
// sase's device classes. Devices come from --device flags and a Karabo-style init file; more are started
// and killed at run time with slotStartDevice/slotKillDevice, from Karabo's client or sase's GUI/CLI.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { createLogger, type DeviceClass, DeviceServer, SaseError } from "../core/index.ts";
import { integer } from "./args.ts";
import { type BrokerOptions, connectBroker, withBrokerOptions } from "./broker.ts";

const cls = (c: unknown) => c as DeviceClass;

/**
 * The device classes a `sase server` can host, by class id, each loaded on first use: an idle server
 * with a motor does not carry the detector simulation, HDF5 or the correction kernels in memory.
 * test/cli/server-classes.test.ts checks that every loader gives the class its key names.
 */
export const SERVER_CLASSES: Readonly<Record<string, () => Promise<DeviceClass>>> = {
  TimingServer: async () => cls((await import("../devices/index.ts")).TimingServer),
  SimulatedMotor: async () => cls((await import("../devices/index.ts")).SimulatedMotor),
  StreamProducer: async () => cls((await import("../pipeline/index.ts")).StreamProducer),
  StreamConsumer: async () => cls((await import("../pipeline/index.ts")).StreamConsumer),
  AgipdControl: async () => cls((await import("../detector/index.ts")).DetectorControlDevice),
  DetectorModule: async () => cls((await import("../detector/index.ts")).DetectorModuleDevice),
  SimulatedXgm: async () => cls((await import("../detector/index.ts")).XgmDevice),
  ModuleCorrection: async () => cls((await import("../calibration/index.ts")).CorrectionDevice),
  DetectorAssembler: async () => cls((await import("../calibration/index.ts")).AssemblerDevice),
  DaqController: async () => cls((await import("../daq/index.ts")).DaqController),
  KaraboBridge: async () => cls((await import("../bridge/index.ts")).KaraboBridge),
};

/** A device to start: class, id, configuration. */
export interface DeviceToStart {
  readonly classId: string;
  readonly deviceId: string;
  readonly configuration: Record<string, unknown>;
}

/** Parses --device CLASS=DEVICE_ID[:JSON]. */
export function parseDeviceFlag(text: string): DeviceToStart {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z0-9_/-]+)(?::(.*))?$/s.exec(text);
  if (!m)
    throw new SaseError("WRONG_TYPE", `--device ${text}: write CLASS=DEVICE_ID or CLASS=DEVICE_ID:{json}`);
  let configuration: Record<string, unknown> = {};
  if (m[3] !== undefined) {
    try {
      configuration = JSON.parse(m[3]) as Record<string, unknown>;
    } catch (err) {
      throw new SaseError(
        "WRONG_TYPE",
        `--device ${text}: configuration is not JSON (${(err as Error).message})`,
      );
    }
    if (configuration === null || typeof configuration !== "object" || Array.isArray(configuration))
      throw new SaseError("WRONG_TYPE", `--device ${text}: the configuration must be a JSON object`);
  }
  return { classId: m[1]!, deviceId: m[2]!, configuration };
}

/** Reads a Karabo-style init file: `{ "DEVICE/ID": { "classId": "...", ...configuration } }`. */
export function readInitFile(file: string): DeviceToStart[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new SaseError("WRONG_TYPE", `--config ${file}: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data))
    throw new SaseError("WRONG_TYPE", `--config ${file}: expected { "DEVICE/ID": { "classId": ..., ... } }`);
  return Object.entries(data).map(([deviceId, entry]) => {
    const { classId, ...configuration } = (entry ?? {}) as Record<string, unknown>;
    if (typeof classId !== "string")
      throw new SaseError("WRONG_TYPE", `--config ${file}: ${deviceId} has no classId`);
    return { classId, deviceId, configuration };
  });
}

interface ServerOptions extends BrokerOptions {
  id: string;
  device: string[];
  config?: string;
  heartbeat: number;
  timeServer?: string;
}

/** Adds `sase server` to the program. */
export function registerServerCommands(program: Command): void {
  withBrokerOptions(
    program
      .command("server")
      .description("run one device server on a RabbitMQ topic (Karabo 3's protocol) until Ctrl-C")
      .requiredOption("--id <serverId>", "server id, e.g. SPB_SRV/MOTORS"),
  )
    .option(
      "--device <CLASS=DEVICE_ID[:JSON]>",
      'start a device (repeatable), e.g. SimulatedMotor=SPB/MOTOR/X:{"velocity":2}',
      (text: string, all: string[]) => [...all, text],
      [] as string[],
    )
    .option("--config <file>", 'devices to start, Karabo init style: {"DEV/ID": {"classId": "...", ...}}')
    .option(
      "--heartbeat <s>",
      "heartbeat interval of the server and its devices in seconds",
      integer(1, 3600),
      10,
    )
    .option("--time-server <deviceId>", "timing server whose train IDs stamp every update")
    .addHelpText(
      "after",
      `\nClasses: ${Object.keys(SERVER_CLASSES).join(", ")}\nAccess: SASE_BROKER_USERS=FILE maps broker users to access levels ({"alice": "expert", "*": "observer"}).`,
    )
    .action(async (opts: ServerOptions) => {
      const devices = [
        ...(opts.config ? readInitFile(opts.config) : []),
        ...opts.device.map(parseDeviceFlag),
      ];
      const log = createLogger(opts.id);
      const broker = await connectBroker(opts, log.child("broker"));
      const server = new DeviceServer({
        serverId: opts.id,
        broker,
        classLoaders: SERVER_CLASSES,
        heartbeatIntervalMs: opts.heartbeat * 1000,
        ...(opts.timeServer && { timeServerId: opts.timeServer }),
        log,
      });
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        await server.stop();
        await broker.close();
        process.exit(0);
      };
      process.on("SIGINT", () => void stop());
      process.on("SIGTERM", () => void stop());
      try {
        await server.start();
        // Together: each device's start waits on the broker (id check, devices it follows), and a
        // facility server hosting many devices would otherwise take the sum of those waits.
        const started = await Promise.allSettled(
          devices.map((d) => server.instantiate(d.classId, d.deviceId, d.configuration)),
        );
        const failed = started.find((r) => r.status === "rejected");
        if (failed) throw failed.reason;
      } catch (err) {
        await server.stop().catch(() => undefined);
        await broker.close();
        throw err;
      }
      process.stdout.write(
        `READY server=${opts.id} devices=${server.deviceIds.join(",")} topic=${broker.topic} broker=${broker.url}\n`,
      );
    });
}
