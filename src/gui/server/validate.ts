// Checks a reconfiguration against the device's schema before it is sent: every value is checked and
// the first fault is reported with the key it concerns, so nothing is applied unless all of it can be.
import { type ErrorCode, NUMERIC_SCALARS } from "../../core/index.ts";
import { type JsonValue, type PropertyInfo, type Role, roleLevel } from "../api.ts";
import { GuiRequestError } from "./backend.ts";

/**
 * Integer ranges of core's numeric-type table as JSON numbers can carry them: the 64-bit types are
 * limited to the safe integers, since the GUI's values arrive as JSON.
 */
const INT_RANGE: Readonly<Record<string, readonly [number, number]>> = Object.fromEntries(
  Object.entries(NUMERIC_SCALARS)
    .filter(([, info]) => info.min !== null && info.max !== null)
    .map(([type, info]) => [
      type,
      [
        Math.max(Number(info.min), Number.MIN_SAFE_INTEGER),
        Math.min(Number(info.max), Number.MAX_SAFE_INTEGER),
      ],
    ]),
);

/** What is wrong with a value: its error code and a text to follow the property's name. */
type Fault = readonly [code: ErrorCode, text: string];

/** Checks the number `v` for property `p`; returns the fault or null. */
function checkNumber(p: PropertyInfo, type: string, v: number): Fault | null {
  if (!Number.isFinite(v)) return ["WRONG_TYPE", "must be a finite number"];
  const ints = INT_RANGE[type];
  if (ints) {
    if (!Number.isInteger(v)) return ["WRONG_TYPE", "must be an integer"];
    if (v < ints[0] || v > ints[1])
      return ["OUT_OF_RANGE", `must be within ${ints[0]}..${ints[1]} (${type})`];
  }
  const u = p.unit ? ` ${p.unit}` : "";
  if (p.minInc !== undefined && v < p.minInc) return ["OUT_OF_RANGE", `must be ≥ ${p.minInc}${u}`];
  if (p.maxInc !== undefined && v > p.maxInc) return ["OUT_OF_RANGE", `must be ≤ ${p.maxInc}${u}`];
  if (p.minExc !== undefined && v <= p.minExc) return ["OUT_OF_RANGE", `must be > ${p.minExc}${u}`];
  if (p.maxExc !== undefined && v >= p.maxExc) return ["OUT_OF_RANGE", `must be < ${p.maxExc}${u}`];
  return null;
}

/** Checks one value against its property; returns the fault or null. */
export function checkValue(p: PropertyInfo, v: JsonValue): Fault | null {
  const t = p.valueType;
  if (t === "BOOL") return typeof v === "boolean" ? null : ["WRONG_TYPE", "must be true or false"];
  if (t === "STRING" || t === "CHAR") {
    if (typeof v !== "string") return ["WRONG_TYPE", "must be text"];
  } else if (t.startsWith("VECTOR_")) {
    if (!Array.isArray(v)) return ["WRONG_TYPE", "must be a list"];
    const elem = t.slice("VECTOR_".length);
    for (let i = 0; i < v.length; i++) {
      const e = v[i] as JsonValue;
      const err: Fault | null =
        elem === "STRING"
          ? typeof e === "string"
            ? null
            : ["WRONG_TYPE", "must be text"]
          : elem === "BOOL"
            ? typeof e === "boolean"
              ? null
              : ["WRONG_TYPE", "must be true or false"]
            : typeof e === "number"
              ? checkNumber(
                  { ...p, minInc: undefined, maxInc: undefined, minExc: undefined, maxExc: undefined },
                  elem,
                  e,
                )
              : ["WRONG_TYPE", "must be a number"];
      if (err) return [err[0], `element ${i} ${err[1]}`];
    }
    return null;
  } else if (INT_RANGE[t] || t === "FLOAT" || t === "DOUBLE") {
    if (typeof v !== "number") return ["WRONG_TYPE", "must be a number"];
    const err = checkNumber(p, t, v);
    if (err) return err;
  } else {
    return ["REFUSED", `cannot be set from the GUI (type ${t})`];
  }
  if (p.options && p.options.length > 0 && !p.options.includes(v as string | number)) {
    return ["NOT_IN_OPTIONS", `must be one of ${p.options.join(", ")}`];
  }
  return null;
}

/**
 * Checks a whole reconfiguration: each key exists, is reconfigurable, allowed in `state`, within the
 * role's access level, and its value fits the schema. Throws GuiRequestError naming the first bad key.
 */
export function validateReconfiguration(
  properties: readonly PropertyInfo[],
  values: Record<string, JsonValue>,
  role: Role,
  state: string,
): void {
  const keys = Object.keys(values);
  if (keys.length === 0) throw new GuiRequestError("nothing to set", undefined, "MISSING_KEY");
  const byKey = new Map(properties.map((p) => [p.key, p]));
  for (const key of keys) {
    const p = byKey.get(key);
    if (p?.kind !== "property") throw new GuiRequestError(`no property "${key}"`, key, "UNKNOWN_KEY");
    if (p.accessMode !== "reconfigurable") {
      throw new GuiRequestError(
        `${key} is ${p.accessMode === "read" ? "read-only" : "set only at start-up"}`,
        key,
        p.accessMode === "read" ? "READ_ONLY" : "INIT_ONLY",
      );
    }
    const need = Math.max(1, p.requiredAccessLevel);
    if (roleLevel(role) < need) {
      throw new GuiRequestError(
        `${key} needs the ${need >= 2 ? "expert" : "operator"} role; you are ${role}`,
        key,
        "ACCESS_DENIED",
      );
    }
    if (p.allowedStates.length > 0 && !p.allowedStates.includes(state)) {
      throw new GuiRequestError(
        `${key} can only be changed in ${p.allowedStates.join("/")}, not ${state}`,
        key,
        "WRONG_STATE",
      );
    }
    const err = checkValue(p, values[key] as JsonValue);
    if (err) throw new GuiRequestError(`${p.displayedName || key} ${err[1]}`, key, err[0]);
  }
}

/** Checks that `role` may call `slot` in `state`; throws GuiRequestError otherwise. */
export function validateSlotCall(
  properties: readonly PropertyInfo[],
  slot: string,
  role: Role,
  state: string,
): void {
  const p = properties.find((q) => q.key === slot);
  if (p?.kind !== "slot") throw new GuiRequestError(`no slot "${slot}"`, slot, "UNKNOWN_SLOT");
  const need = Math.max(1, p.requiredAccessLevel);
  if (roleLevel(role) < need) {
    throw new GuiRequestError(
      `${slot} needs the ${need >= 2 ? "expert" : "operator"} role; you are ${role}`,
      slot,
      "ACCESS_DENIED",
    );
  }
  if (p.allowedStates.length > 0 && !p.allowedStates.includes(state)) {
    throw new GuiRequestError(
      `${slot} is only allowed in ${p.allowedStates.join("/")}, not ${state}`,
      slot,
      "WRONG_STATE",
    );
  }
}
