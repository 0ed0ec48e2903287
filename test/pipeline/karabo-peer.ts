// Runs Karabo's own middlelayer pipeline code (../shared/peers/karabo, unmodified) in a child process for
// the interop tests: fixtures/karabo_pipe_peer.py hosts PipePeer devices on RabbitMQ and reports what
// their InputChannels receive as JSON lines.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The Karabo peer's folder (SASE_KARABO_PEER, default ../shared/peers/karabo beside the checkout). */
export const PEER_DIR = process.env.SASE_KARABO_PEER ?? resolve(ROOT, "../shared/peers/karabo");
const SCRIPT = fileURLToPath(new URL("./fixtures/karabo_pipe_peer.py", import.meta.url));

/** What one PipePeer device reports. */
export interface PeerEvent {
  device: string;
  ready?: boolean;
  port?: number;
  data?: Record<string, unknown> & { source: string; tid: number | null };
  eos?: string;
  connect?: string;
  close?: string;
  wrote?: number;
  /** Items received so far (devices configured `quiet`). */
  n?: number;
  error?: string;
}

/** Configuration of one PipePeer device. */
export interface PeerDeviceConfig {
  input?: string[];
  distribution?: "copy" | "shared";
  slowness?: "drop" | "wait" | "queueDrop";
  delay?: number;
  port?: number;
  /** Report a count per item instead of its content (benchmarks). */
  quiet?: boolean;
}

/** A running middlelayer device server with PipePeer devices. */
export class KaraboPipePeer {
  readonly events: PeerEvent[] = [];
  /** Items counted by `quiet` devices. */
  readonly counts = new Map<string, number>();
  /** Called with each count a `quiet` device reports (benchmarks time arrivals with it). */
  onCount: ((device: string, n: number) => void) | undefined;
  private constructor(
    readonly child: ChildProcess,
    readonly ports: Map<string, number>,
  ) {}

  /** Starts the server and waits until every device is up (its output listening). */
  static async start(
    devices: Record<string, PeerDeviceConfig>,
    options: { topic: string; resolve?: Record<string, string> } = { topic: "sase_pipeline_test" },
  ): Promise<KaraboPipePeer> {
    if (!existsSync(resolve(PEER_DIR, "env.sh"))) {
      throw new Error(`the Karabo peer is not at ${PEER_DIR} (set SASE_KARABO_PEER or run its setup.sh)`);
    }
    const args = [SCRIPT, "--topic", options.topic];
    for (const [id, cfg] of Object.entries(devices)) args.push("--device", `${id}=${JSON.stringify(cfg)}`);
    for (const [name, addr] of Object.entries(options.resolve ?? {}))
      args.push("--resolve", `${name}=${addr}`);
    const child = spawn("bash", ["-c", `source "${PEER_DIR}/env.sh" && exec "$KPY" "$@"`, "peer", ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const peer = new KaraboPipePeer(child, new Map());
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    let partial = "";
    child.stdout!.on("data", (b: Buffer) => {
      const lines = (partial + b.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        const e = JSON.parse(line) as PeerEvent;
        if (e.ready) peer.ports.set(e.device, e.port!);
        if (e.n !== undefined) {
          peer.counts.set(e.device, e.n);
          peer.onCount?.(e.device, e.n);
        } else peer.events.push(e);
      }
    });
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`Karabo peer did not start in 20 s:\n${stderr}`)),
        20_000,
      );
      const check = setInterval(() => {
        if (peer.ports.size === Object.keys(devices).length) {
          clearTimeout(timer);
          clearInterval(check);
          ok();
        }
      }, 20);
      child.once("exit", (code) => {
        clearTimeout(timer);
        clearInterval(check);
        fail(new Error(`Karabo peer exited with ${code}:\n${stderr}`));
      });
    });
    return peer;
  }

  /** Items a device's input received, in order. */
  received(device: string): NonNullable<PeerEvent["data"]>[] {
    return this.events.filter((e) => e.device === device && e.data).map((e) => e.data!);
  }

  /** Events of one kind from one device. */
  count(device: string, kind: "eos" | "connect" | "close" | "wrote"): number {
    return this.events.filter((e) => e.device === device && e[kind] !== undefined).length;
  }

  /** Sends a command to a device (see karabo_pipe_peer.py). */
  send(device: string, command: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify({ device, ...command })}\n`);
  }

  /** Kills the server with SIGKILL (no goodbye on the broker or the sockets' protocol). */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGKILL");
    await gone;
  }
}
