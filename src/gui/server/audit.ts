// The change log: every change made through the GUI (and every refused attempt) with who made it.
// Kept in memory for the page's log panel, written to the structured log, and optionally appended to a
// JSON-lines file that outlives the process.
import { appendFileSync } from "node:fs";
import type { Logger } from "../../core/index.ts";
import type { AuditEntry } from "../api.ts";
import type { Identity } from "./auth.ts";

/** Records changes and tells listeners about each one. */
export class AuditLog {
  readonly #entries: AuditEntry[] = [];
  readonly #listeners = new Set<(e: AuditEntry) => void>();
  readonly #log: Logger;
  readonly #file: string | undefined;
  readonly #keep: number;

  constructor(log: Logger, file?: string, keep = 500) {
    this.#log = log;
    this.#file = file;
    this.#keep = keep;
  }

  /** Records one change (or refused attempt). */
  record(who: Identity, action: string, target: string, detail: string, ok: boolean): AuditEntry {
    const e: AuditEntry = { ms: Date.now(), user: who.user, role: who.role, action, target, detail, ok };
    this.#entries.push(e);
    if (this.#entries.length > this.#keep) this.#entries.splice(0, this.#entries.length - this.#keep);
    const fields = { user: who.user, role: who.role, action, target, detail };
    if (ok) this.#log.info("change", fields);
    else this.#log.warn("refused", fields);
    if (this.#file) appendFileSync(this.#file, `${JSON.stringify(e)}\n`);
    for (const l of this.#listeners) l(e);
    return e;
  }

  /** The most recent entries, oldest first. */
  recent(n = 100): AuditEntry[] {
    return this.#entries.slice(-n);
  }

  /** Calls `listener` for every new entry; returns the unsubscribe. */
  onEntry(listener: (e: AuditEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
