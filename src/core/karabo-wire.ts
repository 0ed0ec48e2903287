// Karabo 3 middlelayer messages on AMQP (WIRE.md): a message body is a binary header Hash followed by a
// binary Hash of positional arguments a1..aN, published without AMQP properties. This module turns
// messages into bytes and back and converts between Karabo's typed values and sase's plain values.

import { SaseError } from "./errors.ts";
import { Hash, type HashType, type HashValue } from "./hash.ts";
import { decodeHashPrefix, encodeHashesToBuffer } from "./hash-binary.ts";
import { isNDArrayValue } from "./hash-types.ts";
import type { Timestamp } from "./timestamp.ts";

/** One decoded message: header fields and positional arguments. */
export interface KaraboMessage {
  readonly header: Hash;
  /** The body Hash (a1..aN with their types and attributes). */
  readonly body: Hash;
  /** The values of a1..aN, in order. */
  readonly args: HashValue[];
}

/** An argument with the type it must travel as (inferred when `type` is omitted). */
export type TypedArg = HashValue | { readonly value: HashValue; readonly type: HashType };

/** The body Hash of positional arguments a1..aN. */
export function argsHash(args: readonly TypedArg[]): Hash {
  const body = new Hash();
  args.forEach((a, i) => {
    if (a !== null && typeof a === "object" && "type" in a && "value" in a && !(a instanceof Hash)) {
      body.set(`a${i + 1}`, a.value, a.type);
    } else body.set(`a${i + 1}`, a as HashValue);
  });
  return body;
}

/** Header fields a sender sets (MQTimestamp and signalInstanceId are always added). */
export interface HeaderFields {
  readonly replyTo?: string;
  readonly replyFrom?: string;
  readonly error?: boolean;
}

/** The bytes of one message, header keys in the order Karabo's MDL writes them. */
export function encodeMessage(senderId: string, fields: HeaderFields, body: Hash): Buffer {
  const header = new Hash();
  if (fields.replyTo !== undefined) header.set("replyTo", fields.replyTo, "STRING");
  if (fields.error !== undefined) header.set("error", fields.error, "BOOL");
  if (fields.replyFrom !== undefined) header.set("replyFrom", fields.replyFrom, "STRING");
  header.set("MQTimestamp", BigInt(Date.now()), "INT64");
  header.set("signalInstanceId", senderId, "STRING");
  return encodeHashesToBuffer([header, body]);
}

/** Decodes a message body; malformed bytes throw (the caller logs and drops the message). */
export function decodeMessage(bytes: Uint8Array): KaraboMessage {
  const { hash: header, length } = decodeHashPrefix(bytes, { maxDepth: 64 });
  const { hash: body, length: rest } = decodeHashPrefix(bytes.subarray(length), { maxDepth: 64 });
  if (length + rest !== bytes.length)
    throw new SaseError("WRONG_TYPE", `${bytes.length - length - rest} bytes after the message's body Hash`);
  const args: HashValue[] = [];
  for (let i = 1; body.has(`a${i}`); i++) args.push(body.get(`a${i}`));
  return { header, body, args };
}

/** A header field as a string, or undefined when absent or of another type. */
export function headerString(header: Hash, key: string): string | undefined {
  return header.has(key) && header.typeOf(key) === "STRING" ? header.get<string>(key) : undefined;
}

/** A Karabo value as sase holds it: Hashes become objects, numeric vectors become arrays. */
export function toPlain(v: HashValue): unknown {
  if (v instanceof Hash) {
    const out: Record<string, unknown> = {};
    for (const key of v.keys()) out[key] = toPlain(v.get(key));
    return out;
  }
  if (Array.isArray(v)) return v.map((x) => (x instanceof Hash ? toPlain(x) : x));
  if (isNDArrayValue(v)) return v;
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>);
  return v;
}

/** A plain value as a Hash value (undefined → NONE, objects → Hash). */
export function fromPlain(v: unknown): HashValue {
  if (v === undefined || v === null) return null;
  if (v instanceof Hash) return v;
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x)))
      return v.map((x) => hashOf(x as Record<string, unknown>));
    return v as HashValue;
  }
  if (typeof v === "object" && !ArrayBuffer.isView(v) && !isNDArrayValue(v))
    return hashOf(v as Record<string, unknown>);
  return v as HashValue;
}

function hashOf(obj: Record<string, unknown>): Hash {
  const h = new Hash();
  for (const [k, x] of Object.entries(obj)) if (x !== undefined) h.set(k, fromPlain(x));
  return h;
}

/** The sec/frac/tid attributes of a node as a timestamp, when present. */
export function timestampAt(h: Hash, key: string): Timestamp | undefined {
  if (!h.hasAttribute(key, "sec")) return undefined;
  const a = h.getAttributes(key);
  return {
    sec: Number(a.sec as bigint | number),
    frac: BigInt((a.frac as bigint | number | undefined) ?? 0),
    trainId: Number((a.tid as bigint | number | undefined) ?? 0),
  };
}

/**
 * A configuration Hash flattened to dotted keys: nested nodes are walked, every other value (vectors of
 * Hashes, NDArrays, scalars) is a property; each keeps its sec/frac/tid timestamp.
 */
export function flattenConfiguration(
  h: Hash,
  prefix = "",
  out: { values: Record<string, unknown>; timestamps: Record<string, Timestamp> } = {
    values: {},
    timestamps: {},
  },
): { values: Record<string, unknown>; timestamps: Record<string, Timestamp> } {
  for (const key of h.keys()) {
    const path = prefix + key;
    const type = h.typeOf(key);
    if (type === "HASH") {
      flattenConfiguration(h.get<Hash>(key), `${path}.`, out);
      continue;
    }
    out.values[path] = toPlain(h.get(key));
    const ts = timestampAt(h, key);
    if (ts) out.timestamps[path] = ts;
  }
  return out;
}
