// Validation of configurations against a schema. Every rule a value can break (type, range, option,
// access mode, state, access level, unknown key) gives an error naming the key, the value and the rule;
// all errors of one request are gathered and nothing is applied unless every key passes.

import { type Caller, hasAccess } from "./access.ts";
import { SaseError, showValue, ValidationError } from "./errors.ts";
import { NUMERIC_SCALARS } from "./hash-types.ts";
import { isNDArray } from "./ndarray.ts";
import { closestName } from "./names.ts";
import {
  type Element,
  isLeaf,
  isNode,
  isScalarKind,
  type AnyLeaf,
  type ScalarKind,
  Schema,
  type SchemaSpec,
} from "./schema.ts";
import { SCALAR_TYPES } from "./schema-hash.ts";
import { isDerivedFrom, isState, type State } from "./state.ts";

/** Why a configuration is being validated: it decides which access modes may be written. */
export type Phase = "init" | "reconfigure" | "internal";

/** Context of a validation. */
export interface ValidateOptions {
  /** "init": instantiation (init + reconfigurable keys); "reconfigure": from outside at run time
   *  (reconfigurable keys only); "internal": the device itself (any key, no access/state rules). */
  readonly phase: Phase;
  /** Required for init/reconfigure: the access level is checked per key. */
  readonly caller?: Caller;
  /** The device's current state, for `allowedStates` (reconfigure only). */
  readonly state?: State;
}

/** The range of an integer kind, from core's one numeric-type table (bigints for the 64-bit kinds). */
function rangeOf<T extends number | bigint>(kind: ScalarKind): readonly [T, T] {
  const info = NUMERIC_SCALARS[SCALAR_TYPES[kind]]!;
  return [info.min as T, info.max as T];
}

/**
 * Checks `input` (nested objects or dotted keys) against `schema`; returns the normalised values by
 * dotted key, or throws one ValidationError listing every offending key.
 */
export function validateConfiguration(
  schema: Schema,
  input: Record<string, unknown>,
  options: ValidateOptions,
): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const errors: SaseError[] = [];
  walkInput(schema, input, "", options, out, errors);
  if (errors.length > 0) throw new ValidationError(errors);
  return out;
}

/**
 * The full initial configuration of a device: the caller's values (validated for instantiation), the
 * defaults of every other key, and an error for each mandatory key left out.
 */
export function initialConfiguration(
  schema: Schema,
  input: Record<string, unknown>,
  caller: Caller,
): Map<string, unknown> {
  const errors: SaseError[] = [];
  const given = new Map<string, unknown>();
  walkInput(schema, input, "", { phase: "init", caller }, given, errors);
  const out = new Map<string, unknown>();
  for (const entry of schema.entries()) {
    const e = entry.element;
    if (!isLeaf(e)) continue;
    if (given.has(entry.key)) out.set(entry.key, given.get(entry.key));
    else if (e.default !== undefined) out.set(entry.key, cloneDefault(e.default));
    else if (e.mandatory) {
      errors.push(
        new SaseError("MISSING_KEY", `'${entry.key}' is mandatory and was not given`, {
          key: entry.key,
          rule: "mandatory",
        }),
      );
    }
  }
  if (errors.length > 0) throw new ValidationError(errors);
  return out;
}

function cloneDefault(v: unknown): unknown {
  return Array.isArray(v) ? v.map((x) => (x !== null && typeof x === "object" ? { ...x } : x)) : v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;
}

function walkInput(
  schema: Schema,
  input: Record<string, unknown>,
  prefix: string,
  options: ValidateOptions,
  out: Map<string, unknown>,
  errors: SaseError[],
): void {
  if (!isPlainObject(input)) {
    errors.push(
      new SaseError(
        "WRONG_TYPE",
        `configuration${prefix ? ` '${prefix.slice(0, -1)}'` : ""} must be an object`,
      ),
    );
    return;
  }
  for (const [name, value] of Object.entries(input)) {
    const key = prefix + name;
    const entry = schema.entry(key);
    if (!entry) {
      errors.push(unknownKey(schema, key, value));
      continue;
    }
    const e = entry.element;
    if (isNode(e)) {
      if (!isPlainObject(value)) {
        errors.push(fail("WRONG_TYPE", key, value, "is a node: give an object of its keys"));
      } else walkInput(schema, value, `${key}.`, options, out, errors);
      continue;
    }
    if (e.kind === "slot") {
      errors.push(fail("UNKNOWN_KEY", key, value, "is a slot, not a property: call it instead"));
      continue;
    }
    const leaf = e as AnyLeaf;
    const ruleError = checkRules(key, value, entry.access, entry.requiredAccessLevel, leaf, options);
    if (ruleError) {
      errors.push(ruleError);
      continue;
    }
    const checked = checkValue(key, value, leaf, options.phase === "internal");
    if (checked instanceof SaseError) errors.push(checked);
    else out.set(key, checked);
  }
}

function checkRules(
  key: string,
  value: unknown,
  access: string,
  level: Caller["accessLevel"],
  e: AnyLeaf,
  options: ValidateOptions,
): SaseError | undefined {
  if (options.phase === "internal") return undefined;
  if (access === "readOnly") return fail("READ_ONLY", key, value, "is read-only");
  if (options.phase === "reconfigure" && access === "init") {
    return fail("INIT_ONLY", key, value, "can only be set when the device is instantiated");
  }
  const caller = options.caller;
  if (!caller || !hasAccess(caller.accessLevel, level)) {
    return fail(
      "ACCESS_DENIED",
      key,
      value,
      `needs access level ${level}; ${caller ? `caller '${caller.user}' has ${caller.accessLevel}` : "no caller given"}`,
    );
  }
  if (options.phase === "reconfigure" && e.allowedStates && e.allowedStates.length > 0) {
    const state = options.state;
    if (state === undefined || !e.allowedStates.some((s) => isDerivedFrom(state, s))) {
      return fail(
        "WRONG_STATE",
        key,
        value,
        `may be set only in ${e.allowedStates.join("/")}; device is ${state}`,
      );
    }
  }
  return undefined;
}

function fail(code: SaseError["code"], key: string, value: unknown, rule: string): SaseError {
  return new SaseError(code, `'${key}' = ${showValue(value)}: ${rule}`, {
    key,
    value: showValue(value),
    rule,
  });
}

function unknownKey(schema: Schema, key: string, value: unknown): SaseError {
  const near = closestName(key, schema.propertyKeys());
  return fail("UNKNOWN_KEY", key, value, `unknown key${near ? ` (did you mean '${near}'?)` : ""}`);
}

/** Checks one value against a property element; returns the normalised value or the error. */
export function checkValue(key: string, value: unknown, e: AnyLeaf, lenient = false): unknown {
  const kind = e.kind;
  if (isScalarKind(kind)) return checkScalar(key, value, kind, e, lenient);
  switch (kind) {
    case "state":
      return isState(value) ? value : fail("WRONG_TYPE", key, value, "expected a state name");
    case "vector":
      return checkVector(key, value, e, lenient);
    case "ndarray":
      return checkNDArray(key, value, e);
    case "image": {
      const img = value as { pixels?: unknown; encoding?: unknown };
      if (!isPlainObject(value) || !isNDArray(img.pixels) || typeof img.encoding !== "string") {
        return fail("WRONG_TYPE", key, value, "expected an image { pixels: NDArray, encoding }");
      }
      return value;
    }
    case "table":
      return checkTable(key, value, e);
    default:
      return fail("WRONG_TYPE", key, value, `has no value (kind ${kind})`);
  }
}

function checkScalar(key: string, value: unknown, kind: ScalarKind, e: AnyLeaf, lenient: boolean): unknown {
  let v: unknown = value;
  switch (kind) {
    case "bool":
      if (typeof v !== "boolean") return fail("WRONG_TYPE", key, value, "expected a bool");
      break;
    case "string":
      if (typeof v !== "string") return fail("WRONG_TYPE", key, value, "expected a string");
      break;
    case "float":
    case "double":
      if (typeof v !== "number") return fail("WRONG_TYPE", key, value, `expected a number (${kind})`);
      if (!lenient && !Number.isFinite(v)) return fail("WRONG_TYPE", key, value, "expected a finite number");
      break;
    case "int32":
    case "uint32": {
      if (typeof v === "bigint") v = Number(v);
      const [lo, hi] = rangeOf<number>(kind);
      if (typeof v !== "number" || !Number.isInteger(v))
        return fail("WRONG_TYPE", key, value, `expected an integer (${kind})`);
      if (v < lo || v > hi) return fail("OUT_OF_RANGE", key, value, `outside the ${kind} range ${lo}..${hi}`);
      break;
    }
    case "int64":
    case "uint64": {
      if (typeof v === "number" && Number.isSafeInteger(v)) v = BigInt(v);
      const [lo, hi] = rangeOf<bigint>(kind);
      if (typeof v !== "bigint") return fail("WRONG_TYPE", key, value, `expected an integer (${kind})`);
      if (v < lo || v > hi) return fail("OUT_OF_RANGE", key, value, `outside the ${kind} range ${lo}..${hi}`);
      break;
    }
  }
  const x = v as number | bigint | string;
  if (e.options && e.options.length > 0 && !e.options.includes(x)) {
    return fail("NOT_IN_OPTIONS", key, value, `must be one of ${e.options.map(showValue).join(", ")}`);
  }
  if (e.min !== undefined && x < (e.min as typeof x))
    return fail("OUT_OF_RANGE", key, value, `must be >= ${showValue(e.min)}`);
  if (e.max !== undefined && x > (e.max as typeof x))
    return fail("OUT_OF_RANGE", key, value, `must be <= ${showValue(e.max)}`);
  if (e.minExc !== undefined && x <= (e.minExc as typeof x)) {
    return fail("OUT_OF_RANGE", key, value, `must be > ${showValue(e.minExc)}`);
  }
  if (e.maxExc !== undefined && x >= (e.maxExc as typeof x)) {
    return fail("OUT_OF_RANGE", key, value, `must be < ${showValue(e.maxExc)}`);
  }
  return v;
}

function checkVector(key: string, value: unknown, e: AnyLeaf, lenient: boolean): unknown {
  const items = ArrayBuffer.isView(value) ? Array.from(value as unknown as ArrayLike<unknown>) : value;
  if (!Array.isArray(items)) return fail("WRONG_TYPE", key, value, `expected a vector of ${e.of}`);
  if (e.minSize !== undefined && items.length < e.minSize) {
    return fail("OUT_OF_RANGE", key, value, `needs at least ${e.minSize} elements`);
  }
  if (e.maxSize !== undefined && items.length > e.maxSize) {
    return fail("OUT_OF_RANGE", key, value, `takes at most ${e.maxSize} elements`);
  }
  const elem = { kind: e.of ?? "double" } as AnyLeaf;
  const out: unknown[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const r = checkScalar(`${key}[${i}]`, items[i], e.of ?? "double", elem, lenient);
    if (r instanceof SaseError) return r;
    out[i] = r;
  }
  return out;
}

function checkNDArray(key: string, value: unknown, e: AnyLeaf): unknown {
  if (!isNDArray(value)) return fail("WRONG_TYPE", key, value, "expected an NDArray");
  if (e.dtype !== undefined && value.dtype !== e.dtype) {
    return fail("WRONG_TYPE", key, value, `expected dtype ${e.dtype}, got ${value.dtype}`);
  }
  if (e.shape !== undefined) {
    const ok =
      e.shape.length === value.shape.length && e.shape.every((n, i) => n === 0 || n === value.shape[i]);
    if (!ok)
      return fail("WRONG_TYPE", key, value, `expected shape [${e.shape}], got [${value.shape}] (0 = any)`);
  }
  return value;
}

const rowSchemas = new WeakMap<SchemaSpec, Schema>();

function checkTable(key: string, value: unknown, e: AnyLeaf): unknown {
  if (!Array.isArray(value)) return fail("WRONG_TYPE", key, value, "expected a table (array of rows)");
  if (e.minSize !== undefined && value.length < e.minSize)
    return fail("OUT_OF_RANGE", key, value, `needs at least ${e.minSize} rows`);
  if (e.maxSize !== undefined && value.length > e.maxSize)
    return fail("OUT_OF_RANGE", key, value, `takes at most ${e.maxSize} rows`);
  const spec = e.rowSchema!;
  const rows = rowSchemas.get(spec) ?? new Schema(spec);
  rowSchemas.set(spec, rows);
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < value.length; i++) {
    const row = value[i];
    if (!isPlainObject(row))
      return fail("WRONG_TYPE", `${key}[${i}]`, row, "a row must be an object of columns");
    const norm: Record<string, unknown> = {};
    for (const col of rows.entries()) {
      const c = col.element as AnyLeaf;
      const v = Object.hasOwn(row, col.key) ? row[col.key] : c.default;
      const r = checkValue(`${key}[${i}].${col.key}`, v, c);
      if (r instanceof SaseError) return r;
      norm[col.key] = r;
    }
    for (const name of Object.keys(row)) {
      if (!rows.entry(name)) return fail("UNKNOWN_KEY", `${key}[${i}].${name}`, row[name], "unknown column");
    }
    out.push(norm);
  }
  return out;
}

/** Parses text typed by a person (CLI, GUI field) into a value of the property's kind. */
export function parseValue(key: string, text: string, e: Element): unknown {
  if (!isLeaf(e)) throw fail("WRONG_TYPE", key, text, `is a ${e.kind}, not a property`);
  const bad = (what: string) => fail("WRONG_TYPE", key, text, `expected ${what}`);
  const scalar = (kind: string, t: string): unknown => {
    switch (kind) {
      case "bool":
        if (/^(true|1|yes|on)$/i.test(t)) return true;
        if (/^(false|0|no|off)$/i.test(t)) return false;
        throw bad("true or false");
      case "int32":
      case "uint32":
      case "float":
      case "double": {
        const n = Number(t);
        if (t.trim() === "" || Number.isNaN(n)) throw bad(`a number (${kind})`);
        return n;
      }
      case "int64":
      case "uint64":
        try {
          return BigInt(t.trim());
        } catch {
          throw bad(`an integer (${kind})`);
        }
      default:
        return t;
    }
  };
  if (e.kind === "vector") {
    const trimmed = text.trim();
    if (trimmed.startsWith("[")) {
      let arr: unknown;
      try {
        arr = JSON.parse(trimmed);
      } catch {
        throw bad("a JSON array");
      }
      if (!Array.isArray(arr)) throw bad("a JSON array");
      return arr.map((x) =>
        typeof x === "string" ? scalar(e.of ?? "string", x) : e.of?.endsWith("64") ? BigInt(x) : x,
      );
    }
    return trimmed === "" ? [] : trimmed.split(",").map((t) => scalar(e.of ?? "string", t.trim()));
  }
  if (e.kind === "table") {
    try {
      return JSON.parse(text);
    } catch {
      throw bad("a JSON array of rows");
    }
  }
  if (e.kind === "ndarray" || e.kind === "image") throw bad("array data; it cannot be typed as text");
  return scalar(e.kind, text);
}
