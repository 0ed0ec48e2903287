// What a context file declares: variables, each a function of a run that gives one value per run
// (a number, a string, an array or an image), with the sources it reads and the variables it
// builds on. Each variable gets a version from its own definition and those of its dependencies,
// so editing one variable recomputes it and what depends on it, nothing else.
import { createHash } from "node:crypto";
import type { NDArray, TypedArray } from "../core/index.ts";
import type { DataCollection } from "../files/index.ts";
import { type ErrorDetails, SaseError } from "../core/index.ts";

/** What a variable's function may return. Arrays are 1-D; an NDArray may be 1-D or 2-D (an image). */
export type VariableResult = number | string | readonly number[] | TypedArray | NDArray;

/** What a variable's function is given besides the run. */
export interface VariableInput {
  readonly proposal: number;
  readonly run: number;
  /** Values of the variables named in `dependsOn`, by name. */
  readonly deps: Readonly<Record<string, StoredResult>>;
}

/** One column of the run table. */
export interface Variable {
  /** Column heading. */
  readonly title: string;
  readonly unit?: string;
  /** Sources the function reads; a run without one of them gets an error in the cell, not a call. */
  readonly sources?: readonly string[];
  /** Variables whose values this one needs (computed first; an error there is an error here). */
  readonly dependsOn?: readonly string[];
  /**
   * What defines the variable besides its function's text (an analysis graph's version): it goes
   * into the variable's version, so a change to it recomputes the variable.
   */
  readonly definition?: string;
  compute(run: DataCollection, input: VariableInput): VariableResult | Promise<VariableResult>;
}

/** A context file's default export: variables by name (names are the table's column keys). */
export type RunContext = Readonly<Record<string, Variable>>;

/** Identity that gives a context file its types: `export default defineContext({ ... })`. */
export function defineContext<C extends RunContext>(context: C): C {
  return context;
}

/** A computed value as the table stores and hands it on. */
export type StoredResult =
  | { readonly kind: "number"; readonly value: number }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "array" | "image"; readonly value: Float64Array; readonly shape: readonly number[] };

/** Thrown when a context file or a variable in it is malformed. */
export class ContextError extends SaseError {
  override readonly name = "ContextError";
  constructor(message: string, details?: ErrorDetails) {
    super("BAD_CONTEXT", message, details);
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks a loaded context's shape (it is user code) and returns its variables in dependency order. */
export function orderVariables(context: unknown): [string, Variable][] {
  if (typeof context !== "object" || context === null)
    throw new ContextError("the context file's default export must be an object of variables");
  const vars = new Map<string, Variable>();
  for (const [name, v] of Object.entries(context)) {
    if (!NAME.test(name)) throw new ContextError(`variable name "${name}" must be an identifier`);
    const o = v as Partial<Variable> | null;
    if (typeof o !== "object" || o === null) throw new ContextError(`variable ${name} is not an object`);
    if (typeof o.title !== "string") throw new ContextError(`variable ${name} needs a title (string)`);
    if (typeof o.compute !== "function") throw new ContextError(`variable ${name} needs a compute function`);
    for (const d of o.dependsOn ?? []) {
      if (!(d in context)) throw new ContextError(`variable ${name} depends on ${d}, which is not defined`);
    }
    vars.set(name, o as Variable);
  }
  const ordered: [string, Variable][] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting")
      throw new ContextError(`variables depend on each other in a cycle: ${[...path, name].join(" → ")}`);
    state.set(name, "visiting");
    const v = vars.get(name) as Variable;
    for (const d of v.dependsOn ?? []) visit(d, [...path, name]);
    state.set(name, "done");
    ordered.push([name, v]);
  };
  for (const name of vars.keys()) visit(name, []);
  return ordered;
}

/** Versions of every variable: a hash of its definition (function text included) and its deps'. */
export function variableVersions(ordered: readonly [string, Variable][]): Map<string, string> {
  const versions = new Map<string, string>();
  for (const [name, v] of ordered) {
    const h = createHash("sha256");
    h.update(JSON.stringify([name, v.title, v.unit ?? "", v.sources ?? [], v.compute.toString()]));
    if (v.definition !== undefined) h.update(v.definition);
    for (const d of v.dependsOn ?? []) h.update(`${d}=${versions.get(d)}`);
    versions.set(name, h.digest("hex").slice(0, 16));
  }
  return versions;
}

function isNDArray(x: unknown): x is NDArray {
  return typeof x === "object" && x !== null && "shape" in x && "data" in x && ArrayBuffer.isView(x.data);
}

function toFloat64(data: ArrayLike<number | bigint>): Float64Array {
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  return out;
}

/** Turns what a variable returned into a stored value; throws naming what was wrong. */
export function normaliseResult(name: string, r: unknown): StoredResult {
  if (typeof r === "number") return { kind: "number", value: r };
  if (typeof r === "bigint") return { kind: "number", value: Number(r) };
  if (typeof r === "boolean") return { kind: "number", value: r ? 1 : 0 };
  if (typeof r === "string") return { kind: "string", value: r };
  if (isNDArray(r)) {
    if (r.shape.length === 0) return { kind: "number", value: Number(r.data[0]) };
    if (r.shape.length > 2)
      throw new ContextError(`${name} returned a ${r.shape.length}-D array; the table holds 1-D or 2-D`);
    return {
      kind: r.shape.length === 1 ? "array" : "image",
      value: toFloat64(r.data as ArrayLike<number | bigint>),
      shape: [...r.shape],
    };
  }
  if (Array.isArray(r) || (ArrayBuffer.isView(r) && !(r instanceof DataView))) {
    const a = r as ArrayLike<number | bigint>;
    for (let i = 0; i < a.length; i++) {
      if (typeof a[i] !== "number" && typeof a[i] !== "bigint")
        throw new ContextError(`${name} returned an array holding ${typeof a[i]} at index ${i}`);
    }
    return { kind: "array", value: toFloat64(a), shape: [a.length] };
  }
  const what = r === null ? "null" : r === undefined ? "nothing (undefined)" : typeof r;
  throw new ContextError(`${name} returned ${what}; a variable returns a number, string, array or image`);
}
