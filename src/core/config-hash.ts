// Device configurations and property changes as Karabo-style Hashes: each value typed from the schema
// (a double that happens to be 0 stays DOUBLE, a uint32 stays UINT32) and stamped with Karabo's
// timestamp attributes sec, frac (attoseconds) and tid (train ID). For DAQ files and binary transports.

import type { PropertyChange } from "./broker.ts";
import { Hash, type HashValue } from "./hash.ts";
import { type AnyLeaf, isLeaf, type Schema } from "./schema.ts";
import { valueTypeOf } from "./schema-hash.ts";
import type { Timestamp } from "./timestamp.ts";

/** Puts one value at `key` with the type its schema element gives it and its timestamp attributes. */
function put(h: Hash, schema: Schema, key: string, value: unknown, ts: Timestamp | undefined): void {
  const e = schema.entry(key)?.element;
  const leaf = e && isLeaf(e) ? (e as AnyLeaf) : undefined;
  if (leaf?.kind === "table") {
    h.set(
      key,
      (value as Record<string, unknown>[]).map((row) => new Hash(row)),
      "VECTOR_HASH",
    );
  } else if (leaf?.kind === "image") {
    h.set(key, new Hash(value as Record<string, unknown>), "HASH");
  } else if (leaf) {
    h.set(key, value as HashValue, valueTypeOf(leaf));
  } else {
    h.set(key, value as HashValue);
  }
  if (ts) {
    h.setAttribute(key, "sec", BigInt(ts.sec), "UINT64");
    h.setAttribute(key, "frac", ts.frac, "UINT64");
    h.setAttribute(key, "tid", BigInt(ts.trainId), "UINT64");
  }
}

/** A configuration (values and timestamps by dotted key) as one Hash typed by `schema`. */
export function configurationToHash(
  schema: Schema,
  values: Readonly<Record<string, unknown>>,
  timestamps: Readonly<Record<string, Timestamp>> = {},
): Hash {
  const h = new Hash();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) put(h, schema, key, value, timestamps[key]);
  }
  return h;
}

/** A batch of property changes of one device as one Hash (Karabo's signalChanged payload). */
export function changesToHash(schema: Schema, changes: readonly PropertyChange[]): Hash {
  const h = new Hash();
  for (const c of changes) put(h, schema, c.key, c.value, c.timestamp);
  return h;
}

/** The timestamp carried by a Hash node's sec/frac/tid attributes, if it has them. */
export function timestampOfNode(h: Hash, key: string): Timestamp | undefined {
  if (!h.hasAttribute(key, "tid")) return undefined;
  return {
    sec: Number(h.getAttribute<bigint>(key, "sec")),
    frac: h.getAttribute<bigint>(key, "frac"),
    trainId: Number(h.getAttribute<bigint>(key, "tid")),
  };
}
