import { SaseError } from "../core/index.ts";
// Node parameters described as data: the GUI editor draws a form from the description and the graph
// validator checks a document against it, so a node's parameters are declared once.

/** A rectangle or a polygon on the assembled image, in pixels (x right, y down, row 0 at the top). */
export type Shape =
  | { readonly type: "rect"; readonly x: number; readonly y: number; readonly w: number; readonly h: number }
  | { readonly type: "polygon"; readonly points: readonly (readonly [number, number])[] }
  /** Centre (x, y) and radius r, in pixels. */
  | { readonly type: "circle"; readonly x: number; readonly y: number; readonly r: number };

/** What one parameter may hold. */
export type ParamSpec =
  | { type: "number"; default: number; min?: number; max?: number; doc: string }
  | { type: "integer"; default: number; min?: number; max?: number; doc: string }
  | { type: "boolean"; default: boolean; doc: string }
  | { type: "string"; default: string; doc: string }
  | { type: "enum"; default: string; options: readonly string[]; doc: string }
  /** A list of integers, e.g. pulse indices. */
  | { type: "integers"; default: readonly number[]; doc: string }
  | { type: "shapes"; default: readonly Shape[]; doc: string };

/** A parameter's value after validation. */
export type ParamValue = number | boolean | string | readonly number[] | readonly Shape[];

/** Parameters of one node, validated and completed with defaults. */
export type Params = Readonly<Record<string, ParamValue>>;

/** Thrown for a document that does not describe a valid graph; `path` names the offending field. */
export class GraphError extends SaseError {
  override readonly name = "GraphError";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super("BAD_GRAPH", `${path}: ${message}`, { key: path });
  }
}

function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function checkShape(v: unknown, path: string): Shape {
  if (typeof v !== "object" || v === null) throw new GraphError(path, "expected a shape object");
  const s = v as Record<string, unknown>;
  if (s.type === "rect") {
    for (const k of ["x", "y", "w", "h"]) {
      if (!finite(s[k]))
        throw new GraphError(`${path}.${k}`, `expected a number, got ${JSON.stringify(s[k])}`);
    }
    if ((s.w as number) <= 0 || (s.h as number) <= 0) throw new GraphError(path, "w and h must be positive");
    return { type: "rect", x: s.x as number, y: s.y as number, w: s.w as number, h: s.h as number };
  }
  if (s.type === "circle") {
    for (const k of ["x", "y", "r"]) {
      if (!finite(s[k]))
        throw new GraphError(`${path}.${k}`, `expected a number, got ${JSON.stringify(s[k])}`);
    }
    if ((s.r as number) <= 0) throw new GraphError(`${path}.r`, "the radius must be positive");
    return { type: "circle", x: s.x as number, y: s.y as number, r: s.r as number };
  }
  if (s.type === "polygon") {
    const pts = s.points;
    if (!Array.isArray(pts) || pts.length < 3)
      throw new GraphError(`${path}.points`, "a polygon needs ≥ 3 points");
    return {
      type: "polygon",
      points: pts.map((p, i) => {
        if (!Array.isArray(p) || p.length !== 2 || !finite(p[0]) || !finite(p[1])) {
          throw new GraphError(`${path}.points[${i}]`, "expected [x, y]");
        }
        return [p[0], p[1]] as const;
      }),
    };
  }
  throw new GraphError(
    `${path}.type`,
    `expected "rect", "circle" or "polygon", got ${JSON.stringify(s.type)}`,
  );
}

/** Checks one value against its spec; the error names `path` and what was expected. */
export function checkParam(spec: ParamSpec, v: unknown, path: string): ParamValue {
  const got = JSON.stringify(v);
  switch (spec.type) {
    case "number":
    case "integer": {
      if (!finite(v)) throw new GraphError(path, `expected a number, got ${got}`);
      if (spec.type === "integer" && !Number.isInteger(v))
        throw new GraphError(path, `expected an integer, got ${got}`);
      if (spec.min !== undefined && v < spec.min)
        throw new GraphError(path, `must be ≥ ${spec.min}, got ${got}`);
      if (spec.max !== undefined && v > spec.max)
        throw new GraphError(path, `must be ≤ ${spec.max}, got ${got}`);
      return v;
    }
    case "boolean":
      if (typeof v !== "boolean") throw new GraphError(path, `expected true or false, got ${got}`);
      return v;
    case "string":
      if (typeof v !== "string") throw new GraphError(path, `expected a string, got ${got}`);
      return v;
    case "enum":
      if (typeof v !== "string" || !spec.options.includes(v)) {
        throw new GraphError(path, `expected one of ${spec.options.join(", ")}, got ${got}`);
      }
      return v;
    case "integers":
      if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0)) {
        throw new GraphError(path, `expected a list of non-negative integers, got ${got}`);
      }
      return v as number[];
    case "shapes":
      if (!Array.isArray(v)) throw new GraphError(path, `expected a list of shapes, got ${got}`);
      return v.map((s, i) => checkShape(s, `${path}[${i}]`));
  }
}

/** Validates `raw` against `specs`: unknown names are refused, missing ones take their default. */
export function checkParams(specs: Readonly<Record<string, ParamSpec>>, raw: unknown, path: string): Params {
  if (raw === undefined) raw = {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new GraphError(path, "expected an object of parameters");
  }
  const out: Record<string, ParamValue> = {};
  for (const key of Object.keys(raw)) {
    if (!(key in specs)) {
      const known = Object.keys(specs);
      throw new GraphError(
        `${path}.${key}`,
        `unknown parameter${known.length ? `; this node takes ${known.join(", ")}` : "; this node takes none"}`,
      );
    }
  }
  for (const [key, spec] of Object.entries(specs)) {
    const v = (raw as Record<string, unknown>)[key];
    out[key] = v === undefined ? spec.default : checkParam(spec, v, `${path}.${key}`);
  }
  return out;
}
