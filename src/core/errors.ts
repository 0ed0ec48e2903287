// Typed errors of the device framework. Each has a stable `code` so a caller on another host (or a GUI)
// can react to the kind of failure; they travel as plain data (`toWire`/`fromWire`).

/** Codes of every device-framework error. */
export type ErrorCode =
  | "UNKNOWN_KEY"
  | "WRONG_TYPE"
  | "OUT_OF_RANGE"
  | "NOT_IN_OPTIONS"
  | "READ_ONLY"
  | "INIT_ONLY"
  | "WRONG_STATE"
  | "ACCESS_DENIED"
  | "MISSING_KEY"
  | "BAD_SCHEMA"
  | "BAD_ID"
  | "UNKNOWN_DEVICE"
  | "UNKNOWN_SLOT"
  | "UNKNOWN_CLASS"
  | "DEVICE_EXISTS"
  | "REFUSED"
  | "SLOT_FAILED"
  | "TIMEOUT"
  | "BROKER_CLOSED";

/** An error of the device framework, with a code and the key/value it concerns where there is one. */
export class SaseError extends Error {
  override name = "SaseError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { deviceId?: string; key?: string; value?: string; rule?: string } = {},
  ) {
    super(message);
  }
}

/** A configuration value broke a schema rule; `errors` lists every offending key. */
export class ValidationError extends SaseError {
  override name = "ValidationError";
  constructor(readonly errors: readonly SaseError[]) {
    super(errors[0]?.code ?? "BAD_SCHEMA", errors.map((e) => e.message).join("; "), errors[0]?.details ?? {});
  }
}

/** A remote call got no reply in time. */
export class TimeoutError extends SaseError {
  override name = "TimeoutError";
}

/** Plain-data form of an error, as it crosses a broker. */
export interface WireError {
  readonly error: true;
  readonly code: ErrorCode | "INTERNAL";
  readonly message: string;
  readonly details?: Record<string, string>;
  readonly errors?: readonly WireError[];
}

/** The plain-data form of any thrown value. */
export function errorToWire(err: unknown): WireError {
  if (err instanceof ValidationError) {
    return { error: true, code: err.code, message: err.message, errors: err.errors.map(errorToWire) };
  }
  if (err instanceof SaseError) {
    return { error: true, code: err.code, message: err.message, details: { ...err.details } };
  }
  return { error: true, code: "INTERNAL", message: err instanceof Error ? err.message : String(err) };
}

/** Rebuilds a typed error from its plain-data form. */
export function errorFromWire(w: WireError): SaseError {
  if (w.errors && w.errors.length > 0) return new ValidationError(w.errors.map(errorFromWire));
  const code = w.code === "INTERNAL" ? "SLOT_FAILED" : w.code;
  if (code === "TIMEOUT") return new TimeoutError(code, w.message, w.details ?? {});
  return new SaseError(code, w.message, w.details ?? {});
}

/** Short printable form of a value for error messages (never huge, bigint-safe). */
export function showValue(value: unknown): string {
  if (typeof value === "string")
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === "bigint") return `${value}n`;
  if (value === undefined) return "undefined";
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Uint8Array).length})`;
  try {
    const text = JSON.stringify(value, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}
