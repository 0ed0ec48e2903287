// A schema as a Karabo-style Hash: one node per key, the element's metadata as typed node attributes
// (nodeType, valueType, displayedName, accessMode flags, requiredAccessLevel, defaultValue, minInc, ...).
// This is how a schema crosses a binary wire or reaches a Karabo-minded GUI; `schemaFromHash` inverts it.

import { ACCESS_LEVELS, ACCESS_MODE_FLAGS, type AccessMode, accessRank } from "./access.ts";
import { SaseError } from "./errors.ts";
import { Hash, type HashType, type HashValue } from "./hash.ts";
import {
  type AnyLeaf,
  type Element,
  isNode,
  Schema,
  type ScalarKind,
  type SchemaSpec,
  type SlotElement,
} from "./schema.ts";
import { METRIC_PREFIXES, UNITS } from "./units.ts";

/** The Hash type that holds a scalar property of each kind. */
export const SCALAR_TYPES: Readonly<Record<ScalarKind, HashType>> = {
  bool: "BOOL",
  int32: "INT32",
  uint32: "UINT32",
  int64: "INT64",
  uint64: "UINT64",
  float: "FLOAT",
  double: "DOUBLE",
  string: "STRING",
};

/** Karabo node types. */
const NODE_TYPE = { leaf: 0, node: 1 } as const;

/** The HashType a leaf's value has on the wire. */
export function valueTypeOf(e: AnyLeaf): HashType {
  switch (e.kind) {
    case "state":
      return "STRING";
    case "vector":
      return `VECTOR_${SCALAR_TYPES[e.of ?? "double"]}` as HashType;
    case "ndarray":
      return "NDARRAY";
    case "image":
      return "HASH";
    case "table":
      return "VECTOR_HASH";
    default:
      return SCALAR_TYPES[e.kind as ScalarKind];
  }
}

/** The schema as a Hash with Karabo's attribute names. */
export function schemaToHash(schema: Schema): Hash {
  return specToHash(schema.spec);
}

function specToHash(spec: SchemaSpec): Hash {
  const h = new Hash();
  for (const [key, e] of Object.entries(spec)) {
    if (isNode(e)) {
      h.set(key, specToHash(e.children));
      h.setAttribute(key, "nodeType", NODE_TYPE.node, "INT32");
      if (e.dataSchema) h.setAttribute(key, "dataSchema", specToHash(e.dataSchema));
    } else if (e.kind === "slot") {
      const slot = e as SlotElement;
      h.set(key, slot.args ? specToHash(slot.args) : new Hash());
      h.setAttribute(key, "nodeType", NODE_TYPE.node, "INT32");
      h.setAttribute(key, "displayType", "Slot");
      if (slot.allowedStates) h.setAttribute(key, "allowedStates", [...slot.allowedStates], "VECTOR_STRING");
    } else {
      h.set(key, null);
      leafAttributes(h, key, e as AnyLeaf);
    }
    h.setAttribute(key, "kind", e.kind);
    common(h, key, e);
  }
  return h;
}

function common(h: Hash, key: string, e: Element): void {
  if (e.displayedName !== undefined) h.setAttribute(key, "displayedName", e.displayedName);
  if (e.description !== undefined) h.setAttribute(key, "description", e.description);
  if (e.tags) h.setAttribute(key, "tags", [...e.tags], "VECTOR_STRING");
  if (e.requiredAccessLevel)
    h.setAttribute(key, "requiredAccessLevel", accessRank(e.requiredAccessLevel), "INT32");
  const display = (e as { displayType?: string }).displayType;
  if (display !== undefined && e.kind !== "slot") h.setAttribute(key, "displayType", display);
}

function leafAttributes(h: Hash, key: string, e: AnyLeaf): void {
  const type = valueTypeOf(e);
  const scalarType = e.kind === "vector" ? SCALAR_TYPES[e.of ?? "double"] : type;
  const typed = (name: string, v: unknown, t: HashType) => h.setAttribute(key, name, toAttr(v), t);
  h.setAttribute(key, "nodeType", NODE_TYPE.leaf, "INT32");
  h.setAttribute(key, "valueType", type);
  h.setAttribute(key, "accessMode", ACCESS_MODE_FLAGS[e.access ?? "init"], "INT32");
  h.setAttribute(key, "assignment", e.mandatory ? 1 : 0, "INT32");
  if (e.kind === "vector") h.setAttribute(key, "of", e.of ?? "double");
  if (e.kind === "table" && e.rowSchema) h.setAttribute(key, "rowSchema", specToHash(e.rowSchema));
  if (e.default !== undefined && e.kind !== "ndarray" && e.kind !== "image")
    typed("defaultValue", e.default, type);
  for (const [name, attr] of [
    ["min", "minInc"],
    ["max", "maxInc"],
    ["minExc", "minExc"],
    ["maxExc", "maxExc"],
  ] as const) {
    if (e[name] !== undefined) typed(attr, e[name], scalarType);
  }
  if (e.options) typed("options", [...e.options], `VECTOR_${scalarType}` as HashType);
  if (e.minSize !== undefined) h.setAttribute(key, "minSize", e.minSize, "UINT32");
  if (e.maxSize !== undefined) h.setAttribute(key, "maxSize", e.maxSize, "UINT32");
  if (e.allowedStates) h.setAttribute(key, "allowedStates", [...e.allowedStates], "VECTOR_STRING");
  h.setAttribute(key, "archivePolicy", e.archive === "noArchiving" ? "NO_ARCHIVING" : "EVERY_EVENT");
  if (e.unit) {
    h.setAttribute(key, "unitName", UNITS[e.unit].name);
    h.setAttribute(key, "unitSymbol", UNITS[e.unit].symbol);
  }
  if (e.prefix) {
    h.setAttribute(key, "metricPrefixName", METRIC_PREFIXES[e.prefix].name);
    h.setAttribute(key, "metricPrefixSymbol", METRIC_PREFIXES[e.prefix].symbol);
  }
  if (e.dtype) h.setAttribute(key, "dtype", e.dtype);
  if (e.shape) h.setAttribute(key, "shape", [...e.shape], "VECTOR_INT64");
}

function toAttr(v: unknown): HashValue {
  if (Array.isArray(v) && v.length > 0 && v.every((x) => x !== null && typeof x === "object")) {
    return v.map((row) => new Hash(row as Record<string, unknown>));
  }
  return v as HashValue;
}

/** Rebuilds (and checks) a schema from its Hash form. */
export function schemaFromHash(h: Hash): Schema {
  return new Schema(specFromHash(h));
}

function specFromHash(h: Hash, prefix = ""): SchemaSpec {
  const spec: Record<string, Element> = {};
  for (const key of h.keys()) {
    const a = h.getAttributes(key);
    const path = prefix + key;
    const kind = a.kind;
    if (typeof kind !== "string")
      throw new SaseError("BAD_SCHEMA", `schema Hash key '${path}' has no kind attribute`);
    const base: Record<string, unknown> = { kind };
    if (typeof a.displayedName === "string") base.displayedName = a.displayedName;
    if (typeof a.description === "string") base.description = a.description;
    if (a.tags !== undefined) base.tags = plain(a.tags);
    if (typeof a.requiredAccessLevel === "number")
      base.requiredAccessLevel = ACCESS_LEVELS[a.requiredAccessLevel];
    const value = h.get(key);
    if (kind === "node" || kind === "outputChannel" || kind === "inputChannel") {
      base.children = specFromHash(value as Hash, `${path}.`);
      if (a.dataSchema instanceof Hash) base.dataSchema = specFromHash(a.dataSchema);
      if (typeof a.displayType === "string") base.displayType = a.displayType;
    } else if (kind === "slot") {
      if ((value as Hash).size > 0) base.args = specFromHash(value as Hash, `${path}.`);
      if (a.allowedStates !== undefined) base.allowedStates = plain(a.allowedStates);
    } else {
      const mode = Object.entries(ACCESS_MODE_FLAGS).find(([, flag]) => flag === a.accessMode)?.[0];
      base.access = (mode ?? "init") as AccessMode;
      if (a.assignment === 1) base.mandatory = true;
      if (typeof a.of === "string") base.of = a.of;
      if (a.rowSchema instanceof Hash) base.rowSchema = specFromHash(a.rowSchema);
      if (a.defaultValue !== undefined) base.default = plain(a.defaultValue);
      for (const [name, attr] of [
        ["min", "minInc"],
        ["max", "maxInc"],
        ["minExc", "minExc"],
        ["maxExc", "maxExc"],
        ["options", "options"],
        ["minSize", "minSize"],
        ["maxSize", "maxSize"],
        ["allowedStates", "allowedStates"],
        ["dtype", "dtype"],
        ["displayType", "displayType"],
      ] as const) {
        if (a[attr] !== undefined) base[name] = plain(a[attr]);
      }
      if (a.shape !== undefined) base.shape = (plain(a.shape) as unknown[]).map(Number);
      if (a.archivePolicy === "NO_ARCHIVING") base.archive = "noArchiving";
      if (typeof a.unitName === "string")
        base.unit = Object.entries(UNITS).find(([, u]) => u.name === a.unitName)?.[0];
      if (typeof a.metricPrefixName === "string") {
        base.prefix = Object.entries(METRIC_PREFIXES).find(([, p]) => p.name === a.metricPrefixName)?.[0];
      }
    }
    spec[key] = base as unknown as Element;
  }
  return spec;
}

/** Hash values back to the plain forms a schema declaration uses (arrays, row objects). */
function plain(v: HashValue): unknown {
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>);
  if (Array.isArray(v)) return v.map((x) => (x instanceof Hash ? x.toObject() : x));
  return v;
}
