// Karabo-style timestamps: wall-clock time with attosecond fraction, plus the train ID the facility's
// timing system assigned. Every property update and every data token carries one.

/** A point in time as the timing system gives it. */
export interface Timestamp {
  /** Seconds since the Unix epoch. */
  readonly sec: number;
  /** Fraction of the second in attoseconds (1e-18 s), as Karabo keeps it. */
  readonly frac: bigint;
  /** The train ID (0 when not known). */
  readonly trainId: number;
}

const ATTO_PER_MS = 1_000_000_000_000_000n;

/** A timestamp for `epochMs` (default: now) and a train ID. */
export function timestampNow(trainId = 0, epochMs: number = Date.now()): Timestamp {
  const sec = Math.floor(epochMs / 1000);
  const ms = epochMs - sec * 1000;
  return { sec, frac: BigInt(Math.round(ms * 1000)) * (ATTO_PER_MS / 1000n), trainId };
}

/** Milliseconds since the Unix epoch of a timestamp. */
export function timestampToMs(t: Timestamp): number {
  return t.sec * 1000 + Number(t.frac / (ATTO_PER_MS / 1000n)) / 1000;
}

/** ISO-8601 text of a timestamp (millisecond precision). */
export function timestampToIso(t: Timestamp): string {
  return new Date(timestampToMs(t)).toISOString();
}
