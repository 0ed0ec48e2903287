// Hash: Karabo's universal container. An ordered tree of key -> typed value, where every node also carries
// an ordered map of typed attributes. Each node keeps its Karabo type so a Hash round-trips exactly through
// the binary encoding (hash-binary.ts) and through other Karabo installations.

import { HashKeyError, HashTypeError } from "./hash-errors.ts";
import { type HashType, isNDArrayValue, NUMERIC_SCALARS, TYPED_VECTORS } from "./hash-types.ts";
import {
  attrsEqual,
  cloneValue as cloneAny,
  coerce as coerceAny,
  HASH_BRAND,
  inferType,
  valuesEqual,
} from "./hash-values.ts";
import type { NDArray, TypedArray } from "./ndarray.ts";

export type { HashType } from "./hash-types.ts";
export { HashError, HashKeyError, HashRangeError, HashTypeError } from "./hash-errors.ts";
export { inferType } from "./hash-values.ts";

/**
 * Every value a Hash node or attribute may hold. One JS representation per HashType: INT64/UINT64 are
 * always bigint, numeric vectors are typed arrays, VECTOR_BOOL is boolean[], CHAR a one-character string.
 */
export type HashValue =
  | boolean
  | number
  | bigint
  | string
  | null
  | Hash
  | Hash[]
  | boolean[]
  | number[]
  | bigint[]
  | string[]
  | TypedArray
  | NDArray;

/** A typed attribute of a node. */
export interface HashAttribute {
  readonly value: HashValue;
  readonly type: HashType;
}

/** One node as stored: what encoders and printers walk. */
export interface HashNode {
  readonly key: string;
  readonly value: HashValue;
  readonly type: HashType;
  readonly attributes: ReadonlyMap<string, HashAttribute>;
}

/** A node as stored inside a Hash (attrs null when it has none). */
export interface RawHashNode {
  readonly value: HashValue;
  readonly type: HashType;
  readonly attrs: ReadonlyMap<string, HashAttribute> | null;
}

interface Node {
  value: HashValue;
  type: HashType;
  attrs: Map<string, HashAttribute> | null;
}

const EMPTY_ATTRS: ReadonlyMap<string, HashAttribute> = new Map();

/** Converts a value to a type (the value rules, typed for Hash values: a Hash in, a Hash out). */
export const coerce = coerceAny as (value: HashValue, type: HashType, path?: string) => HashValue;
const cloneValue = cloneAny as (v: HashValue) => HashValue;

/** Symbol of the unchecked factory decoders use: their node values are typed by construction. */
export const HASH_FROM_RAW: unique symbol = Symbol("sase.Hash.fromRaw");
/** Symbol of the read-only view of a Hash's own node map, for encoders on the hot path. */
export const HASH_RAW_NODES: unique symbol = Symbol("sase.Hash.rawNodes");

/** Ordered nested key/value container with typed values and per-node attributes (Karabo's Hash). */
export class Hash implements Iterable<[string, HashValue]> {
  #nodes = new Map<string, Node>();

  /** Brand read by isHash(); lives on the prototype, so it costs nothing per instance. */
  get [HASH_BRAND](): true {
    return true;
  }

  /** A Hash from a plain object; nested plain objects become Hashes, dotted keys become paths. */
  constructor(init?: Record<string, unknown>) {
    if (init !== undefined) {
      for (const key of Object.keys(init)) this.set(key, toHashValue(init[key], key));
    }
  }

  /** A Hash from a plain object (same as `new Hash(obj)`). */
  static from(obj: Record<string, unknown>): Hash {
    return new Hash(obj);
  }

  /**
   * Sets the value at a dotted path ("a.b.c", "a.v[1].c"), creating intermediate Hash nodes. With `type`
   * the value is validated and converted to that type; without it, re-setting a number keeps the key's
   * numeric type, otherwise the type is inferred. Attributes of an existing node are kept.
   */
  set(path: string, value: HashValue, type?: HashType): this {
    const v0 = toHashValue(value, path);
    // Validate before creating intermediate nodes, so a rejected value leaves the Hash untouched.
    let where: Walked | undefined;
    try {
      where = this.#walk(path, false);
    } catch (e) {
      if (!(e instanceof HashKeyError)) throw e;
    }
    if (where?.index !== undefined || (where === undefined && parsePath(path).at(-1)!.index !== undefined)) {
      if (!(v0 instanceof Hash))
        throw new HashTypeError(path, `"${path}" is a vector<Hash> element: needs a Hash`);
      this.#refuseCycle(path, v0);
      where ??= this.#walk(path, true);
      setVectorElement(where.parent, where.key, where.index!, v0, path);
      return this;
    }
    const old = where ? where.parent.#nodes.get(where.key) : undefined;
    const t = type ?? keptType(old, v0) ?? inferType(v0, path);
    const v = coerce(v0, t, path);
    if (t === "HASH" || t === "VECTOR_HASH" || t === "SCHEMA") this.#refuseCycle(path, v);
    where ??= this.#walk(path, true);
    const node = where.parent.#nodes.get(where.key);
    if (node) {
      node.value = v;
      node.type = t;
    } else where.parent.#nodes.set(where.key, { value: v, type: t, attrs: null });
    return this;
  }

  /** The value at `path`; throws HashKeyError naming the path if it is missing. */
  get<T extends HashValue = HashValue>(path: string): T {
    return this.#lookup(path).value as T;
  }

  /** The value at `path`, or `fallback` when it is missing. */
  getOr<T extends HashValue>(path: string, fallback: T): T {
    const found = this.#find(path);
    return found ? (found.value as T) : fallback;
  }

  /** True when `path` exists. */
  has(path: string): boolean {
    return this.#find(path) !== undefined;
  }

  /** Removes the node at `path` (or one vector<Hash> element); false when there was none. */
  erase(path: string): boolean {
    let where: Walked;
    try {
      where = this.#walk(path, false);
    } catch (e) {
      if (e instanceof HashKeyError) return false;
      throw e;
    }
    const { parent, key, index } = where;
    if (index === undefined) return parent.#nodes.delete(key);
    const node = parent.#nodes.get(key);
    if (node?.type !== "VECTOR_HASH") return false;
    const list = node.value as Hash[];
    if (index >= list.length) return false;
    list.splice(index, 1);
    return true;
  }

  /** Top-level keys in insertion order. */
  keys(): string[] {
    return [...this.#nodes.keys()];
  }

  /** All leaf paths, dotted, in order (an empty nested Hash counts as a leaf). */
  paths(): string[] {
    const out: string[] = [];
    for (const [key, node] of this.#nodes) {
      if (node.type === "HASH" && (node.value as Hash).size > 0) {
        for (const p of (node.value as Hash).paths()) out.push(`${key}.${p}`);
      } else out.push(key);
    }
    return out;
  }

  /** Number of top-level keys. */
  get size(): number {
    return this.#nodes.size;
  }

  /** The Karabo type of the node at `path`. */
  typeOf(path: string): HashType {
    return this.#lookup(path).type;
  }

  /** The attributes of the node at `path` as a plain object (a copy). */
  getAttributes(path: string): Record<string, HashValue> {
    const attrs = this.#node(path).attrs;
    return Object.fromEntries(attrs ? [...attrs].map(([k, a]) => [k, a.value]) : []);
  }

  /** One attribute of the node at `path`; throws HashKeyError naming path and attribute if missing. */
  getAttribute<T extends HashValue = HashValue>(path: string, name: string): T {
    const a = this.#node(path).attrs?.get(name);
    if (!a) throw new HashKeyError(path, `no attribute "${name}" on "${path}"`);
    return a.value as T;
  }

  /** True when the node at `path` exists and has attribute `name`. */
  hasAttribute(path: string, name: string): boolean {
    return this.has(path) && (this.#node(path).attrs?.has(name) ?? false);
  }

  /** The Karabo type of one attribute. */
  attributeType(path: string, name: string): HashType {
    const a = this.#node(path).attrs?.get(name);
    if (!a) throw new HashKeyError(path, `no attribute "${name}" on "${path}"`);
    return a.type;
  }

  /** Sets one attribute of the existing node at `path` (type inferred unless given, kept on re-set). */
  setAttribute(path: string, name: string, value: HashValue, type?: HashType): this {
    const node = this.#node(path);
    const where = `${path}@${name}`;
    const old = node.attrs?.get(name);
    const v0 = toHashValue(value, where);
    const t = type ?? keptType(old, v0) ?? inferType(v0, where);
    if (t === "NDARRAY") {
      // Karabo marks an NDArray by an attribute of its node; an attribute has none, so it could not round-trip.
      throw new HashTypeError(where, `"${where}": an NDArray cannot be an attribute (store it as a node)`);
    }
    const v = coerce(v0, t, where);
    if (!node.attrs) node.attrs = new Map();
    if (t === "HASH" || t === "VECTOR_HASH" || t === "SCHEMA") this.#refuseCycle(path, v, where);
    node.attrs.set(name, { value: v, type: t });
    return this;
  }

  /** Removes one attribute; false when it was not there. */
  eraseAttribute(path: string, name: string): boolean {
    return this.#node(path).attrs?.delete(name) ?? false;
  }

  /** The stored nodes of this level, in order, with types and attributes (for encoders and printers). */
  *nodes(): IterableIterator<HashNode> {
    for (const [key, n] of this.#nodes) {
      yield { key, value: n.value, type: n.type, attributes: n.attrs ?? EMPTY_ATTRS };
    }
  }

  /** Top-level [key, value] pairs in order. */
  *[Symbol.iterator](): IterableIterator<[string, HashValue]> {
    for (const [key, n] of this.#nodes) yield [key, n.value];
  }

  /**
   * Karabo merge: nested Hashes merge recursively; any other value (a leaf, an NDArray, a vector<Hash>
   * table) and its type are replaced by other's. Attributes are merged (other's win) or, with
   * `attributes: "replace"`, replaced. Hash structure is copied; leaf arrays are shared, not copied.
   */
  merge(other: Hash, options: { attributes?: "merge" | "replace" } = {}): this {
    const replaceAttrs = options.attributes === "replace";
    for (const [key, theirs] of other.#nodes) {
      const mine = this.#nodes.get(key);
      if (!mine) {
        this.#nodes.set(key, {
          value: copyStructure(theirs),
          type: theirs.type,
          attrs: theirs.attrs ? new Map(theirs.attrs) : null,
        });
        continue;
      }
      if (mine.type === "HASH" && theirs.type === "HASH")
        (mine.value as Hash).merge(theirs.value as Hash, options);
      else {
        mine.value = copyStructure(theirs);
        mine.type = theirs.type;
      }
      if (replaceAttrs) mine.attrs = theirs.attrs ? new Map(theirs.attrs) : null;
      else if (theirs.attrs) {
        if (!mine.attrs) mine.attrs = new Map();
        for (const [name, a] of theirs.attrs) mine.attrs.set(name, a);
      }
    }
    return this;
  }

  /**
   * Full equality: same keys in the same order, same types, equal values (typed arrays by content, floats
   * bit-exact so NaN equals NaN) and equal attributes (in any order).
   */
  equals(other: Hash): boolean {
    if (this === other) return true;
    if (this.#nodes.size !== other.#nodes.size) return false;
    const theirs = other.#nodes.entries();
    for (const [key, a] of this.#nodes) {
      const [k, b] = theirs.next().value as [string, Node];
      if (k !== key || a.type !== b.type || !valuesEqual(a.value, b.value)) return false;
      if (!attrsEqual(a.attrs, b.attrs)) return false;
    }
    return true;
  }

  /** A deep copy: nested Hashes, arrays and typed arrays are copied too. */
  clone(): Hash {
    const h = new Hash();
    for (const [key, n] of this.#nodes) {
      let attrs: Map<string, HashAttribute> | null = null;
      if (n.attrs) {
        attrs = new Map();
        for (const [name, a] of n.attrs) attrs.set(name, { value: cloneValue(a.value), type: a.type });
      }
      h.#nodes.set(key, { value: cloneValue(n.value), type: n.type, attrs });
    }
    return h;
  }

  /** Plain JS: nested Hashes become objects, vector<Hash> arrays of objects; attributes are dropped. */
  toObject(): Record<string, unknown> {
    return Object.fromEntries([...this.#nodes].map(([k, n]) => [k, toPlain(n.value)]));
  }

  /** Text for debugging: one node per line with its type. */
  toString(): string {
    return describe(this, "");
  }

  /** Encoders only: this level's nodes as stored, without per-node copies. */
  [HASH_RAW_NODES](): ReadonlyMap<string, RawHashNode> {
    return this.#nodes;
  }

  /** Decoders only: a Hash adopting `nodes`, whose values already have their types' representation. */
  static [HASH_FROM_RAW](nodes: Map<string, RawHashNode>): Hash {
    const h = new Hash();
    h.#nodes = nodes as Map<string, Node>;
    return h;
  }

  /**
   * Refuses a Hash value that already contains one of the Hashes on the way from here to `path`: storing
   * it would make the tree a cycle, which no encoder, comparison or copy could finish.
   */
  #refuseCycle(path: string, value: HashValue, where = path): void {
    const chain = new Set<Hash>([this]);
    let h: Hash = this;
    for (const { key, index } of parsePath(path).slice(0, -1)) {
      const node = h.#nodes.get(key);
      const next = index === undefined ? node?.value : (node?.value as Hash[] | undefined)?.[index];
      if (!(next instanceof Hash)) break;
      chain.add(next);
      h = next;
    }
    const stack: HashValue[] = [value];
    const seen = new Set<Hash>();
    while (stack.length > 0) {
      const v = stack.pop()!;
      if (Array.isArray(v)) {
        for (const x of v) if (x instanceof Hash) stack.push(x);
        continue;
      }
      if (!(v instanceof Hash) || seen.has(v)) continue;
      if (chain.has(v)) throw new HashTypeError(where, `"${where}": the value contains this Hash (a cycle)`);
      seen.add(v);
      for (const n of v.#nodes.values()) {
        if (n.type === "HASH" || n.type === "VECTOR_HASH" || n.type === "SCHEMA") stack.push(n.value);
        if (n.attrs) for (const a of n.attrs.values()) stack.push(a.value);
      }
    }
  }

  #node(path: string): Node {
    const { parent, key, index } = this.#walk(path, false);
    const node = parent.#nodes.get(key);
    if (!node) throw new HashKeyError(path);
    if (index !== undefined)
      throw new HashKeyError(path, `"${path}" is a vector<Hash> element and has no attributes`);
    return node;
  }

  /** The node (or vector<Hash> element) at `path`, or undefined: no exceptions on the has()/getOr() path. */
  #find(path: string): { value: HashValue; type: HashType } | undefined {
    let segments: Segment[];
    try {
      segments = parsePath(path);
    } catch {
      return undefined;
    }
    let h: Hash = this;
    let found: { value: HashValue; type: HashType } | undefined;
    for (let i = 0; i < segments.length; i++) {
      const { key, index } = segments[i]!;
      const node = h.#nodes.get(key);
      if (!node) return undefined;
      found = node;
      if (index !== undefined) {
        if (node.type !== "VECTOR_HASH") return undefined;
        const el = (node.value as Hash[])[index];
        if (!el) return undefined;
        found = { value: el, type: "HASH" };
      }
      if (i < segments.length - 1) {
        if (found.type !== "HASH") return undefined;
        h = found.value as Hash;
      }
    }
    return found;
  }

  #lookup(path: string): { value: HashValue; type: HashType } {
    const { parent, key, index } = this.#walk(path, false);
    const node = parent.#nodes.get(key);
    if (!node) throw new HashKeyError(path);
    if (index === undefined) return node;
    if (node.type !== "VECTOR_HASH") throw new HashKeyError(path, `"${path}": ${key} is not a vector<Hash>`);
    const list = node.value as Hash[];
    if (index >= list.length)
      throw new HashKeyError(path, `"${path}": index ${index} beyond ${list.length} elements`);
    return { value: list[index]!, type: "HASH" };
  }

  /** Walks to the Hash holding the last path segment, creating Hash nodes on the way when `create`. */
  #walk(path: string, create: boolean): Walked {
    const segments = parsePath(path);
    let h: Hash = this;
    for (let i = 0; i < segments.length - 1; i++) {
      const { key, index } = segments[i]!;
      let node = h.#nodes.get(key);
      if (!node) {
        if (!create) throw new HashKeyError(path);
        if (index !== undefined && index !== 0)
          throw new HashKeyError(path, `"${path}": no element ${index} of ${key}`);
        node =
          index === undefined
            ? { value: new Hash(), type: "HASH", attrs: null }
            : { value: [], type: "VECTOR_HASH", attrs: null };
        h.#nodes.set(key, node);
      }
      if (index === undefined) {
        if (node.type !== "HASH")
          throw new HashKeyError(path, `"${path}": "${key}" holds ${node.type}, not a Hash`);
        h = node.value as Hash;
        continue;
      }
      if (node.type !== "VECTOR_HASH")
        throw new HashKeyError(path, `"${path}": "${key}" holds ${node.type}, not vector<Hash>`);
      const list = node.value as Hash[];
      if (create && index === list.length) list.push(new Hash());
      const el = list[index];
      if (!el)
        throw new HashKeyError(path, `"${path}": index ${index} beyond ${list.length} elements of "${key}"`);
      h = el;
    }
    const last = segments[segments.length - 1]!;
    return { parent: h, key: last.key, index: last.index };
  }
}

interface Walked {
  parent: Hash;
  key: string;
  index: number | undefined;
}

interface Segment {
  key: string;
  index: number | undefined;
}

const SEGMENT_WITH_INDEX = /^([^[\]]+)\[(\d+)\]$/;
const pathCache = new Map<string, Segment[]>();

/** Splits "a.b[2].c" into segments; cached because the same property paths recur per train. */
function parsePath(path: string): Segment[] {
  const cached = pathCache.get(path);
  if (cached) return cached;
  if (typeof path !== "string" || path.length === 0) throw new HashKeyError(String(path), "empty Hash path");
  const segments: Segment[] = [];
  for (const part of path.split(".")) {
    if (part.length === 0) throw new HashKeyError(path, `Hash path "${path}" has an empty segment`);
    if (!part.includes("[") && !part.includes("]")) {
      segments.push({ key: part, index: undefined });
      continue;
    }
    const m = SEGMENT_WITH_INDEX.exec(part);
    if (!m) throw new HashKeyError(path, `Hash path "${path}": bad segment "${part}"`);
    segments.push({ key: m[1]!, index: Number(m[2]) });
  }
  if (pathCache.size > 10_000) pathCache.clear();
  pathCache.set(path, segments);
  return segments;
}

function setVectorElement(parent: Hash, key: string, index: number, value: HashValue, path: string): void {
  if (!(value instanceof Hash))
    throw new HashTypeError(path, `"${path}" is a vector<Hash> element: needs a Hash`);
  const list = parent.has(key) && parent.typeOf(key) === "VECTOR_HASH" ? parent.get<Hash[]>(key) : null;
  if (!list) {
    if (index !== 0) throw new HashKeyError(path, `"${path}": "${key}" is not a vector<Hash>`);
    parent.set(key, [value], "VECTOR_HASH");
    return;
  }
  if (index > list.length)
    throw new HashKeyError(path, `"${path}": index ${index} beyond ${list.length} elements`);
  list[index] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Converts plain objects (and arrays of them) into Hashes; other values pass through. */
function toHashValue(value: unknown, path: string): HashValue {
  if (isPlainObject(value) && !isNDArrayValue(value)) return new Hash(value);
  if (Array.isArray(value) && value.length > 0 && value.every(isPlainObject)) {
    return value.map((v) => new Hash(v as Record<string, unknown>));
  }
  if (value === undefined) throw new HashTypeError(path, `"${path}": undefined is not a Hash value`);
  return value as HashValue;
}

/** A node's existing numeric type, kept when a number (or bigint) is set again. */
function keptType(old: { type: HashType } | undefined, value: HashValue): HashType | undefined {
  if (!old) return undefined;
  const numeric = NUMERIC_SCALARS[old.type];
  if (typeof value === "number" && numeric) return old.type;
  if (typeof value === "bigint" && numeric && numeric.min !== null) return old.type;
  // A typed array names its own element type; only plain number lists take the key's vector type.
  if (Array.isArray(value) && TYPED_VECTORS[old.type] && value.every((x) => typeof x === "number"))
    return old.type;
  return undefined;
}

/** A node's value with its Hash structure copied (so merged trees do not alias), leaf arrays shared. */
function copyStructure(node: Node): HashValue {
  if (node.type === "HASH") return (node.value as Hash).clone();
  if (node.type === "VECTOR_HASH") return (node.value as Hash[]).map((h) => h.clone());
  return node.value;
}

function toPlain(v: HashValue): unknown {
  if (v instanceof Hash) return v.toObject();
  if (Array.isArray(v) && v.length > 0 && v[0] instanceof Hash) return (v as Hash[]).map((h) => h.toObject());
  return v;
}

function describe(h: Hash, indent: string): string {
  let out = "";
  for (const n of h.nodes()) {
    const attrs = [...n.attributes].map(([k, a]) => ` ${k}=${String(a.value)}`).join("");
    if (n.type === "HASH")
      out += `${indent}${n.key} (HASH)${attrs}\n${describe(n.value as Hash, `${indent}  `)}`;
    else out += `${indent}${n.key} (${n.type})${attrs}: ${String(n.value)}\n`;
  }
  return out;
}
