// Who may do what: access levels carried by every remote call, and the access modes of properties.

/** Caller privilege, lowest first (Karabo 2.x's five levels; 3.0 kept observer/operator/expert). */
export type AccessLevel = "observer" | "user" | "operator" | "expert" | "admin";

/** Every access level, lowest first. */
export const ACCESS_LEVELS: readonly AccessLevel[] = ["observer", "user", "operator", "expert", "admin"];

/** When a property may be written: only at instantiation, at any time, or never from outside. */
export type AccessMode = "init" | "reconfigurable" | "readOnly";

/** Karabo's accessMode bit flags (INIT=1, READ=2, WRITE=4), used when a schema becomes a Hash. */
export const ACCESS_MODE_FLAGS: Readonly<Record<AccessMode, number>> = {
  init: 1,
  readOnly: 2,
  reconfigurable: 4,
};

/** Rank of a level: 0 for observer up to 4 for admin. */
export function accessRank(level: AccessLevel): number {
  return ACCESS_LEVELS.indexOf(level);
}

/** True when `have` is at least `need`. */
export function hasAccess(have: AccessLevel, need: AccessLevel): boolean {
  return accessRank(have) >= accessRank(need);
}

/** True when `text` names an access level. */
export function isAccessLevel(text: unknown): text is AccessLevel {
  return typeof text === "string" && (ACCESS_LEVELS as readonly string[]).includes(text);
}

/** Who is calling: a user name for the audit log and the level they act with. */
export interface Caller {
  readonly user: string;
  readonly accessLevel: AccessLevel;
}

/** The caller used by code inside the facility itself (device servers, the timing link). */
export const SYSTEM_CALLER: Caller = { user: "system", accessLevel: "admin" };

/** The caller assumed when a request names none: may read, may not change anything. */
export const ANONYMOUS_CALLER: Caller = { user: "anonymous", accessLevel: "observer" };
