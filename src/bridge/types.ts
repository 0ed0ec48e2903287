// The data model of the Karabo bridge: one train is, per source, a flat map of keys to values or
// arrays, plus per-source metadata (source name, timestamp and train ID).
import type { NDArray } from "../core/index.ts";
import type { ArrayInFile } from "../files/index.ts";
import type { MsgExt } from "./msgpack.ts";
import { SaseError } from "../core/index.ts";

/** Protocol versions the bridge speaks: 1.0 (one msgpack frame) and 2.2 (header/payload pairs). */
export type ProtocolVersion = "1.0" | "2.2";

/** Every protocol version this implementation knows. */
export const PROTOCOL_VERSIONS: readonly ProtocolVersion[] = ["1.0", "2.2"];

/** Server socket types (the client uses the matching REQ, SUB or PULL). */
export type ServerSocketType = "REP" | "PUB" | "PUSH";

/** Client socket types. */
export type ClientSocketType = "REQ" | "SUB" | "PULL";

/** The client socket that talks to each server socket type. */
export const CLIENT_SOCKET_FOR: Readonly<Record<ServerSocketType, ClientSocketType>> = {
  REP: "REQ",
  PUB: "SUB",
  PUSH: "PULL",
};

/** A non-array value of a source: what msgpack carries (numbers, strings, bytes, lists, maps). */
export type BridgeValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | MsgExt
  | readonly BridgeValue[]
  | { readonly [key: string]: BridgeValue };

/** The data of one source in one train: key (e.g. "image.data") to value or array. */
export type SourceData = Record<string, BridgeValue | NDArray>;

/** Metadata of one source in one train, as karabo-bridge servers send it. */
export interface SourceMetadata {
  source: string;
  /** Seconds since the epoch, with sub-second fraction. */
  timestamp?: number;
  /** Whole seconds, as decimal text. */
  "timestamp.sec"?: string;
  /** Fraction of the second in attoseconds, as decimal text (18 digits). */
  "timestamp.frac"?: string;
  /** The train ID. */
  "timestamp.tid"?: number | bigint;
  [extra: string]: BridgeValue | undefined;
}

/** One train as the bridge sends it: data and metadata, keyed by source name. */
export interface BridgeTrain {
  data: Record<string, SourceData>;
  metadata: Record<string, SourceMetadata>;
}

/**
 * A train to send whose large arrays may still be in a file (replaying a run): the server streams
 * them from the file as it writes them, or reads them first where it cannot (see BridgeServer.feed).
 */
export interface OutgoingTrain {
  data: Record<string, Record<string, BridgeValue | NDArray | ArrayInFile>>;
  metadata: Record<string, SourceMetadata>;
}

/** Malformed or unexpected bridge messages; `code` says which kind. */
export class BridgeProtocolError extends SaseError {
  override name = "BridgeProtocolError";
  constructor(
    message: string,
    code: "BAD_MESSAGE" | "BAD_VERSION" | "BAD_REQUEST" | "SERVER_ERROR" = "BAD_MESSAGE",
  ) {
    super(code, message);
  }
}

/** No train arrived within the client's timeout. */
export class BridgeTimeoutError extends SaseError {
  override name = "BridgeTimeoutError";
  constructor(message: string) {
    super("TIMEOUT", message);
  }
}

/** Validates a protocol version given by a user or a config file. */
export function parseProtocolVersion(text: string): ProtocolVersion {
  if ((PROTOCOL_VERSIONS as readonly string[]).includes(text)) return text as ProtocolVersion;
  throw new BridgeProtocolError(
    `unknown Karabo bridge protocol version "${text}" (known: ${PROTOCOL_VERSIONS.join(", ")})`,
    "BAD_VERSION",
  );
}

/** The train ID of a train: that of its first source that has one (undefined for an empty train). */
export function trainIdOf(train: BridgeTrain): number | bigint | undefined {
  for (const meta of Object.values(train.metadata)) {
    const tid = meta["timestamp.tid"];
    if (tid !== undefined) return tid;
  }
  return undefined;
}
