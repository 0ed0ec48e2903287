// EXDF file names: RAW-R0238-AGIPD00-S00000.h5 = data category, run number, aggregator, sequence.
import { SaseError, showValue } from "../core/index.ts";

/** The parts of an EXDF file name. */
export interface ExdfFileName {
  readonly category: string;
  readonly run: number;
  readonly aggregator: string;
  readonly sequence: number;
}

const PATTERN = /^([A-Z]+)-R(\d{4,})-([A-Za-z0-9]+)-S(\d{5,})\.h5$/;

/** Parses an EXDF file name (basename), or returns null when it does not follow the pattern. */
export function parseFileName(name: string): ExdfFileName | null {
  const m = PATTERN.exec(name);
  if (!m) return null;
  return { category: m[1] as string, run: Number(m[2]), aggregator: m[3] as string, sequence: Number(m[4]) };
}

/** The file name of one sequence file of an aggregator, e.g. RAW-R0238-AGIPD00-S00000.h5. */
export function formatFileName(parts: ExdfFileName): string {
  if (!/^[A-Za-z0-9]+$/.test(parts.aggregator))
    throw new SaseError("BAD_OPTION", `aggregator name must be alphanumeric: "${parts.aggregator}"`, {
      value: showValue(parts.aggregator),
    });
  const run = String(parts.run).padStart(4, "0");
  const seq = String(parts.sequence).padStart(5, "0");
  return `${parts.category}-R${run}-${parts.aggregator}-S${seq}.h5`;
}
