// Memory a virtual machine's host has taken back makes the next writer pay for it.
//
// On a VM with free page reporting (virtio-balloon, as the VMs these benches run on have), memory
// the guest kernel has held free for ~2 s is handed back to the host; the next process to touch it
// faults on the host for every page. A 1 GB write into the page cache then took 1.4-1.9 s of system
// time here instead of ~0.18 s: whichever writer came after a pause (a Python start, a sync) paid it,
// so writes swung 3-10× from run to run. Touching that much memory in a child that exits just before
// a timed write gives every writer memory the host backs again. On a machine without such reporting
// it costs the ~0.3 s of the child and changes nothing.
import { execFileSync } from "node:child_process";

/** Touches `bytes` of memory in a child process that then exits (default 1.5 GB). */
export function backMemory(bytes = 1.5e9): void {
  execFileSync(process.execPath, ["-e", `Buffer.alloc(${Math.round(bytes)}, 1)`]);
}
