// Device schemas: a device declares its properties and slots as plain data with the `el` builders, and
// TypeScript infers the type of every property from that one declaration. The declaration is data, so it
// can be sent to a GUI or another host (`Schema.toData()` / `Schema.fromData()`, `schemaToHash()`).
//
//   const spec = {
//     velocity: el.double({ unit: "meterPerSecond", prefix: "milli", min: 0.1, max: 100, default: 5,
//                           access: "reconfigurable", allowedStates: [State.STATIC] }),
//     move: el.slot({ displayedName: "Move", allowedStates: [State.STATIC] }),
//   } satisfies SchemaSpec;
//   type MotorProps = Props<typeof spec>;   // { velocity: number }

import { type AccessLevel, type AccessMode, hasAccess, isAccessLevel } from "./access.ts";
import { SaseError } from "./errors.ts";
import type { DType, NDArray } from "./ndarray.ts";
import type { State } from "./state.ts";
import { type Unit, type MetricPrefix, UNITS, METRIC_PREFIXES } from "./units.ts";

/** Scalar property kinds. */
export type ScalarKind = "bool" | "int32" | "uint32" | "int64" | "uint64" | "float" | "double" | "string";

/** Every element kind a schema can hold. Channels are the pipeline layer's extension point. */
export type ElementKind =
  | ScalarKind
  | "state"
  | "vector"
  | "ndarray"
  | "image"
  | "table"
  | "node"
  | "slot"
  | "outputChannel"
  | "inputChannel";

/** JS value of a scalar kind. */
export type ScalarValue<K extends ScalarKind> = K extends "bool"
  ? boolean
  : K extends "int64" | "uint64"
    ? bigint
    : K extends "string"
      ? string
      : number;

/** Whether changes of a property are archived by the data logger. */
export type ArchivePolicy = "everyEvent" | "noArchiving";

/** Image pixels plus how to read them (Karabo's IMAGEDATA, reduced to what a viewer needs). */
export interface ImageData {
  readonly pixels: NDArray;
  readonly encoding: "GRAY" | "RGB" | "RGBA" | "BGR" | "YUV" | "BAYER";
}

/** Attributes every element may carry. */
export interface CommonAttrs {
  readonly displayedName?: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  /** Lowest caller level that may write this key or call this slot (default: operator; readOnly: observer). */
  readonly requiredAccessLevel?: AccessLevel;
}

/** Attributes of a property (a leaf holding a value). */
export interface LeafAttrs<T> extends CommonAttrs {
  /** Default "init": settable only when the device is instantiated. */
  readonly access?: AccessMode;
  readonly default?: NoInfer<T>;
  /** The value must be supplied at instantiation. */
  readonly mandatory?: boolean;
  /** States in which a reconfigurable property may be written (states derived from them count too). */
  readonly allowedStates?: readonly State[];
  readonly archive?: ArchivePolicy;
  readonly unit?: Unit;
  readonly prefix?: MetricPrefix;
  /** Free-form hint for GUIs (e.g. "hex", "fileIn", "Curve"). */
  readonly displayType?: string;
}

/** Attributes of a numeric or string scalar: ranges (inclusive / exclusive) and an enumeration. */
export interface ScalarAttrs<T> extends LeafAttrs<T> {
  readonly min?: NoInfer<T>;
  readonly max?: NoInfer<T>;
  readonly minExc?: NoInfer<T>;
  readonly maxExc?: NoInfer<T>;
  readonly options?: readonly T[];
}

/** Attributes of a vector property. */
export interface VectorAttrs<T> extends LeafAttrs<T[]> {
  readonly minSize?: number;
  readonly maxSize?: number;
}

/** Attributes of an n-dimensional array property: element type and shape (0 = any length on that axis). */
export interface NDArrayAttrs extends LeafAttrs<NDArray> {
  readonly dtype?: DType;
  readonly shape?: readonly number[];
}

/** A property: the element data plus a phantom field carrying its value type. */
export interface Leaf<K extends ElementKind, T> extends CommonAttrs {
  readonly kind: K;
  readonly access?: AccessMode;
  readonly default?: T;
  readonly mandatory?: boolean;
  readonly allowedStates?: readonly State[];
  readonly archive?: ArchivePolicy;
  readonly unit?: Unit;
  readonly prefix?: MetricPrefix;
  readonly displayType?: string;
  readonly min?: unknown;
  readonly max?: unknown;
  readonly minExc?: unknown;
  readonly maxExc?: unknown;
  readonly options?: readonly unknown[];
  readonly minSize?: number;
  readonly maxSize?: number;
  readonly dtype?: DType;
  readonly shape?: readonly number[];
  /** Element kind of a vector. */
  readonly of?: ScalarKind;
  /** Column schema of a table. */
  readonly rowSchema?: SchemaSpec;
  readonly __value?: T;
}

/** Any property element. */
export type AnyLeaf = Leaf<ElementKind, unknown>;

/** A node grouping keys (also the shape of pipeline channels, whose children are their settings). */
export interface NodeElement<K extends "node" | "outputChannel" | "inputChannel", C extends SchemaSpec>
  extends CommonAttrs {
  readonly kind: K;
  readonly children: C;
  /** Output channels: the schema of the data each item carries. */
  readonly dataSchema?: SchemaSpec;
  readonly displayType?: string;
}

/** A command. `args` declares its arguments (validated like a configuration). */
export interface SlotElement<A extends SchemaSpec = SchemaSpec> extends CommonAttrs {
  readonly kind: "slot";
  readonly allowedStates?: readonly State[];
  readonly args?: A;
}

/** Any schema element. */
export type Element =
  | Leaf<ElementKind, unknown>
  | NodeElement<"node" | "outputChannel" | "inputChannel", SchemaSpec>
  | SlotElement<SchemaSpec>;

/** A schema declaration: key → element. */
export type SchemaSpec = { readonly [key: string]: Element };

/** Value type of one element. */
export type ValueOf<E> = E extends { readonly __value?: infer T } ? Exclude<T, undefined> : never;

type Entries<S, P extends string> = {
  [K in keyof S & string]: S[K] extends { readonly children: infer C }
    ? Entries<C, `${P}${K}.`>
    : S[K] extends { readonly kind: "slot" }
      ? never
      : [`${P}${K}`, ValueOf<S[K]>];
}[keyof S & string];

/** Every property of a schema by its dotted key, with its value type. */
export type Props<S> = { [E in Entries<S, ""> as E[0]]: E[1] };

/** Names of the slots of a schema (top level). */
export type SlotName<S> = {
  [K in keyof S & string]: S[K] extends { readonly kind: "slot" } ? K : never;
}[keyof S & string];

/** Arguments of slot `K` of schema `S`. */
export type SlotArgs<S, K extends keyof S> = S[K] extends SlotElement<infer A> ? Partial<Props<A>> : never;

/** The methods a device class must have for its slots (use with `implements`). */
export type Slots<S> = { [K in SlotName<S>]: (args: SlotArgs<S, K>) => unknown };

function scalar<K extends ScalarKind>(kind: K) {
  return <const T extends ScalarValue<K> = ScalarValue<K>>(attrs: ScalarAttrs<T> = {}): Leaf<K, T> =>
    ({ ...attrs, kind }) as Leaf<K, T>;
}

/** Builders for schema elements: `el.double({...})`, `el.slot({...})`, `el.node({...})`. */
export const el = {
  bool: (attrs: LeafAttrs<boolean> = {}): Leaf<"bool", boolean> =>
    ({ ...attrs, kind: "bool" }) as Leaf<"bool", boolean>,
  int32: scalar("int32"),
  uint32: scalar("uint32"),
  int64: scalar("int64"),
  uint64: scalar("uint64"),
  float: scalar("float"),
  double: scalar("double"),
  string: scalar("string"),
  /** The device state (a State name), read-only. */
  state: (attrs: LeafAttrs<State> & { options?: readonly State[] } = {}): Leaf<"state", State> =>
    ({ access: "readOnly", ...attrs, kind: "state" }) as Leaf<"state", State>,
  /** A vector of scalars, e.g. `el.vector("double", {...})` → number[]. */
  vector: <K extends ScalarKind>(
    of: K,
    attrs: VectorAttrs<ScalarValue<K>> = {},
  ): Leaf<"vector", ScalarValue<K>[]> =>
    ({ ...attrs, of, kind: "vector" }) as Leaf<"vector", ScalarValue<K>[]>,
  ndarray: (attrs: NDArrayAttrs = {}): Leaf<"ndarray", NDArray> =>
    ({ ...attrs, kind: "ndarray" }) as Leaf<"ndarray", NDArray>,
  image: (attrs: LeafAttrs<ImageData> = {}): Leaf<"image", ImageData> =>
    ({ ...attrs, kind: "image" }) as Leaf<"image", ImageData>,
  /** A table: rows with the columns of `rowSchema` (scalars and vectors only, each with a default). */
  table: <const R extends SchemaSpec>(
    rowSchema: R,
    attrs: LeafAttrs<Props<R>[]> & { minSize?: number; maxSize?: number } = {},
  ): Leaf<"table", Props<R>[]> => ({ ...attrs, rowSchema, kind: "table" }) as Leaf<"table", Props<R>[]>,
  node: <const C extends SchemaSpec>(children: C, attrs: CommonAttrs = {}): NodeElement<"node", C> => ({
    ...attrs,
    children,
    kind: "node",
  }),
  slot: <const A extends SchemaSpec = Record<never, never>>(
    attrs: CommonAttrs & { allowedStates?: readonly State[]; args?: A } = {},
  ): SlotElement<A> => ({ ...attrs, kind: "slot" }),
  /** An output channel; `children` are its settings (the pipeline layer supplies them). */
  outputChannel: <const C extends SchemaSpec = Record<never, never>>(
    attrs: CommonAttrs & { children?: C; dataSchema?: SchemaSpec } = {},
  ): NodeElement<"outputChannel", C> => ({
    ...attrs,
    children: (attrs.children ?? {}) as C,
    kind: "outputChannel",
    displayType: "OutputChannel",
  }),
  /** An input channel; `children` are its settings (the pipeline layer supplies them). */
  inputChannel: <const C extends SchemaSpec = Record<never, never>>(
    attrs: CommonAttrs & { children?: C } = {},
  ): NodeElement<"inputChannel", C> => ({
    ...attrs,
    children: (attrs.children ?? {}) as C,
    kind: "inputChannel",
    displayType: "InputChannel",
  }),
};

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SCALAR_KINDS: readonly string[] = [
  "bool",
  "int32",
  "uint32",
  "int64",
  "uint64",
  "float",
  "double",
  "string",
];
const LEAF_KINDS: readonly string[] = [...SCALAR_KINDS, "state", "vector", "ndarray", "image", "table"];
const NODE_KINDS: readonly string[] = ["node", "outputChannel", "inputChannel"];

/** True for scalar kind names. */
export function isScalarKind(kind: string): kind is ScalarKind {
  return SCALAR_KINDS.includes(kind);
}

/** True when an element holds a value (not a node or slot). */
export function isLeaf(e: Element): e is Leaf<ElementKind, unknown> {
  return LEAF_KINDS.includes(e.kind);
}

/** True when an element groups other elements. */
export function isNode(e: Element): e is NodeElement<"node" | "outputChannel" | "inputChannel", SchemaSpec> {
  return NODE_KINDS.includes(e.kind);
}

/** A compiled entry: the element plus what the framework derives for it. */
export interface SchemaEntry {
  readonly key: string;
  readonly element: Element;
  /** Effective access mode (leaves), "init" when not declared. */
  readonly access: AccessMode;
  /** Effective level: the highest required level along the key's path. */
  readonly requiredAccessLevel: AccessLevel;
}

/** A compiled, checked schema: look-ups by dotted key, and its data form. */
export class Schema {
  readonly #entries = new Map<string, SchemaEntry>();

  /** Compiles and checks a declaration; a bad declaration throws BAD_SCHEMA naming the key. */
  constructor(readonly spec: SchemaSpec) {
    this.#walk(spec, "", "observer");
  }

  #walk(spec: SchemaSpec, prefix: string, parentLevel: AccessLevel): void {
    if (spec === null || typeof spec !== "object")
      throw bad(prefix || "(root)", "a schema must be an object");
    for (const [name, element] of Object.entries(spec)) {
      const key = prefix + name;
      if (!KEY_RE.test(name)) throw bad(key, "keys are letters, digits and _ and do not start with a digit");
      if (element === null || typeof element !== "object" || typeof element.kind !== "string") {
        throw bad(key, "element must be an object with a kind");
      }
      const access: AccessMode = isLeaf(element) ? (element.access ?? "init") : "init";
      if (element.requiredAccessLevel !== undefined && !isAccessLevel(element.requiredAccessLevel)) {
        throw bad(key, `unknown requiredAccessLevel ${String(element.requiredAccessLevel)}`);
      }
      const own = element.requiredAccessLevel ?? (access === "readOnly" ? "observer" : "operator");
      const level = hasAccess(own, parentLevel) ? own : parentLevel;
      if (isNode(element)) {
        this.#entries.set(key, {
          key,
          element,
          access,
          requiredAccessLevel: element.requiredAccessLevel ?? parentLevel,
        });
        this.#walk(element.children, `${key}.`, element.requiredAccessLevel ?? parentLevel);
        continue;
      }
      if (element.kind === "slot") {
        // Slots may sit in nodes (Karabo's PropertyTest has node.increment), never among slot arguments.
        const args = (element as SlotElement).args;
        if (args) {
          const compiled = new Schema(args);
          if (compiled.slotNames().length > 0) throw bad(key, "slots are not arguments of a slot");
        }
      } else if (isLeaf(element)) {
        checkLeaf(key, element);
      } else {
        throw bad(key, `unknown element kind ${JSON.stringify((element as { kind: string }).kind)}`);
      }
      this.#entries.set(key, { key, element, access, requiredAccessLevel: level });
    }
  }

  /** The entry of a dotted key, or undefined. */
  entry(key: string): SchemaEntry | undefined {
    return this.#entries.get(key);
  }

  /** Every entry (nodes, leaves, slots) in declaration order. */
  entries(): SchemaEntry[] {
    return [...this.#entries.values()];
  }

  /** Dotted keys of every property (leaf). */
  propertyKeys(): string[] {
    return this.entries()
      .filter((e) => isLeaf(e.element))
      .map((e) => e.key);
  }

  /** Names of every slot. */
  slotNames(): string[] {
    return this.entries()
      .filter((e) => e.element.kind === "slot")
      .map((e) => e.key);
  }

  /** Keys whose `tags` include `tag` (e.g. to select what the DAQ records). */
  keysTagged(tag: string): string[] {
    return this.entries()
      .filter((e) => e.element.tags?.includes(tag))
      .map((e) => e.key);
  }

  /** A new schema with `extra` keys appended (later keys replace earlier ones of the same name). */
  extend(extra: SchemaSpec): Schema {
    return new Schema({ ...this.spec, ...extra });
  }

  /** The declaration as plain data (what crosses the wire; bigints stay bigints). */
  toData(): SchemaSpec {
    return this.spec;
  }

  /** Compiles a schema received as data, checking it like a local declaration. */
  static fromData(data: unknown): Schema {
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new SaseError("BAD_SCHEMA", "schema data must be an object of key → element");
    }
    return new Schema(data as SchemaSpec);
  }
}

function bad(key: string, rule: string): SaseError {
  return new SaseError("BAD_SCHEMA", `schema key '${key}': ${rule}`, { key, rule });
}

function checkLeaf(key: string, e: Leaf<ElementKind, unknown>): void {
  if (e.access !== undefined && !["init", "reconfigurable", "readOnly"].includes(e.access)) {
    throw bad(key, `unknown access mode ${JSON.stringify(e.access)}`);
  }
  if (e.mandatory && e.access === "readOnly") throw bad(key, "a read-only property cannot be mandatory");
  if (e.mandatory && e.default !== undefined) throw bad(key, "a mandatory property has no default");
  if (e.unit !== undefined && !Object.hasOwn(UNITS, e.unit))
    throw bad(key, `unknown unit ${JSON.stringify(e.unit)}`);
  if (e.prefix !== undefined && !Object.hasOwn(METRIC_PREFIXES, e.prefix)) {
    throw bad(key, `unknown metric prefix ${JSON.stringify(e.prefix)}`);
  }
  if (e.kind === "vector" && (e.of === undefined || !isScalarKind(e.of)))
    throw bad(key, "a vector needs `of`: a scalar kind");
  if (e.kind === "table") {
    if (!e.rowSchema) throw bad(key, "a table needs a rowSchema");
    const rows = new Schema(e.rowSchema);
    for (const col of rows.entries()) {
      const c = col.element;
      if (!isLeaf(c) || !(isScalarKind(c.kind) || c.kind === "vector")) {
        throw bad(`${key}.${col.key}`, "table columns are scalars or vectors");
      }
      if (c.default === undefined) throw bad(`${key}.${col.key}`, "every table column needs a default");
    }
  }
}

/** The unit symbol of an element with its metric prefix, e.g. "mm" (empty when it has none). */
export function describeUnit(e: Element): string {
  if (!isLeaf(e) || e.unit === undefined) return "";
  return (e.prefix ? METRIC_PREFIXES[e.prefix].symbol : "") + UNITS[e.unit].symbol;
}
