// Memory a virtual machine's host has taken back makes the next writer pay for it.
//
// On a VM with free page reporting (virtio-balloon, as the VMs these benches run on have), memory
// the guest kernel has held free for ~2 s is handed back to the host in 2 MiB blocks; the next process
// to touch it faults on the host for every page. A 1 GB write into the page cache then took 1.4-1.9 s of
// system time here instead of ~0.2 s: whichever writer came after a pause (a Python start, a sync) paid
// it, so writes swung 3-10× from run to run. Touching that much memory in a child that exits just
// before a timed write gives every writer memory the host backs again.
//
// The child is numpy, whose big arrays are transparent huge pages (2 MiB, as the host takes memory
// back): 1 GB after a 2.5 s pause took 189-222 ms after it, but 614-1,723 ms after a Node child that
// touched 1.5 GB of ordinary pages. On a machine without such reporting it costs the ~0.5 s of the
// child and changes nothing.
import { execFileSync } from "node:child_process";

/** Touches `bytes` of memory (default 1.5 GB) in a child process that then exits. */
export function backMemory(bytes = 1.5e9): void {
  execFileSync("/usr/bin/python3", [
    "-c",
    `import numpy as np; a = np.ones(${Math.round(bytes)}, np.uint8); del a`,
  ]);
}
