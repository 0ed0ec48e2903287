// Waiting on a condition, never on a fixed sleep: CI machines are loaded, so the deadline is generous and
// a miss names what was awaited.

/** How long `until` waits unless told otherwise. */
export const UNTIL_MS = 60_000;

/**
 * Resolves once `ok()` holds, asking every `everyMs`; rejects after `ms` with "timed out after <ms> ms
 * waiting for <what>". `what` may be a function, called at the deadline, to show the state then.
 */
export async function until(
  ok: () => boolean | Promise<boolean>,
  what: string | (() => string),
  ms = UNTIL_MS,
  everyMs = 20,
): Promise<void> {
  const end = performance.now() + ms;
  while (!(await ok())) {
    if (performance.now() > end)
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
