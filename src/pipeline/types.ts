// Names and shapes shared by output and input channels: channel ids, options with their defaults, the
// data token, and the errors the pipeline layer throws.

import { type ErrorDetails, type Hash, SaseError, type Timestamp } from "../core/index.ts";

/** How an input wants tokens: every token (`copy`) or its share of a pool of inputs (`shared`). */
export type DataDistribution = "copy" | "shared";

/**
 * What happens to a token when an input cannot take it yet:
 * `drop` — the newest token is dropped for that input; `queueDrop` — it is queued on the sender, up to
 * `maxQueueLength`, dropping the OLDEST beyond; `wait` — the sender's `write()` waits (back-pressure).
 */
export type SlownessPolicy = "drop" | "queueDrop" | "wait";

/** How an output picks the member of its shared pool that gets the next token. */
export type SharedSelection = "loadBalanced" | "roundRobin";

/** Custom shared routing (e.g. by train ID modulo N): returns one of `inputIds`, or undefined to drop. */
export type SharedSelector = (token: DataToken, inputIds: readonly string[]) => string | undefined;

export const DATA_DISTRIBUTIONS: readonly DataDistribution[] = ["copy", "shared"];
export const SLOWNESS_POLICIES: readonly SlownessPolicy[] = ["drop", "queueDrop", "wait"];

/** Where a token came from and when: the source name and the train's timestamp (with its train ID). */
export interface TokenMeta {
  /** Source name; defaults to the output's channel id `deviceId:channelName`. */
  readonly source: string;
  readonly timestamp: Timestamp;
}

/**
 * One item on a pipeline: a Hash of data (ndarrays included) plus its metadata. In one process the
 * receiver gets the very same objects the sender wrote, so tokens are read-only once written.
 */
export interface DataToken {
  readonly data: Hash;
  readonly meta: TokenMeta;
}

/** Options of an input channel (Karabo's INPUT_CHANNEL keys, same names and defaults where they exist). */
export interface InputChannelOptions {
  /** Outputs to connect to: `deviceId:channelName`, `tcp://host:port`, or `deviceId:channelName@tcp://host:port`. */
  connectedOutputChannels?: readonly string[];
  /** Default `copy`. */
  dataDistribution?: DataDistribution;
  /** Default `drop` (Karabo's default since 2.10). In shared mode it applies to the whole pool. */
  onSlowness?: SlownessPolicy;
  /** Sender-side queue for `queueDrop` (and `wait` buffering); default 2, minimum 1. */
  maxQueueLength?: number;
  /** Tokens each connection may have in flight toward this input before it asks for more; default 2. */
  prefetch?: number;
  /** Whether the end-of-stream handler runs; default true. */
  respondToEndOfStream?: boolean;
  /** An input that had data and then sees none for this long (not at end of stream) is stalled; default 1000 ms. */
  stallTimeoutMs?: number;
  /** Delay between connection attempts to a missing or lost output; default 500 ms. */
  reconnectIntervalMs?: number;
  /** Wait this long after taking a token before asking for the next; with `drop` a cheap rate limit. Default 0. */
  delayOnInput?: number;
}

/** Options of an output channel. */
export interface OutputChannelOptions {
  /** Policy of the shared pool when no shared input is ready; default: the strictest policy its members ask for. */
  noInputShared?: SlownessPolicy;
  /** How shared tokens are spread; default `loadBalanced` (first ready input), or a custom selector. */
  sharedSelection?: SharedSelection | SharedSelector;
  /** `always` (default), `once` per stream, or `never` validate written data against the data schema. */
  validateSchema?: "always" | "once" | "never";
  /** A write that waits on back-pressure longer than this raises the output's alarm; default 1000 ms. */
  stallTimeoutMs?: number;
}

/** Options for the TCP side of an output. */
export interface ListenOptions {
  /** Interface to bind; default 127.0.0.1 (use 0.0.0.0 to accept inputs from other hosts). */
  host?: string;
  /** Port; default 0 = any free port. */
  port?: number;
  /** Largest token body accepted or sent, in bytes; default 1 GiB. */
  maxTokenBytes?: number;
}

/** Errors of the pipeline layer carry a code that callers can branch on. */
export class PipelineError extends SaseError {
  override name = "PipelineError";
  constructor(
    code:
      | "BAD_CHANNEL_ID"
      | "BAD_OPTION"
      | "SCHEMA_MISMATCH"
      | "PROTOCOL"
      | "CLOSED"
      | "DUPLICATE_CHANNEL"
      | "NOT_FOUND",
    message: string,
    details?: ErrorDetails,
  ) {
    super(code, message, details);
  }
}

const ID_PART = /^[A-Za-z0-9_/-]+$/;
const CHANNEL_NAME = /^[A-Za-z0-9_.-]+$/;

/** Splits `deviceId:channelName`, throwing a PipelineError that names what is wrong. */
export function parseChannelId(id: string): { deviceId: string; channelName: string } {
  const colon = id.lastIndexOf(":");
  const deviceId = colon > 0 ? id.slice(0, colon) : "";
  const channelName = colon > 0 ? id.slice(colon + 1) : "";
  if (!ID_PART.test(deviceId) || !CHANNEL_NAME.test(channelName)) {
    throw new PipelineError(
      "BAD_CHANNEL_ID",
      `channel id "${id}" is not of the form deviceId:channelName (device id of A-Z a-z 0-9 _ / -, channel name of A-Z a-z 0-9 _ . -)`,
    );
  }
  return { deviceId, channelName };
}

/** A parsed entry of `connectedOutputChannels`. */
export interface OutputSpec {
  /** The text as configured. */
  readonly spec: string;
  /** `deviceId:channelName`, when named. */
  readonly channelId?: string;
  /** `tcp://host:port`, when given explicitly. */
  readonly address?: { host: string; port: number };
}

/** Parses one `connectedOutputChannels` entry. */
export function parseOutputSpec(spec: string): OutputSpec {
  const at = spec.indexOf("@");
  const idPart = spec.startsWith("tcp://") ? "" : at >= 0 ? spec.slice(0, at) : spec;
  const addrPart = spec.startsWith("tcp://") ? spec : at >= 0 ? spec.slice(at + 1) : "";
  let address: OutputSpec["address"];
  if (addrPart) address = parseTcpAddress(addrPart);
  if (idPart) parseChannelId(idPart);
  return { spec, channelId: idPart || undefined, address };
}

/** Parses `tcp://host:port`. */
export function parseTcpAddress(text: string): { host: string; port: number } {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < 1 || port > 65535) {
    throw new PipelineError("BAD_CHANNEL_ID", `"${text}" is not a TCP address of the form tcp://host:port`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

/** Resolved input options with every default filled in; validates values that came from outside. */
export function resolveInputOptions(o: InputChannelOptions): Required<InputChannelOptions> {
  const r: Required<InputChannelOptions> = {
    connectedOutputChannels: [...(o.connectedOutputChannels ?? [])],
    dataDistribution: o.dataDistribution ?? "copy",
    onSlowness: o.onSlowness ?? "drop",
    maxQueueLength: o.maxQueueLength ?? 2,
    prefetch: o.prefetch ?? 2,
    respondToEndOfStream: o.respondToEndOfStream ?? true,
    stallTimeoutMs: o.stallTimeoutMs ?? 1000,
    reconnectIntervalMs: o.reconnectIntervalMs ?? 500,
    delayOnInput: o.delayOnInput ?? 0,
  };
  if (!DATA_DISTRIBUTIONS.includes(r.dataDistribution)) {
    throw new PipelineError(
      "BAD_OPTION",
      `dataDistribution "${r.dataDistribution}" is not one of copy, shared`,
    );
  }
  if (!SLOWNESS_POLICIES.includes(r.onSlowness)) {
    throw new PipelineError("BAD_OPTION", `onSlowness "${r.onSlowness}" is not one of drop, queueDrop, wait`);
  }
  for (const [key, min] of [
    ["maxQueueLength", 1],
    ["prefetch", 1],
    ["stallTimeoutMs", 1],
    ["reconnectIntervalMs", 1],
    ["delayOnInput", 0],
  ] as const) {
    const v = r[key];
    if (!Number.isInteger(v) || v < min)
      throw new PipelineError("BAD_OPTION", `${key} must be an integer >= ${min}, got ${v}`);
  }
  for (const spec of r.connectedOutputChannels) parseOutputSpec(spec);
  return r;
}
