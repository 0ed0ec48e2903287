// The one base of every sase error. Each carries a stable `code` (one of ERROR_CODES) so a caller, the
// CLI (`sase: CODE: message`) or a GUI on another host can react to the kind of failure without parsing
// text, a message naming what was wrong, and `details.value`, the offending value where there is one.
// They travel as plain data (`errorToWire`/`errorFromWire`).

/**
 * Every error code of sase, by layer, with what it means. A code keeps its meaning once released:
 * scripts and GUIs branch on it. Layers share a code where the failure is the same kind.
 */
export const ERROR_CODES = {
  // core: device framework (these cross the broker)
  UNKNOWN_KEY: "a key the schema does not have",
  WRONG_TYPE: "a value of the wrong type for its key",
  OUT_OF_RANGE: "a number outside its key's limits",
  NOT_IN_OPTIONS: "a value not among its key's options",
  READ_ONLY: "a write to a read-only key",
  INIT_ONLY: "a write after instantiation to a key set only at start",
  WRONG_STATE: "an action not allowed in the current state",
  ACCESS_DENIED: "an action the caller's role may not take",
  MISSING_KEY: "a mandatory key not given",
  BAD_SCHEMA: "a schema that breaks a rule",
  BAD_ID: "a device or server ID that is not well formed",
  UNKNOWN_DEVICE: "no device of that ID",
  UNKNOWN_SLOT: "no slot of that name",
  UNKNOWN_CLASS: "no device class of that name",
  DEVICE_EXISTS: "a device of that ID already runs",
  REFUSED: "a request the receiver refused",
  SLOT_FAILED: "a slot that threw while running",
  TIMEOUT: "no reply or data in time",
  BROKER_CLOSED: "the broker connection is closed",
  BAD_MESSAGE: "a malformed or unexpected message from a peer",
  UNSUPPORTED_HOST: "a machine sase cannot run on (big-endian)",
  INTERNAL: "a failure that is not one of sase's own (a bug, or another library's error)",
  // core: Hash container and its binary form
  HASH_KEY: "a Hash path that does not exist or cannot be walked",
  HASH_TYPE: "a Hash value whose kind does not fit its type",
  HASH_RANGE: "a Hash number outside its type's range",
  HASH_LIMIT: "a Hash key, vector or element beyond Karabo's limits",
  HASH_DECODE: "bytes that are not a valid binary Hash",
  // several layers
  NOT_FOUND: "a named file, source, key, train, run or channel that does not exist",
  CLOSED: "an object used after it was closed",
  BAD_OPTION: "an option or argument out of its allowed values",
  BAD_SHAPE: "an array whose shape does not match the number of its elements",
  // files
  BAD_FILE: "an HDF5/EXDF file or run that cannot be read as asked",
  NOT_EXDF: "an HDF5 file without the EXDF structure (METADATA, INDEX)",
  HDF5_FAILED: "the HDF5 library failed a call",
  BAD_DATA: "data for a file writer that does not fit its declaration",
  FILE_EXISTS: "a file a writer would replace",
  // devices
  DEVICE_FAULT: "hardware or a device that failed",
  // pipeline
  BAD_CHANNEL_ID: "a channel ID not of the form device:channel",
  SCHEMA_MISMATCH: "data that does not match the channel's schema",
  PROTOCOL: "a peer that broke the pipeline protocol",
  DUPLICATE_CHANNEL: "a channel declared twice",
  // detector
  BAD_GEOMETRY: "a detector geometry that cannot be built or read",
  // bridge
  BAD_VERSION: "an unknown Karabo bridge protocol version",
  BAD_REQUEST: "a request the bridge server does not accept",
  MSGPACK_MALFORMED: "bytes that are not valid MessagePack (or nest too deep)",
  SERVER_ERROR: "the bridge server reported a failure",
  CANNOT_BIND: "a server that cannot listen on its endpoint",
  CANNOT_CONNECT: "a client that cannot reach its endpoint",
  BUSY: "a call made again before the previous one finished",
  // calibration
  BAD_RAW_DATA: "raw detector data the corrector cannot take (shape, cell IDs)",
  BAD_CONSTANTS: "calibration constants that cannot be used (shape, values, conditions)",
  NO_CONSTANTS: "no calibration constants match",
  TASK_FAILED: "a task that failed inside a worker thread",
  WRONG_THREAD: "a function called on a thread it does not run on",
  NO_ROOM: "a fixed-size memory (a kernel's Arena) with no room left for what was asked",
  // daq
  CATALOGUE: "a proposal, run or job the catalogue does not have or refuses",
  BAD_SOURCE: "a configured data source that cannot be recorded",
  RUN_STOPPED: "a run that stopped before it was complete",
  JOB_FAILED: "a processing job that could not be started or failed",
  // table
  BAD_CONTEXT: "a context file or variable that is malformed",
  MISSING_INPUT: "a variable whose inputs (sources, other variables) are missing or failed",
  // analysis
  BAD_GRAPH: "an analysis graph that is not valid",
  // notebook
  NOTEBOOK: "a notebook that cannot be run",
  CELL_FAILED: "a notebook cell that failed",
  // gui
  BAD_USERS_FILE: "a GUI users file that is malformed",
  BAD_IMAGE: "an image frame or module image that is malformed",
  NOT_AVAILABLE: "a service this facility does not run",
  // cli
  TARGET_EXISTS: "an output that exists (give --force to replace it)",
  BAD_OUTPUT: "an output path that cannot be written",
  BAD_ENV: "an environment variable with a bad value",
  PORT_IN_USE: "a port another program listens on",
  NO_PASSWORD: "a password needed and not given",
  NO_STORE: "a constants store that does not exist (give --create to make one)",
} as const satisfies Record<string, string>;

/** Codes of every sase error. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Codes of the device framework's own checks and calls. A device passes these on as they are (the
 * request was wrong); any other error thrown inside a slot is a failure of the device (it goes to ERROR).
 */
export const FRAMEWORK_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "UNKNOWN_KEY",
  "WRONG_TYPE",
  "OUT_OF_RANGE",
  "NOT_IN_OPTIONS",
  "READ_ONLY",
  "INIT_ONLY",
  "WRONG_STATE",
  "ACCESS_DENIED",
  "MISSING_KEY",
  "BAD_SCHEMA",
  "BAD_ID",
  "UNKNOWN_DEVICE",
  "UNKNOWN_SLOT",
  "UNKNOWN_CLASS",
  "DEVICE_EXISTS",
  "REFUSED",
  "SLOT_FAILED",
  "TIMEOUT",
  "BROKER_CLOSED",
]);

/** Whether `err` is one of the device framework's own errors (see FRAMEWORK_CODES). */
export function isFrameworkError(err: unknown): err is SaseError {
  return err instanceof SaseError && FRAMEWORK_CODES.has(err.code);
}

/** What an error concerns, as printable strings; `value` is the offending value (see `showValue`). */
export interface ErrorDetails {
  deviceId?: string;
  key?: string;
  value?: string;
  rule?: string;
}

/** The base of every sase error: a stable code, a message naming what was wrong, and what it concerns. */
export class SaseError extends Error {
  override name = "SaseError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
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
