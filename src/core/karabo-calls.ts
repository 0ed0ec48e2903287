// sase's slots in Karabo's words. sase calls carry named arguments and get plain replies; Karabo 3's
// middlelayer passes positional Hash arguments (a1..aN) and replies with tuples. These functions translate
// both ways for the slots both sides know (schema, configuration, reconfigure, ping, server slots); any other
// slot passes its named arguments as one Hash (a1) and its reply as a1.

import type { InstanceInfo } from "./broker.ts";
import { type ErrorCode, FRAMEWORK_CODES, isFrameworkError, SaseError, ValidationError } from "./errors.ts";
import { Hash, type HashType, type HashValue } from "./hash.ts";
import { IMAGE_ENCODINGS } from "./karabo-schema.ts";
import { flattenConfiguration, fromPlain, type TypedArg, toPlain } from "./karabo-wire.ts";
import { isNDArray, type NDArray } from "./ndarray.ts";
import { type AnyLeaf, isLeaf, type Schema } from "./schema.ts";
import { valueTypeOf } from "./schema-hash.ts";
import type { Timestamp } from "./timestamp.ts";

/** The Karabo version sase's instances announce: the protocol they speak. */
export const KARABO_PROTOCOL_VERSION = "3.0.13";

// ---- instance info -----------------------------------------------------------------------------------

/** A sase InstanceInfo as Karabo's instanceInfo Hash (WIRE.md "instanceInfo fields"). */
export function infoToKarabo(info: InstanceInfo, user: string): Hash {
  const h = new Hash();
  h.set("type", info.type, "STRING");
  h.set("heartbeatInterval", heartbeatSeconds(info.heartbeatIntervalMs), "INT32");
  h.set("karaboVersion", KARABO_PROTOCOL_VERSION, "STRING");
  if (info.type === "server") {
    h.set("serverId", info.serverId ?? "", "STRING");
    h.set("version", "3.0", "STRING");
    h.set("host", info.host, "STRING");
    h.set("user", user, "STRING");
    h.set("lang", "sase", "STRING");
    h.set("log", "INFO", "STRING");
    h.set("deviceClasses", [...(info.deviceClasses ?? [])], "VECTOR_STRING");
    h.set("serverFlags", 0, "INT32");
  } else {
    if (info.classId !== undefined) h.set("classId", info.classId, "STRING");
    if (info.serverId !== undefined) h.set("serverId", info.serverId, "STRING");
    h.set("host", info.host, "STRING");
    h.set("status", info.status ?? "ok", "STRING");
    h.set("capabilities", 0, "INT32");
    if (info.type === "client") h.set("lang", "sase", "STRING");
  }
  h.set("pid", info.pid, "INT32");
  return h;
}

/** Karabo's heartbeatInterval: whole seconds, at least 1. */
export function heartbeatSeconds(ms: number): number {
  return Math.max(1, Math.round(ms / 1000));
}

/** Karabo's instanceInfo Hash as a sase InstanceInfo (unknown types read as "client"). */
export function infoFromKarabo(h: Hash, instanceId: string): InstanceInfo {
  const str = (k: string) => (h.has(k) && typeof h.get(k) === "string" ? h.get<string>(k) : undefined);
  const t = str("type");
  const type = t === "server" || t === "device" ? t : "client";
  const beat = h.has("heartbeatInterval") ? Number(h.get("heartbeatInterval")) : 120;
  const status = str("status");
  const classes = h.has("deviceClasses") ? h.get("deviceClasses") : undefined;
  const given = str("serverId");
  const serverId =
    given !== undefined && given !== "__none__" ? given : type === "server" ? instanceId : undefined;
  return {
    type,
    ...(str("classId") !== undefined && { classId: str("classId") }),
    ...(serverId !== undefined && { serverId }),
    host: str("host") ?? "",
    pid: h.has("pid") ? Number(h.get("pid")) : 0,
    heartbeatIntervalMs: (Number.isFinite(beat) && beat > 0 ? beat : 120) * 1000,
    ...(status === "ok" || status === "error" || status === "unknown" ? { status } : {}),
    ...(Array.isArray(classes) && { deviceClasses: classes.map(String) }),
  };
}

// ---- values ------------------------------------------------------------------------------------------

/** A property value with the Hash type its sase schema element gives it on Karabo's wire. */
export function karaboValue(leaf: AnyLeaf, value: unknown): { value: HashValue; type: HashType } {
  switch (leaf.kind) {
    case "image":
      return { value: imageToKarabo(value as { pixels: NDArray; encoding: string }), type: "HASH" };
    case "ndarray":
      return { value: value as NDArray, type: "NDARRAY" };
    case "table": {
      const cols = leaf.rowSchema ?? {};
      const rows = (value as Record<string, unknown>[]).map((row) => {
        const h = new Hash();
        for (const [k, v] of Object.entries(row)) {
          const col = cols[k];
          if (col && isLeaf(col)) h.set(k, v as HashValue, valueTypeOf(col));
          else if (v !== undefined) h.set(k, fromPlain(v));
        }
        return h;
      });
      return { value: rows, type: "VECTOR_HASH" };
    }
    default:
      return { value: value as HashValue, type: valueTypeOf(leaf) };
  }
}

/** sase's image ({pixels, encoding}) as Karabo's ImageData node. */
function imageToKarabo(img: { pixels: NDArray; encoding: string }): Hash {
  const h = new Hash();
  h.set("pixels", img.pixels, "NDARRAY");
  const dims = BigUint64Array.from(img.pixels.shape.map(BigInt));
  h.set("dims", dims, "VECTOR_UINT64");
  h.set("encoding", IMAGE_ENCODINGS[img.encoding as keyof typeof IMAGE_ENCODINGS] ?? -1, "INT32");
  h.set("bitsPerPixel", bitsOf(img.pixels), "INT32");
  h.set("roiOffsets", new BigUint64Array(dims.length), "VECTOR_UINT64");
  h.set("binning", new BigUint64Array(dims.length).fill(1n), "VECTOR_UINT64");
  h.set("rotation", 0, "INT32");
  h.set("flipX", false, "BOOL");
  h.set("flipY", false, "BOOL");
  return h;
}

function bitsOf(a: NDArray): number {
  return a.dtype === "bool" ? 1 : 8 * (a.data as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
}

/** A configuration (or a batch of changes) as a Karabo Hash typed by `schema`, stamped sec/frac/tid. */
export function configurationToKarabo(
  schema: Schema,
  values: Readonly<Record<string, unknown>>,
  timestamps: Readonly<Record<string, Timestamp>> = {},
): Hash {
  const h = new Hash();
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const e = schema.entry(key)?.element;
    if (e && isLeaf(e)) {
      const v = karaboValue(e, value);
      h.set(key, v.value, v.type);
    } else h.set(key, fromPlain(value));
    const ts = timestamps[key];
    if (ts) {
      h.setAttribute(key, "sec", BigInt(ts.sec), "UINT64");
      h.setAttribute(key, "frac", ts.frac, "UINT64");
      h.setAttribute(key, "tid", BigInt(ts.trainId), "UINT64");
    }
  }
  return h;
}

/** A Karabo configuration Hash as sase's dotted values, ImageData nodes folded into sase images. */
export function configurationFromKarabo(h: Hash): {
  values: Record<string, unknown>;
  timestamps: Record<string, Timestamp>;
} {
  const flat = flattenConfiguration(h);
  const images = new Set<string>();
  for (const key of Object.keys(flat.values)) {
    if (
      key.endsWith(".pixels") &&
      isNDArray(flat.values[key]) &&
      `${key.slice(0, -7)}.encoding` in flat.values
    )
      images.add(key.slice(0, -7));
  }
  for (const img of images) {
    const code = Number(flat.values[`${img}.encoding`]);
    const encoding = Object.entries(IMAGE_ENCODINGS).find(([, c]) => c === code)?.[0] ?? "GRAY";
    const ts = flat.timestamps[`${img}.pixels`];
    for (const k of Object.keys(flat.values)) {
      if (k.startsWith(`${img}.`)) {
        delete flat.values[k];
        delete flat.timestamps[k];
      }
    }
    flat.values[img] = { pixels: h.get(`${img}.pixels`), encoding };
    if (ts) flat.timestamps[img] = ts;
  }
  return flat;
}

/** Values from Karabo put into the forms sase's schema declares (bigint for 64-bit integers, ...). */
export function valuesForSchema(
  schema: Schema | undefined,
  values: Record<string, unknown>,
): Record<string, unknown> {
  if (!schema) return values;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(values)) {
    const e = schema.entry(key)?.element;
    if (e && isLeaf(e) && (e.kind === "int64" || e.kind === "uint64") && typeof v === "number")
      out[key] = BigInt(v);
    else if (
      e &&
      isLeaf(e) &&
      (e.kind === "int32" || e.kind === "uint32" || e.kind === "double" || e.kind === "float") &&
      typeof v === "bigint"
    )
      out[key] = Number(v);
    else out[key] = v;
  }
  return out;
}

/** A dotted configuration typed for a remote Karabo device by its schema's value types. */
export function reconfigurationHash(
  values: Record<string, unknown>,
  types: ReadonlyMap<string, HashType>,
): Hash {
  const h = new Hash();
  for (const [key, v] of flatEntries(values)) {
    const t = types.get(key);
    if (t === "VECTOR_HASH" && Array.isArray(v)) h.set(key, fromPlain(v), "VECTOR_HASH");
    else if (t) h.set(key, karaboScalar(v, t), t);
    else h.set(key, fromPlain(v));
  }
  return h;
}

function karaboScalar(v: unknown, t: HashType): HashValue {
  if ((t === "INT64" || t === "UINT64") && typeof v === "number") return BigInt(v);
  if ((t === "VECTOR_INT64" || t === "VECTOR_UINT64") && Array.isArray(v)) return v.map((x) => BigInt(x));
  if (typeof v === "bigint" && t !== "INT64" && t !== "UINT64") return Number(v);
  return v as HashValue;
}

function* flatEntries(obj: Record<string, unknown>, prefix = ""): Generator<[string, unknown]> {
  for (const [k, v] of Object.entries(obj)) {
    if (
      v !== null &&
      typeof v === "object" &&
      !Array.isArray(v) &&
      !ArrayBuffer.isView(v) &&
      !isNDArray(v) &&
      !(v instanceof Hash)
    )
      yield* flatEntries(v as Record<string, unknown>, `${prefix}${k}.`);
    else yield [prefix + k, v];
  }
}

// ---- errors ------------------------------------------------------------------------------------------

/** The two strings of a Karabo error reply: message and details (sase puts its error code first there). */
export function errorReply(err: unknown): [string, string] {
  if (isFrameworkError(err)) {
    const details =
      err instanceof ValidationError ? err.errors.map((e) => `${e.code}: ${e.message}`).join("\n") : "";
    return [err.message, `sase:${err.code}\n${details}`];
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return [e.message, `sase:SLOT_FAILED\n${e.stack ?? ""}`];
}

/** A Karabo error reply as a SaseError (code from sase's details line, else REFUSED or UNKNOWN_SLOT). */
export function errorFromReply(target: string, slot: string, params: readonly HashValue[]): SaseError {
  const message = typeof params[0] === "string" ? params[0] : `${target}.${slot} failed`;
  const details = typeof params[1] === "string" ? params[1] : "";
  const tagged = /^sase:([A-Z_]+)/.exec(details)?.[1];
  const code: ErrorCode =
    tagged && FRAMEWORK_CODES.has(tagged as ErrorCode)
      ? (tagged as ErrorCode)
      : message.startsWith("Slot does not exist")
        ? "UNKNOWN_SLOT"
        : "REFUSED";
  const text = tagged ? message : `${target}: ${message}`;
  return new SaseError(code, text, { deviceId: target, key: slot });
}

// ---- replies -----------------------------------------------------------------------------------------

/** A plain slot reply as Karabo's reply arguments (a1 NONE for nothing). */
export function plainReply(result: unknown): TypedArg[] {
  return [result === undefined ? null : fromPlain(result)];
}

/** Karabo reply arguments as one plain value (one argument) or a list (several). */
export function replyValue(params: readonly HashValue[]): unknown {
  if (params.length === 0) return undefined;
  if (params.length === 1) return toPlain(params[0]!);
  return params.map(toPlain);
}
