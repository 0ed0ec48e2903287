// CLI commands: sase bridge serve|monitor|sim — Karabo bridge servers replaying runs or simulating an
// AGIPD module, and a monitor that prints what a bridge endpoint sends.
import { type Command, Option } from "commander";
import {
  BridgeClient,
  BridgeServer,
  KaraboBridge,
  CLIENT_SOCKET_FOR,
  DROP_POLICIES,
  type DropPolicy,
  PROTOCOL_VERSIONS,
  type ProtocolVersion,
  type OutgoingTrain,
  type ServerSocketType,
  type BridgeTrain,
  servedTrainsFromRun,
  simulatedAgipdTrains,
  trainIdOf,
} from "../bridge/index.ts";
import { isNDArray } from "../core/index.ts";
import type { Facility } from "../devices/index.ts";
import { openRun } from "../files/index.ts";
import { channelRegistry } from "../pipeline/index.ts";
import { existingPath, integer, number, port } from "./args.ts";
import { failCommand as fail } from "./errors.ts";
import { progressBar } from "./progress.ts";

/** Device id of the live bridge that `sase start` runs. */
export const LIVE_BRIDGE_ID = "SASE_BRIDGE/LIVE/MAIN";

/**
 * `sase start` add-on: a KaraboBridge forwarding every pipeline output of the facility (detector
 * modules, demo producer, ...) on $SASE_BRIDGE_HOST:$SASE_BRIDGE_PORT (default 127.0.0.1:4545).
 */
export async function addLiveBridge(facility: Facility): Promise<void> {
  const outputs = channelRegistry.ids();
  const port = Number(process.env.SASE_BRIDGE_PORT ?? 4545);
  await facility.addDevice(KaraboBridge, LIVE_BRIDGE_ID, {
    hostname: process.env.SASE_BRIDGE_HOST ?? "127.0.0.1",
    port: Number.isInteger(port) && port >= 0 ? port : 4545,
    input: { connectedOutputChannels: outputs },
  });
  facility.log.info("live Karabo bridge", { device: LIVE_BRIDGE_ID, sources: outputs, port });
}

const SOCKETS: ServerSocketType[] = ["REP", "PUB", "PUSH"];

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Options shared by the commands that run a server. */
interface ServeOptions {
  port: number;
  host: string;
  sock: ServerSocketType;
  protocol: ProtocolVersion;
  rate: number;
  queue?: number;
  drop: DropPolicy;
}

function serverOptions(cmd: Command): Command {
  return cmd
    .option("-p, --port <port>", "TCP port to listen on (0: any free port)", port({ anyFree: true }), 4545)
    .option("--host <host>", "interface to listen on (* for all)", "*")
    .addOption(new Option("--sock <type>", "server socket type").choices(SOCKETS).default("REP"))
    .addOption(
      new Option("--protocol <version>", "bridge protocol version")
        .choices([...PROTOCOL_VERSIONS])
        .default("2.2"),
    )
    .option(
      "--queue <n>",
      "trains held while no client takes them (default: serve 1, its detector arrays streamed from the files as sent; sim 10)",
      integer(1),
    );
}

async function runServer(
  opts: ServeOptions,
  trains: AsyncIterable<OutgoingTrain> | Iterable<OutgoingTrain>,
  what: string,
  total: number | undefined,
  defaultQueue: number,
): Promise<void> {
  const server = new BridgeServer({
    endpoint: `tcp://${opts.host}:${opts.port === 0 ? "*" : opts.port}`,
    sock: opts.sock,
    protocol: opts.protocol,
    rate: opts.rate,
    queueSize: opts.queue || defaultQueue,
    dropPolicy: opts.drop,
  });
  const endpoint = await server.start();
  const client = CLIENT_SOCKET_FOR[opts.sock];
  process.stdout.write(
    `Serving ${what} on ${endpoint} (${opts.sock}, protocol ${opts.protocol}; clients use ${client})\n`,
  );
  const bar = progressBar("serve", "trains", {
    format: "trains sent {value}{of} | {rate} trains/s | clients {clients} | dropped {dropped}",
    minTotal: 0,
    keep: true,
  });
  const t0 = performance.now();
  const payload = () => {
    const s = server.stats;
    const rate = (s.trainsSent / ((performance.now() - t0) / 1000)).toFixed(1);
    return { of: total === undefined ? "" : `/${total}`, rate, clients: s.clients, dropped: s.trainsDropped };
  };
  bar.update(0, total ?? 0, payload());
  const ticker = setInterval(() => bar.update(server.stats.trainsSent, total ?? 0, payload()), 250);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void server.close();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    // Closing the server on a signal ends serve() (and drain()) quietly: an interrupted replay exits 0.
    await server.serve(trains);
    if (!stopping) await server.drain();
  } finally {
    clearInterval(ticker);
    bar.update(server.stats.trainsSent, total ?? 0, payload());
    bar.stop();
    // After a complete replay the last trains may still be in ZeroMQ's buffers: let them go out.
    await server.close({ flushMs: stopping ? 0 : 10_000 });
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
    const s = server.stats;
    process.stdout.write(
      `Sent ${s.trainsSent} trains (${(s.bytesSent / 1e6).toFixed(1)} MB), dropped ${s.trainsDropped}\n`,
    );
  }
}

function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function describe(value: unknown): string {
  if (isNDArray(value)) return `array ${value.dtype} [${value.shape.join(", ")}]`;
  if (value instanceof Uint8Array)
    return `bytes ${JSON.stringify(Buffer.from(value).toString("latin1").slice(0, 40))}`;
  const text = JSON.stringify(value, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? String(value);
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
}

async function monitor(
  endpoint: string,
  opts: { sock: ServerSocketType; ntrains?: number; timeout: number; verbose: number },
): Promise<void> {
  const client = new BridgeClient(endpoint, {
    sock: CLIENT_SOCKET_FOR[opts.sock],
    timeoutMs: opts.timeout * 1000,
    requestsInFlight: 1,
  });
  // Ctrl-C, or the reader of a pipe gone (main.ts turns that into the same stop).
  process.once("SIGINT", () => client.close());
  const window: { t: number; bytes: number }[] = [];
  let count = 0;
  let totalBytes = 0;
  const t0 = performance.now();
  try {
    while (opts.ntrains === undefined || count < opts.ntrains) {
      let train: BridgeTrain;
      const before = client.stats.bytes;
      try {
        train = await client.next();
      } catch (err) {
        if ((err as Error).message === "bridge client is closed") break;
        throw err;
      }
      const now = performance.now();
      const bytes = client.stats.bytes - before;
      count++;
      totalBytes += bytes;
      window.push({ t: now, bytes });
      if (window.length > 20) window.shift();
      const span = ((window.at(-1)?.t ?? now) - (window[0]?.t ?? now)) / 1000;
      const rate = span > 0 ? (window.length - 1) / span : 0;
      const mbps = span > 0 ? window.slice(1).reduce((a, w) => a + w.bytes, 0) / span / 1e6 : 0;
      const sources = Object.keys(train.data).sort();
      const stamp = Object.values(train.metadata).find((m) => typeof m.timestamp === "number")?.timestamp;
      const delay = stamp === undefined ? "" : `  delay ${(Date.now() - stamp * 1000).toFixed(0)} ms`;
      process.stdout.write(
        `Train ${String(trainIdOf(train) ?? "?")}  ${sources.length} sources  ${formatBytes(bytes)}  ` +
          `${rate.toFixed(1)} trains/s  ${mbps.toFixed(1)} MB/s${delay}\n`,
      );
      if (opts.verbose > 0) {
        for (const source of sources) {
          const data = train.data[source] ?? {};
          process.stdout.write(
            `  ${source} @ ${String(train.metadata[source]?.["timestamp.tid"] ?? "?")}: ${Object.keys(data).length} keys\n`,
          );
          if (opts.verbose > 1)
            for (const key of Object.keys(data).sort())
              process.stdout.write(`    ${key}: ${describe(data[key])}\n`);
        }
      }
      // Printed: the next train is received into this one's array memory, not into fresh memory.
      client.release(train);
    }
  } finally {
    client.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`${count} trains, ${formatBytes(totalBytes)} in ${seconds.toFixed(1)} s\n`);
}

/** Adds this group's commands to the sase program. */
export function registerBridgeCommands(program: Command): void {
  const bridge = program
    .command("bridge")
    .description("Karabo bridge: stream trains to analysis clients (ZeroMQ)");

  serverOptions(
    bridge
      .command("serve")
      .description("replay an EXDF run over the Karabo bridge (like karabo-bridge-serve-files)")
      .argument("<run_dir>", "run directory (or a single .h5 file's directory)", existingPath("directory"))
      .option("--source <glob>", "sources to send (repeatable; default all)", collect)
      .option("--key <glob>", "keys to send (repeatable; default all)", collect)
      .option("--loop", "start over after the last train, until interrupted")
      .option("--dummy-timestamps", "add wall-clock timestamps to the metadata (OnDA needs them)")
      .option(
        "--rate <hz>",
        "trains per second at most (0: as fast as clients take them)",
        number({ min: 0 }),
        0,
      ),
  )
    .addOption(
      new Option("--drop <policy>", "full queue policy").choices([...DROP_POLICIES]).default("block"),
    )
    .action(
      async (
        runDir: string,
        opts: ServeOptions & { source?: string[]; key?: string[]; loop?: boolean; dummyTimestamps?: boolean },
      ) => {
        try {
          // HDF5 loads only if a dataset needs it: plain numeric ones stream without it, sooner.
          const run = await openRun(runDir, { hdf5: "when-needed" });
          try {
            const sel = run.select(opts.source ?? "*", opts.key ?? "*");
            // Detector arrays stay in the files until the server streams them to a client.
            const trains = servedTrainsFromRun(sel, {
              loop: opts.loop,
              dummyTimestamps: opts.dummyTimestamps,
            });
            const what = `${runDir} (${sel.trainIds.length} trains, ${sel.sources.length} sources)`;
            await runServer(opts, trains, what, opts.loop ? undefined : sel.trainIds.length, 1);
          } finally {
            run.close();
          }
        } catch (err) {
          fail(err);
        }
      },
    );

  bridge
    .command("monitor")
    .description(
      "print the trains a Karabo bridge endpoint sends: sources, sizes, rates (like karabo-bridge-glimpse)",
    )
    .argument("<endpoint>", "ZeroMQ endpoint, e.g. tcp://localhost:4545")
    .addOption(new Option("-z, --sock <type>", "the server's socket type").choices(SOCKETS).default("REP"))
    .option("-n, --ntrains <n>", "stop after N trains", integer(1))
    .option("--timeout <s>", "fail when no train comes for this many seconds", number({ above: 0 }), 30)
    .option("-v, --verbose", "list sources (-vv: and every key)", (_v: string, prev: number) => prev + 1, 0)
    .action(
      async (
        endpoint: string,
        opts: { sock: ServerSocketType; ntrains?: number; timeout: number; verbose: number },
      ) => {
        try {
          await monitor(endpoint, opts);
        } catch (err) {
          fail(err);
        }
      },
    );

  serverOptions(
    bridge
      .command("sim")
      .description("serve a simulated AGIPD module raw stream (like karabo-bridge-server-sim AGIPDModule -r)")
      .option("--modules <n>", "modules (sources) per train", integer(1), 1)
      .option("--cells <n>", "memory cells per train", integer(1), 64)
      .addOption(
        new Option("--data-like <order>", "image.data axis order")
          .choices(["online", "file"])
          .default("online"),
      )
      .addOption(new Option("--gen <kind>", "pixel values").choices(["random", "zeros"]).default("random"))
      .option("-n, --ntrains <n>", "stop after N trains (default: run until interrupted)", integer(1))
      .option("--rate <hz>", "trains made per second", number({ above: 0 }), 10),
  )
    .addOption(
      new Option("--drop <policy>", "full queue policy").choices([...DROP_POLICIES]).default("drop-oldest"),
    )
    .action(
      async (
        opts: ServeOptions & {
          modules: number;
          cells: number;
          dataLike: "online" | "file";
          gen: "random" | "zeros";
          ntrains?: number;
        },
      ) => {
        try {
          const stream = simulatedAgipdTrains({
            modules: opts.modules,
            cells: opts.cells,
            dataLike: opts.dataLike,
            gen: opts.gen,
          });
          // A live source: trains are made at the train rate (default the facility's 10 Hz) whether
          // or not clients keep up; the queue's drop policy deals with slow clients.
          const rate = opts.rate;
          const paced = async function* () {
            let t0 = 0;
            let n = 0;
            for (const train of stream) {
              if (opts.ntrains !== undefined && n >= opts.ntrains) return;
              if (n === 0) t0 = performance.now(); // after the first train: making the pixel pool takes a while
              const wait = t0 + (n * 1000) / rate - performance.now();
              if (wait > 0) await new Promise((r) => setTimeout(r, wait));
              n++;
              yield train;
            }
          };
          const what = `simulated AGIPD (${opts.modules} module(s), ${opts.cells} cells, ${rate} Hz)`;
          await runServer({ ...opts, rate: 0 }, paced(), what, opts.ntrains, 10);
        } catch (err) {
          fail(err);
        }
      },
    );
}
