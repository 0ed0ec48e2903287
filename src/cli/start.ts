// CLI commands: sase start, devices, get, set, call (device framework).
// `start` runs the embedded facility and its local control endpoint; the others talk to that endpoint, or
// with --broker/--topic to any device (sase's or Karabo's) on a RabbitMQ topic.

import type { Command } from "commander";
import {
  type Broker,
  type Caller,
  ControlClient,
  type ControlRequest,
  ControlServer,
  createLogger,
  DeviceClient,
  defaultPortFile,
  naturalOrder,
  runControlRequest,
  SaseError,
  toJsonSafe,
} from "../core/index.ts";
import {
  type BrokerOptions,
  connectBroker,
  loadBrokerUsers,
  wantsBroker,
  withBrokerOptions,
} from "./broker.ts";
import { number, port as portArg } from "./args.ts";
import { reportFailure } from "./errors.ts";

/** Where the client commands write: stdout, stderr and the exit code. */
export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
  fail(): void;
}

const processIO: CommandIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  fail: () => {
    process.exitCode = 1;
  },
};

interface CallerOptions extends BrokerOptions {
  user?: string;
  portFile?: string;
}

/** Who the commands act for; the level is granted by whoever hosts the device, never claimed here. */
function callerFrom(opts: CallerOptions): Caller {
  return { user: opts.user ?? process.env.USER ?? "sase", accessLevel: "admin" };
}

function withCallerOptions(cmd: Command): Command {
  return withBrokerOptions(
    cmd
      .option("--user <name>", "user name recorded in the device logs (default: $USER)")
      .option("--port-file <path>", "port file of the running facility (default: $SASE_HOME/control.json)"),
  );
}

/** What the client commands send their requests to: the local facility or a broker. */
interface Control {
  send<T = unknown>(request: ControlRequest): Promise<T>;
}

/** Runs a client command, printing `sase: CODE: message` and exiting 1 on failure. */
async function clientAction(
  io: CommandIO,
  opts: CallerOptions,
  action: (client: Control) => Promise<void>,
): Promise<void> {
  let broker: Broker | undefined;
  try {
    if (wantsBroker(opts)) {
      broker = await connectBroker(
        opts,
        createLogger("sase", () => {}),
      );
      const client = new DeviceClient(broker, callerFrom(opts));
      await action({ send: async <T>(r: ControlRequest) => (await runControlRequest(client, r)) as T });
    } else {
      await action(ControlClient.fromPortFile(callerFrom(opts), opts.portFile ?? defaultPortFile()));
    }
  } catch (err) {
    reportFailure(err, (t) => io.err(t));
    io.fail();
  } finally {
    await broker?.close();
  }
}

function show(value: unknown): string {
  if (typeof value === "string" || typeof value === "bigint") return String(value);
  // bigints print as plain digits inside JSON too (they are exact integers, not strings)
  return JSON.stringify(toJsonSafe(value), (_k, v) =>
    v && typeof v === "object" && "$bigint" in v ? Number(v.$bigint) : v,
  );
}

function parseKeyValues(pairs: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const at = p.indexOf("=");
    if (at <= 0) throw new SaseError("WRONG_TYPE", `${what} '${p}': write KEY=VALUE`);
    out[p.slice(0, at)] = p.slice(at + 1);
  }
  return out;
}

interface StartOptions extends BrokerOptions {
  rate: number;
  port: number;
  portFile?: string;
  config?: string;
  host?: string;
  logDir?: string;
}

/** Runs the embedded facility and its control endpoint until SIGINT/SIGTERM. */
async function runFacility(opts: StartOptions): Promise<void> {
  const log = createLogger("sase");
  const { rate, port } = opts;
  const broker = wantsBroker(opts) ? await connectBroker(opts, log.child("broker")) : undefined;
  // Loaded here, not at the top: the facility pulls in every layer (~0.5 s), which devices, get, set
  // and call, defined beside start, never need.
  const { composeFacility } = await import("./facility.ts");
  const facility = await composeFacility(rate, log, undefined, broker);
  // The local endpoint's token is readable by the facility's owner only: it acts with the level
  // SASE_BROKER_USERS gives that user (operator when unlisted), whatever level a request claims.
  const owner = process.env.USER ?? "";
  const control = await ControlServer.start(facility.client, {
    port,
    portFile: opts.portFile ?? defaultPortFile(),
    accessLevel: loadBrokerUsers(process.env.SASE_BROKER_USERS).levels[owner] ?? "operator",
  });
  if (broker) process.stdout.write(`broker: ${broker.url} topic ${broker.topic}\n`);
  const devices = (await facility.client.topology()).devices;
  log.info("facility running", { devices: [...devices.keys()] });
  process.stdout.write(`control endpoint: ${control.endpoint.url} (port file ${control.portFile})\n`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    await control.close();
    await facility.stop();
    await broker?.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

/** Adds this group's commands to the sase program. */
export function registerStartCommands(program: Command): void {
  const io = processIO;
  withBrokerOptions(
    program
      .command("start")
      .description(
        "run the embedded facility until Ctrl-C: timing server, motors, pipeline demo, simulated AGIPD modules, run control + DAQ, live Karabo bridge and the web GUI",
      ),
  )
    .option("--rate <hz>", "train rate of the timing server in Hz", number({ above: 0, max: 1000 }), 10)
    .option(
      "--port <n>",
      "control endpoint port on 127.0.0.1 (0 = any free port)",
      portArg({ anyFree: true }),
      0,
    )
    .option("--port-file <path>", "where to write the control endpoint (default: $SASE_HOME/control.json)")
    .option(
      "--config <file>",
      "facility description (JSON or YAML: servers, their devices and hosts): run one supervised `sase server` process per server of this host on RabbitMQ (see examples/facility-agipd.json)",
    )
    .option(
      "--host <name>",
      "with --config: run the servers of this host (default: this machine and localhost)",
    )
    .option("--log-dir <dir>", "with --config: one log file per server here (default: $SASE_HOME/logs/TOPIC)")
    .action(async (opts: StartOptions) => {
      try {
        if (opts.config)
          await (await import("./split.ts")).runSplitFacility({ ...opts, config: opts.config });
        else await runFacility(opts);
      } catch (err) {
        reportFailure(err, (t) => io.err(t));
        process.exit(1);
      }
    });

  withCallerOptions(
    program.command("devices").description("list servers and devices of the running facility"),
  ).action((opts: CallerOptions) =>
    clientAction(io, opts, async (client) => {
      const topo = await client.send<{
        servers: Record<string, { deviceClasses?: string[] }>;
        devices: Record<string, { classId?: string; serverId?: string; status?: string }>;
      }>({ op: "topology" });
      // Natural order (DET/9CH0 before DET/10CH0), not the order in which devices happened to start.
      const sorted = <T>(r: Record<string, T>) => Object.entries(r).sort(([a], [b]) => naturalOrder(a, b));
      for (const [id, info] of sorted(topo.servers)) {
        io.out(`server  ${id}  classes: ${(info.deviceClasses ?? []).join(", ")}\n`);
      }
      const rows = [["DEVICE", "CLASS", "STATE", "STATUS"]];
      for (const [id, info] of sorted(topo.devices)) {
        const config = await client.send<{ values: Record<string, unknown> }>({
          op: "configuration",
          deviceId: id,
          keys: ["state", "status"],
        });
        rows.push([id, info.classId ?? "", String(config.values.state), String(config.values.status)]);
      }
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows)
        io.out(
          `${r
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd()}\n`,
        );
    }),
  );

  withCallerOptions(
    program
      .command("get")
      .description("print a device property (or, without KEY, every property with its train ID)")
      .argument("<deviceId>", "device id, e.g. SASE_SIM_MOTOR/MOTOR/X")
      .argument("[key]", "property key (dotted for nested keys)"),
  ).action((deviceId: string, key: string | undefined, opts: CallerOptions) =>
    clientAction(io, opts, async (client) => {
      const config = await client.send<{
        values: Record<string, unknown>;
        timestamps: Record<string, { trainId: number }>;
      }>({
        op: "configuration",
        deviceId,
        keys: key ? [key] : undefined,
      });
      if (key) {
        io.out(`${show(config.values[key])}\n`);
        return;
      }
      const width = Math.max(...Object.keys(config.values).map((k) => k.length));
      for (const [k, v] of Object.entries(config.values)) {
        io.out(`${k.padEnd(width)}  ${show(v)}  (train ${config.timestamps[k]?.trainId})\n`);
      }
    }),
  );

  withCallerOptions(
    program
      .command("set")
      .description("reconfigure a device; with several KEY VALUE pairs, all are applied or none")
      .argument("<deviceId>", "device id")
      .argument("<key>", "property key")
      .argument("<value>", "new value (vectors: a,b,c or a JSON array; tables: JSON)")
      .argument("[more...]", "further KEY VALUE pairs"),
  ).action((deviceId: string, key: string, value: string, more: string[], opts: CallerOptions) =>
    clientAction(io, opts, async (client) => {
      if (more.length % 2 !== 0)
        throw new SaseError("WRONG_TYPE", `'${more.at(-1)}' has no value: give KEY VALUE pairs`);
      const text: Record<string, string> = { [key]: value };
      for (let i = 0; i < more.length; i += 2) text[more[i]!] = more[i + 1]!;
      const reply = await client.send<{ applied: string[] }>({ op: "reconfigure", deviceId, text });
      io.out(`set ${reply.applied.join(", ")} on ${deviceId}\n`);
    }),
  );

  withCallerOptions(
    program
      .command("call")
      .description("call a device slot (command) and print its reply")
      .argument("<deviceId>", "device id")
      .argument("<slot>", "slot name, e.g. move")
      .argument("[args...]", "slot arguments as KEY=VALUE")
      .option(
        "--timeout <ms>",
        "give up waiting for the reply after this many ms",
        number({ above: 0 }),
        10000,
      ),
  ).action((deviceId: string, slot: string, args: string[], opts: CallerOptions & { timeout: number }) =>
    clientAction(io, opts, async (client) => {
      const timeoutMs = opts.timeout;
      const reply = await client.send({
        op: "call",
        deviceId,
        slot,
        text: parseKeyValues(args, "argument"),
        timeoutMs,
      });
      io.out(`${slot} on ${deviceId}: ${reply === null ? "done" : show(reply)}\n`);
    }),
  );
}
