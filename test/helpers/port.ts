// A TCP port nobody listens on, for a server a test (or a bench) starts later or in another process.

import { createServer } from "node:net";

/** A loopback port that was free a moment ago (the system's choice for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
