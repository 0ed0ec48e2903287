// Schemas as Karabo 3's middlelayer sends them (slotGetSchema's SCHEMA value): sase → Karabo so that
// Karabo's ProxyFactory builds a working proxy of a sase device (nodeType, valueType, accessMode,
// requiredAccessLevel 0..2, classId "Slot"/"State"/"NDArray", rowSchema as a SCHEMA), and Karabo → sase
// so that sase's client, CLI and GUI show Karabo devices. What sase cannot represent is dropped from the
// sase schema and named in `unsupported` with the reason.

import type { AccessLevel } from "./access.ts";
import { SaseError } from "./errors.ts";
import { Hash, type HashType, type HashValue } from "./hash.ts";
import { SCALAR_OF_DTYPE } from "./hash-types.ts";
import { HASH_TYPE_CODES } from "./hash-wire.ts";
import type { DType } from "./ndarray.ts";
import {
  type AnyLeaf,
  type Element,
  isLeaf,
  isNode,
  type ScalarKind,
  Schema,
  type SchemaSpec,
  type SlotElement,
} from "./schema.ts";
import { SCALAR_TYPES, valueTypeOf } from "./schema-hash.ts";
import { METRIC_PREFIXES, UNITS } from "./units.ts";

const LEAF = 0;
const NODE = 1;
const ACCESS_FLAGS = { init: 1, readOnly: 2, reconfigurable: 4 } as const;
/** Karabo 3 knows three levels (OBSERVER 0, OPERATOR 1, EXPERT 2); sase's five fold onto them. */
const KARABO_LEVEL: Readonly<Record<AccessLevel, number>> = {
  observer: 0,
  user: 0,
  operator: 1,
  expert: 2,
  admin: 2,
};
const SASE_LEVEL: readonly AccessLevel[] = ["observer", "operator", "expert"];
/** Karabo's image encodings (native/data/enums.py Encoding) that sase's ImageData names. */
export const IMAGE_ENCODINGS = { GRAY: 0, RGB: 1, RGBA: 2, BGR: 3, BAYER: 5, YUV: 9 } as const;

/** The Karabo schema (the Hash inside the SCHEMA value) of a sase schema. */
export function schemaToKarabo(schema: Schema): Hash {
  return specToKarabo(schema.spec);
}

/** A SCHEMA value: one root key named after the class, holding the schema Hash. */
export function schemaValue(name: string, h: Hash): Hash {
  return new Hash().set(name, h, "HASH");
}

function specToKarabo(spec: SchemaSpec): Hash {
  const h = new Hash();
  for (const [key, e] of Object.entries(spec)) {
    if (e.kind === "slot") {
      const slot = e as SlotElement;
      // Karabo's slots take no arguments and its proxies ignore a slot node's children: sase keeps its
      // slot arguments there, so a sase client sees them.
      h.set(key, slot.args ? specToKarabo(slot.args) : new Hash());
      attrs(h, key, e, NODE, 4);
      h.setAttribute(key, "displayType", "Slot");
      h.setAttribute(key, "classId", "Slot");
      if (slot.allowedStates) h.setAttribute(key, "allowedStates", [...slot.allowedStates], "VECTOR_STRING");
    } else if (isNode(e)) {
      h.set(key, specToKarabo(e.children));
      attrs(h, key, e, NODE, 4);
      if (e.displayType) h.setAttribute(key, "displayType", e.displayType);
    } else if (isLeaf(e) && e.kind === "ndarray") {
      h.set(key, ndarrayNode(e.dtype, e.shape));
      attrs(h, key, e, NODE, ACCESS_FLAGS.readOnly);
      ndarrayAttributes(h, key);
    } else if (isLeaf(e) && e.kind === "image") {
      h.set(key, imageNode());
      attrs(h, key, e, NODE, ACCESS_FLAGS.readOnly);
      h.setAttribute(key, "classId", "ImageData");
      h.setAttribute(key, "displayType", "ImageData");
    } else {
      leaf(h, key, e as AnyLeaf);
    }
  }
  return h;
}

function attrs(h: Hash, key: string, e: Element, nodeType: number, accessMode: number): void {
  h.setAttribute(key, "nodeType", nodeType, "INT32");
  h.setAttribute(key, "accessMode", accessMode, "INT32");
  h.setAttribute(key, "assignment", isLeaf(e) && e.mandatory ? 1 : 0, "INT32");
  const level = e.requiredAccessLevel ?? (accessMode === ACCESS_FLAGS.readOnly ? "observer" : "operator");
  h.setAttribute(key, "requiredAccessLevel", KARABO_LEVEL[level], "INT32");
  if (e.displayedName !== undefined) h.setAttribute(key, "displayedName", e.displayedName);
  if (e.description !== undefined) h.setAttribute(key, "description", e.description);
  if (e.tags) h.setAttribute(key, "tags", [...e.tags], "VECTOR_STRING");
}

function leaf(h: Hash, key: string, e: AnyLeaf): void {
  const type = valueTypeOf(e);
  const scalar = e.kind === "vector" ? SCALAR_TYPES[e.of ?? "double"] : type;
  h.set(key, null);
  attrs(h, key, e, LEAF, ACCESS_FLAGS[e.access ?? "init"]);
  h.setAttribute(key, "valueType", type);
  if (e.kind === "state") {
    h.setAttribute(key, "classId", "State");
    h.setAttribute(key, "displayType", "State");
  } else if (e.kind === "table") {
    h.setAttribute(key, "displayType", "Table");
    h.setAttribute(key, "rowSchema", schemaValue("TableRow", specToKarabo(e.rowSchema ?? {})), "SCHEMA");
  } else if (e.displayType !== undefined) h.setAttribute(key, "displayType", e.displayType);
  const typed = (name: string, v: unknown, t: HashType) => {
    const value =
      Array.isArray(v) && v.every((x) => x !== null && typeof x === "object")
        ? v.map((row) => new Hash(row as Record<string, unknown>))
        : (v as HashValue);
    h.setAttribute(key, name, value, t);
  };
  if (e.default !== undefined) typed("defaultValue", e.default, type);
  for (const [name, attr] of [
    ["min", "minInc"],
    ["max", "maxInc"],
    ["minExc", "minExc"],
    ["maxExc", "maxExc"],
  ] as const) {
    if (e[name] !== undefined) typed(attr, e[name], scalar);
  }
  if (e.options) typed("options", [...e.options], `VECTOR_${scalar}` as HashType);
  if (e.minSize !== undefined) h.setAttribute(key, "minSize", e.minSize, "UINT32");
  if (e.maxSize !== undefined) h.setAttribute(key, "maxSize", e.maxSize, "UINT32");
  if (e.allowedStates) h.setAttribute(key, "allowedStates", [...e.allowedStates], "VECTOR_STRING");
  h.setAttribute(key, "archivePolicy", e.archive === "noArchiving" ? 1 : 0, "INT32");
  h.setAttribute(key, "unitSymbol", e.unit ? UNITS[e.unit].symbol : "");
  h.setAttribute(key, "metricPrefixSymbol", e.prefix ? METRIC_PREFIXES[e.prefix].symbol : "");
}

/** Karabo's NDArray node: raw bytes, shape, element type code, byte order. */
function ndarrayNode(dtype: DType | undefined, shape: readonly number[] | undefined): Hash {
  const h = new Hash();
  const child = (key: string, type: HashType, def?: HashValue) => {
    h.set(key, null);
    h.setAttribute(key, "nodeType", LEAF, "INT32");
    h.setAttribute(key, "accessMode", ACCESS_FLAGS.readOnly, "INT32");
    h.setAttribute(key, "assignment", 0, "INT32");
    h.setAttribute(key, "requiredAccessLevel", 0, "INT32");
    h.setAttribute(key, "valueType", type);
    if (def !== undefined) h.setAttribute(key, "defaultValue", def, type);
  };
  child("data", "BYTE_ARRAY");
  child("shape", "VECTOR_UINT64", shape ? shape.map(BigInt) : undefined);
  child("type", "INT32", dtype ? HASH_TYPE_CODES[SCALAR_OF_DTYPE[dtype]] : undefined);
  child("isBigEndian", "BOOL", false);
  return h;
}

function ndarrayAttributes(h: Hash, key: string): void {
  h.setAttribute(key, "valueType", "NDARRAY");
  h.setAttribute(key, "classId", "NDArray");
  h.setAttribute(key, "displayType", "NDArray");
}

/** Karabo's ImageData node (native/schema/image_data.py ImageNode). */
function imageNode(): Hash {
  const h = new Hash();
  h.set("pixels", ndarrayNode(undefined, undefined));
  h.setAttribute("pixels", "nodeType", NODE, "INT32");
  h.setAttribute("pixels", "accessMode", ACCESS_FLAGS.readOnly, "INT32");
  ndarrayAttributes(h, "pixels");
  const child = (key: string, type: HashType) => {
    h.set(key, null);
    h.setAttribute(key, "nodeType", LEAF, "INT32");
    h.setAttribute(key, "accessMode", ACCESS_FLAGS.readOnly, "INT32");
    h.setAttribute(key, "requiredAccessLevel", 0, "INT32");
    h.setAttribute(key, "valueType", type);
  };
  for (const [key, type] of [
    ["dims", "VECTOR_UINT64"],
    ["encoding", "INT32"],
    ["bitsPerPixel", "INT32"],
    ["roiOffsets", "VECTOR_UINT64"],
    ["binning", "VECTOR_UINT64"],
    ["rotation", "INT32"],
    ["flipX", "BOOL"],
    ["flipY", "BOOL"],
  ] as const)
    child(key, type);
  return h;
}

// ---- Karabo → sase ------------------------------------------------------------------------------------

/** A Karabo schema seen by sase: what it could represent, and what it could not (key: reason). */
export interface ImportedSchema {
  readonly schema: Schema;
  readonly unsupported: Readonly<Record<string, string>>;
}

const KIND_OF_TYPE: Readonly<Partial<Record<string, ScalarKind>>> = {
  BOOL: "bool",
  INT8: "int32",
  UINT8: "int32",
  INT16: "int32",
  UINT16: "int32",
  INT32: "int32",
  UINT32: "uint32",
  INT64: "int64",
  UINT64: "uint64",
  FLOAT: "float",
  DOUBLE: "double",
  STRING: "string",
};

/** Builds a sase schema from a Karabo schema Hash; keys sase cannot show are listed, not fatal. */
export function schemaFromKarabo(h: Hash): ImportedSchema {
  const unsupported: Record<string, string> = {};
  let spec = specFromKarabo(h, "", unsupported);
  // A Karabo schema may break a sase rule (a default outside its range...): drop that key, keep the rest.
  for (let tries = 0; tries < 50; tries++) {
    try {
      return { schema: new Schema(spec), unsupported };
    } catch (err) {
      const key = err instanceof SaseError ? err.details.key : undefined;
      if (!key) throw err;
      unsupported[key] = (err as Error).message;
      spec = without(spec, key.split("."));
    }
  }
  throw new SaseError("BAD_SCHEMA", "the Karabo schema has too many keys sase cannot represent");
}

function without(spec: SchemaSpec, path: string[]): SchemaSpec {
  const [head, ...rest] = path;
  const out: Record<string, Element> = {};
  for (const [k, e] of Object.entries(spec)) {
    if (k !== head) out[k] = e;
    else if (rest.length > 0 && isNode(e)) out[k] = { ...e, children: without(e.children, rest) };
  }
  return out;
}

function specFromKarabo(h: Hash, prefix: string, unsupported: Record<string, string>): SchemaSpec {
  const spec: Record<string, Element> = {};
  for (const key of h.keys()) {
    const a = h.getAttributes(key);
    const path = prefix + key;
    const common: Record<string, unknown> = {};
    if (typeof a.displayedName === "string") common.displayedName = a.displayedName;
    if (typeof a.description === "string") common.description = a.description;
    if (Array.isArray(a.tags)) common.tags = a.tags;
    if (typeof a.requiredAccessLevel === "number")
      common.requiredAccessLevel = SASE_LEVEL[Math.max(0, Math.min(2, a.requiredAccessLevel))];
    const classId = a.classId;
    if (a.nodeType === NODE) {
      if (classId === "Slot") {
        const slot: Record<string, unknown> = { ...common, kind: "slot" };
        if (Array.isArray(a.allowedStates)) slot.allowedStates = a.allowedStates;
        const args = h.get(key);
        if (args instanceof Hash && args.size > 0) slot.args = specFromKarabo(args, `${path}.`, unsupported);
        spec[key] = slot as unknown as Element;
      } else if (classId === "NDArray") {
        spec[key] = { ...common, kind: "ndarray", access: "readOnly" } as unknown as Element;
      } else if (classId === "ImageData") {
        spec[key] = { ...common, kind: "image", access: "readOnly" } as unknown as Element;
      } else {
        const kind =
          a.displayType === "OutputChannel"
            ? "outputChannel"
            : a.displayType === "InputChannel"
              ? "inputChannel"
              : "node";
        const children = specFromKarabo(h.get<Hash>(key), `${path}.`, unsupported);
        spec[key] = { ...common, kind, children } as unknown as Element;
      }
      continue;
    }
    if (a.nodeType !== LEAF) {
      unsupported[path] = `Karabo node type ${String(a.nodeType)} has no sase equivalent`;
      continue;
    }
    const element = leafFromKarabo(path, a, common, unsupported);
    if (element) spec[key] = element;
  }
  return spec;
}

function leafFromKarabo(
  path: string,
  a: Record<string, HashValue>,
  common: Record<string, unknown>,
  unsupported: Record<string, string>,
): Element | undefined {
  const valueType = String(a.valueType);
  const e: Record<string, unknown> = { ...common };
  const mode = Object.entries(ACCESS_FLAGS).find(([, flag]) => flag === a.accessMode)?.[0];
  e.access = mode ?? "readOnly";
  if (a.assignment === 1 && e.access !== "readOnly") e.mandatory = true;
  if (Array.isArray(a.allowedStates)) e.allowedStates = a.allowedStates;
  if (typeof a.displayType === "string") e.displayType = a.displayType;
  if (a.archivePolicy === 1) e.archive = "noArchiving";
  const unit = Object.entries(UNITS).find(([, u]) => u.symbol === a.unitSymbol && u.symbol !== "");
  if (unit) e.unit = unit[0];
  const prefix = Object.entries(METRIC_PREFIXES).find(
    ([, p]) => p.symbol === a.metricPrefixSymbol && p.symbol !== "",
  );
  if (prefix && unit) e.prefix = prefix[0];
  const scalar = KIND_OF_TYPE[valueType];
  if (scalar) {
    e.kind = a.classId === "State" ? "state" : scalar;
    if (e.kind === "state") e.access = "readOnly";
    copyNumeric(e, a, scalar);
    if (e.kind === "state") delete e.options;
    return e as unknown as Element;
  }
  if (valueType === "VECTOR_HASH") {
    const row = a.rowSchema;
    const inner = row instanceof Hash && row.size === 1 ? row.get(row.keys()[0]!) : undefined;
    if (!(inner instanceof Hash)) {
      unsupported[path] = "a vector of Hashes without a rowSchema (only tables are shown)";
      return undefined;
    }
    e.kind = "table";
    e.rowSchema = withDefaults(specFromKarabo(inner, `${path}.`, unsupported));
    if (Array.isArray(a.defaultValue)) e.default = a.defaultValue.map((r) => plainRow(r as Hash));
    return e as unknown as Element;
  }
  if (valueType.startsWith("VECTOR_")) {
    const of = KIND_OF_TYPE[valueType.slice(7)] ?? (valueType === "VECTOR_CHAR" ? "int32" : undefined);
    if (!of) {
      unsupported[path] = `value type ${valueType} has no sase equivalent`;
      return undefined;
    }
    e.kind = "vector";
    e.of = of;
    if (a.defaultValue !== undefined) e.default = plainList(a.defaultValue, of);
    if (typeof a.minSize === "number") e.minSize = a.minSize;
    if (typeof a.maxSize === "number") e.maxSize = a.maxSize;
    return e as unknown as Element;
  }
  unsupported[path] = `value type ${valueType} has no sase equivalent`;
  return undefined;
}

/** sase tables need a default per column; Karabo's may lack one: the type's zero stands in. */
function withDefaults(spec: SchemaSpec): SchemaSpec {
  const zero: Record<string, unknown> = { bool: false, string: "", int64: 0n, uint64: 0n, vector: [] };
  const out: Record<string, Element> = {};
  for (const [k, e] of Object.entries(spec)) {
    out[k] = isLeaf(e) && e.default === undefined ? ({ ...e, default: zero[e.kind] ?? 0 } as Element) : e;
  }
  return out;
}

function copyNumeric(e: Record<string, unknown>, a: Record<string, HashValue>, kind: ScalarKind): void {
  const conv = (v: HashValue) => scalarOf(v, kind);
  if (a.defaultValue !== undefined && a.defaultValue !== null) e.default = conv(a.defaultValue);
  for (const [attr, name] of [
    ["minInc", "min"],
    ["maxInc", "max"],
    ["minExc", "minExc"],
    ["maxExc", "maxExc"],
  ] as const) {
    if (a[attr] !== undefined) e[name] = conv(a[attr]);
  }
  if (a.options !== undefined) e.options = plainList(a.options, kind);
}

function scalarOf(v: HashValue, kind: ScalarKind): unknown {
  if (kind === "int64" || kind === "uint64") return typeof v === "bigint" ? v : BigInt(v as number);
  if (kind === "string") return String(v);
  if (kind === "bool") return Boolean(v);
  return typeof v === "bigint" ? Number(v) : v;
}

function plainList(v: HashValue, kind: ScalarKind): unknown[] {
  const list = ArrayBuffer.isView(v)
    ? Array.from(v as unknown as ArrayLike<number | bigint>)
    : Array.isArray(v)
      ? v
      : [v];
  return list.map((x) => scalarOf(x as HashValue, kind));
}

function plainRow(row: Hash): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of row.keys()) {
    const v = row.get(k);
    out[k] = ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v;
  }
  return out;
}

/** The Hash type each property of a Karabo schema travels as, by dotted key (for typing reconfigures). */
export function karaboValueTypes(
  h: Hash,
  prefix = "",
  out = new Map<string, HashType>(),
): Map<string, HashType> {
  for (const key of h.keys()) {
    const a = h.getAttributes(key);
    if (a.nodeType === NODE) {
      if (a.classId !== "Slot" && h.typeOf(key) === "HASH")
        karaboValueTypes(h.get<Hash>(key), `${prefix}${key}.`, out);
    } else if (typeof a.valueType === "string" && a.valueType in HASH_TYPE_CODES) {
      out.set(prefix + key, a.valueType as HashType);
    }
  }
  return out;
}
