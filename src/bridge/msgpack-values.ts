// A MessagePack codec tuned for the Karabo bridge: binary values decode as views into the received
// frame (no copy), 64-bit integers come out as numbers while they are exact and as bigints beyond,
// map keys may be binary (msgpack-numpy writes b"nd", b"type", ...), and every malformed input
// raises a MsgpackError that names the byte offset. Encoding caches the bytes of repeated keys,
// because control data repeats the same few thousand key names on every train.
// This module holds the values both sides share; the decoder is msgpack-reader.ts, the encoder
// msgpack-writer.ts, and msgpack.ts is the codec's face to the rest of the bridge.

import { SaseError } from "../core/index.ts";

/** Any value a MessagePack frame can carry, as this codec decodes it. */
export type MsgValue = null | boolean | number | bigint | string | Uint8Array | MsgValue[] | MsgMap | MsgExt;

/** A decoded map (keys are always strings: binary and integer keys are converted). */
export interface MsgMap {
  [key: string]: MsgValue;
}

/** A MessagePack extension value, kept as its type code and raw bytes. */
export class MsgExt {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

/** A map key that must be written as MessagePack binary rather than string (msgpack-numpy). */
export class BinKey {
  constructor(readonly name: string) {}
}

/** Malformed MessagePack input. */
export class MsgpackError extends SaseError {
  override name = "MsgpackError";
  constructor(message: string) {
    super("MSGPACK_MALFORMED", message);
  }
}

/** Deepest nesting of arrays and maps either way (malformed or hostile input stops here). */
export const MAX_DEPTH = 64;
