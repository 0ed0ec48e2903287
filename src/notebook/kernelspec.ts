// The kernelspec that tells Jupyter how to start sase's TypeScript kernel: this checkout's `sase
// notebook kernel`, with this Node. `sase notebook setup` installs it for the user.
import { mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Name Jupyter knows the kernel by. */
export const KERNEL_NAME = "sase-ts";

const SASE_BIN = fileURLToPath(new URL("../../bin/sase.js", import.meta.url));

/** Writes `<kernelsDir>/sase-ts/kernel.json`; returns its folder. */
export function writeKernelSpec(kernelsDir: string): string {
  const dir = join(kernelsDir, KERNEL_NAME);
  mkdirSync(dir, { recursive: true });
  const spec = {
    argv: [process.execPath, SASE_BIN, "notebook", "kernel", "{connection_file}"],
    display_name: "TypeScript (sase)",
    language: "typescript",
    interrupt_mode: "message",
    env: { SASE_LOG_LEVEL: "warn" },
  };
  writeFileSync(join(dir, "kernel.json"), `${JSON.stringify(spec, null, 2)}\n`);
  return dir;
}

/** The user's Jupyter kernels folder ($JUPYTER_DATA_DIR/kernels, else ~/.local/share/jupyter/kernels). */
export function userKernelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.JUPYTER_DATA_DIR ?? join(homedir(), ".local", "share", "jupyter"), "kernels");
}
