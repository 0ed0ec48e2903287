// Shared by the RabbitMQ tests: the broker's address, whether it is up (tests skip, saying why, when it is
// not), unique topics so parallel runs never meet, and the real Karabo peer's processes.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { once } from "node:events";

/** The broker the tests use: $KARABO_BROKER's first URL, or the local RabbitMQ of the peer setup. */
export const BROKER_URL = (process.env.KARABO_BROKER ?? "amqp://xfel:karabo@127.0.0.1:5672").split(",")[0]!;

/** The Python that runs Karabo (env.sh's $KPY: Debian's, which has Karabo's dependencies). */
const KPY = process.env.KPY ?? "/usr/bin/python3";

/** Karabo's peer folder (../shared/peers/karabo from the repository). */
export const PEER_DIR = new URL("../../../shared/peers/karabo/", import.meta.url).pathname;

/** Why the RabbitMQ tests are skipped, or undefined when the broker answers on its port. */
export const SKIP_NO_BROKER: string | undefined = await (async () => {
  const url = new URL(BROKER_URL);
  const port = Number(url.port || 5672);
  const ok = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: url.hostname, port, timeout: 1000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
  return ok
    ? undefined
    : `RabbitMQ is not reachable at ${url.hostname}:${port} (run bash ../shared/peers/karabo/setup.sh)`;
})();

/** A topic no other test run uses. */
export function uniqueTopic(what: string): string {
  return `sase_${what}_${randomBytes(4).toString("hex")}`;
}

/** The environment Karabo's processes need (what env.sh sets). */
export function peerEnv(topic: string): NodeJS.ProcessEnv {
  const home = process.env.KARABO_PEER_HOME ?? "/tmp/karabo-peer";
  return {
    ...process.env,
    PYTHONPATH: `${home}/site:${PEER_DIR}src`,
    PYTHONDONTWRITEBYTECODE: "1",
    KARABO: home,
    PATH: `${home}/site/bin:${process.env.PATH}`,
    KARABO_BROKER: BROKER_URL,
    KARABO_BROKER_TOPIC: topic,
  };
}

/** Runs a Python program of the peer; resolves with its stdout, rejects with its stderr's tail. */
export async function runPeerPython(
  args: readonly string[],
  topic: string,
  timeoutMs = 30_000,
): Promise<string> {
  const child = spawn(KPY, args, {
    env: peerEnv(topic),
    cwd: "/tmp",
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d;
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  if (code !== 0)
    throw new Error(`python ${args.join(" ")} exited ${code}: ${out.slice(-800)} ${err.slice(-1500)}`);
  return out;
}

/** Starts a long-running peer process (a Karabo server); stop it with `stopProcess`. */
export function startPeerProcess(args: readonly string[], topic: string): ChildProcess {
  const child = spawn(KPY, args, {
    env: peerEnv(topic),
    cwd: "/tmp",
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

/** Ends a child process: SIGTERM, then SIGKILL if it lingers. */
export async function stopProcess(child: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
