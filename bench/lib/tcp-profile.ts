// Diagnostic (not a bench row): a stream of 16 MiB tokens across two processes, sase output → sase input
// (`sase`), or the same bytes over a plain socket (`raw`), or plain with a small message back per token
// as an input's request would be (`rawreq`), or plain reading each token whole into one 16 MiB buffer
// (`rawwhole`; `rawwholereq` with the message back). Prints each side's wall time, CPU (user, sys; and
// the main JS thread's alone, from schedstat), page faults and read and write syscalls per token (the
// receiver's from the 10th token on: steady state) and the process's max RSS.
// TCP_PROFILE_BYTES sets the token size (default 16 MiB; small tokens leave the per-token JavaScript).
//   node --import tsx bench/lib/tcp-profile.ts sase|raw|rawreq|rawwhole|rawwholereq [tokens]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { Hash, type NDArray, ndarray } from "../../src/core/index.ts";
import { InputChannel, OutputChannel } from "../../src/pipeline/index.ts";

const BYTES = Number(process.env.TCP_PROFILE_BYTES ?? 16 * 1024 * 1024);
const SHAPE = BYTES === 16 * 1024 * 1024 ? [64, 2, 512, 128] : [BYTES / 2];
const [mode = "sase", n = "200", role = ""] = process.argv.slice(2);
const TOKENS = Number(n);

function faults(): number {
  const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return Number(f[7]) + Number(f[9]); // minflt + majflt
}
/** CPU ns of the main thread alone (the JS thread), from schedstat. */
function mainNs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]);
}
function syscalls(): number[] {
  const t = readFileSync("/proc/self/io", "utf8");
  return [Number(/syscr: (\d+)/.exec(t)![1]), Number(/syscw: (\d+)/.exec(t)![1])];
}
function usage(): { cpu: NodeJS.CpuUsage; faults: number; t: number; main: number; sc: number[] } {
  return { cpu: process.cpuUsage(), faults: faults(), t: performance.now(), main: mainNs(), sc: syscalls() };
}
function report(side: string, a: ReturnType<typeof usage>, tokens = TOKENS): string {
  const b = usage();
  const per = (x: number) => (x / tokens).toFixed(3);
  return `${side}: wall ${per(b.t - a.t)} ms, user ${per((b.cpu.user - a.cpu.user) / 1000)} ms, sys ${per((b.cpu.system - a.cpu.system) / 1000)} ms (main thread ${per((b.main - a.main) / 1e6)} ms), faults ${per(b.faults - a.faults)}, reads ${per(b.sc[0]! - a.sc[0]!)}, writes ${per(b.sc[1]! - a.sc[1]!)} per token, max RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`;
}

const buffers =
  role === "send" ? Array.from({ length: 4 }, (_, i) => new Uint16Array(BYTES / 2).fill(i + 1)) : [];

async function sender(): Promise<void> {
  if (mode.startsWith("raw")) {
    const server = createServer(async (sock) => {
      sock.setNoDelay(true);
      const a = usage();
      for (let i = 0; i < TOKENS; i++) {
        const b = buffers[i % 4]!;
        if (!sock.write(new Uint8Array(b.buffer))) await new Promise((r) => sock.once("drain", r));
      }
      sock.end(() => {
        process.stderr.write(`${report("sender", a)}\n`);
        server.close();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    process.stdout.write(`tcp://127.0.0.1:${(server.address() as { port: number }).port}\n`);
    return;
  }
  const out = new OutputChannel("PROF/SRC/0:output", undefined, { registry: null });
  process.stdout.write(`${await out.listen()}\n`);
  while (out.stats().connections === 0) await new Promise((r) => setTimeout(r, 5));
  const a = usage();
  for (let i = 0; i < TOKENS; i++)
    await out.write(new Hash({ image: { data: ndarray(buffers[i % 4]!, SHAPE) } }), { trainId: i + 1 });
  await out.endOfStream();
  process.stderr.write(`${report("sender", a)}\n`);
  await new Promise((r) => setTimeout(r, 200));
  await out.close();
}

async function receiver(): Promise<void> {
  // The sender runs without --trace-* flags, so that its output is not taken for the address.
  const args = process.execArgv.filter((a) => !a.startsWith("--trace"));
  const c = spawn(process.execPath, [...args, fileURLToPath(import.meta.url), mode, n, "send"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const address = await new Promise<string>((r) =>
    c.stdout!.once("data", (b: Buffer) => r(b.toString().trim())),
  );
  let a = usage();
  let t0 = 0;
  if (mode.startsWith("raw")) {
    const into = new Uint8Array(BYTES);
    let got = 0;
    const [host, port] = address.slice(6).split(":");
    const request = Buffer.alloc(48, 1);
    await new Promise<void>((done) => {
      const sock = createConnection({
        host,
        port: Number(port),
        onread: {
          // rawwhole: each token read whole through `into` (as a receiver that keeps it must), not every
          // read into its start.
          buffer: mode.startsWith("rawwhole") ? () => into.subarray(got % BYTES) : into,
          callback: (k: number) => {
            // rawreq: a small message back per token received, as a pipeline input's request would be.
            if (mode.endsWith("req") && Math.floor((got + k) / BYTES) > Math.floor(got / BYTES))
              sock.write(request);
            got += k;
            if (t0 === 0 && got >= 10 * BYTES) {
              t0 = performance.now();
              a = usage();
            }
            if (got >= TOKENS * BYTES) done();
            return true;
          },
        },
      });
    });
  } else {
    const inp = new InputChannel("PROF/SINK/0:input", {
      connectedOutputChannels: [`PROF/SRC/0:output@${address}`],
      onSlowness: "wait",
    }).connect();
    let seen = 0;
    let sum = 0;
    const ended = new Promise<void>((r) => inp.onEndOfStream(() => r()));
    inp.onData((t) => {
      if (seen++ === 9) {
        t0 = performance.now();
        a = usage();
      }
      sum += t.data.get<NDArray>("image.data").data[0] as number;
      inp.release(t);
    });
    await ended;
    if (seen !== TOKENS || sum === 0) throw new Error(`got ${seen}`);
    process.stderr.write(`reused memory: ${inp.stats().reusedMemory} of ${seen}\n`);
    await inp.close();
  }
  const ms = performance.now() - t0;
  process.stderr.write(`${report("receiver", a, TOKENS - 10)}\n`);
  console.log(
    `${mode}: ${((BYTES * (TOKENS - 10)) / (ms / 1000) / 1e9).toFixed(2)} GB/s from the 10th token`,
  );
  await new Promise((r) => c.once("exit", r));
}

if (role === "send") await sender();
else await receiver();
