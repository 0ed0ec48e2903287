// Structured logging: one JSON object per line on stderr when SASE_LOG_FORMAT=json (for machines),
// otherwise one readable line. Level from SASE_LOG_LEVEL (debug|info|warn|error; default info).

export type LogLevel = "debug" | "info" | "warn" | "error";
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Fields attached to a log record. */
export type LogFields = Record<string, unknown>;

/** A logger bound to a component name (e.g. a device id). */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(component: string): Logger;
}

function envLevel(): LogLevel {
  const v = process.env.SASE_LOG_LEVEL;
  return v === "debug" || v === "info" || v === "warn" || v === "error" ? v : "info";
}

function fieldText(fields: LogFields): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    const text =
      typeof v === "string" ? v : JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
    parts.push(`${k}=${text}`);
  }
  return parts.join(" ");
}

/** A logger writing to stderr; `sink` replaces stderr (tests, GUI log panels). */
export function createLogger(component = "sase", sink?: (line: string) => void): Logger {
  const min = order[envLevel()];
  const json = process.env.SASE_LOG_FORMAT === "json";
  const out = sink ?? ((line: string) => process.stderr.write(`${line}\n`));
  const emit = (level: LogLevel, msg: string, fields: LogFields = {}) => {
    if (order[level] < min) return;
    const time = new Date().toISOString();
    if (json) {
      out(
        JSON.stringify({ time, level, component, msg, ...fields }, (_k, x) =>
          typeof x === "bigint" ? x.toString() : x,
        ),
      );
    } else {
      const extra = Object.keys(fields).length ? ` ${fieldText(fields)}` : "";
      out(`${time} ${level.toUpperCase().padEnd(5)} [${component}] ${msg}${extra}`);
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (name) => createLogger(`${component}/${name}`, sink),
  };
}
