// Users, roles and session tokens. Passwords are kept only as scrypt hashes; tokens are random and
// live only in this server's memory, so restarting the GUI logs everyone out (observers need no login).
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { ROLES, type Role } from "../api.ts";
import { SaseError } from "../../core/index.ts";

/** One user as stored in the users file: `hash` is `scrypt:<salt hex>:<key hex>`. */
export interface UserRecord {
  name: string;
  role: Role;
  hash: string;
}

/** Who is behind a connection. */
export interface Identity {
  user: string;
  role: Role;
}

/** A visitor who did not log in: sees everything, changes nothing. */
export const ANONYMOUS: Identity = { user: "anonymous", role: "observer" };

const KEY_LEN = 32;

/** The stored form of a password: a fresh salt and its scrypt key. */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, KEY_LEN);
  return `scrypt:${salt.toString("hex")}:${key.toString("hex")}`;
}

/** Whether `password` matches a stored hash (constant-time compare). */
export function verifyPassword(password: string, stored: string): boolean {
  const [scheme, saltHex, keyHex] = stored.split(":");
  if (scheme !== "scrypt" || !saltHex || !keyHex) return false;
  const want = Buffer.from(keyHex, "hex");
  const got = scryptSync(password, Buffer.from(saltHex, "hex"), want.length);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Checks untrusted users-file content and names the first bad entry. */
export function parseUsers(json: unknown, origin: string): UserRecord[] {
  if (!Array.isArray(json))
    throw new SaseError("BAD_USERS_FILE", `${origin}: expected a JSON array of users`);
  return json.map((u: unknown, i) => {
    const r = u as Partial<UserRecord> | null;
    if (!r || typeof r.name !== "string" || !r.name)
      throw new SaseError("BAD_USERS_FILE", `${origin}[${i}]: missing "name"`);
    if (!ROLES.includes(r.role as Role)) {
      throw new SaseError(
        "BAD_USERS_FILE",
        `${origin}[${i}] (${r.name}): role must be one of ${ROLES.join(", ")}`,
      );
    }
    if (typeof r.hash !== "string" || !r.hash.startsWith("scrypt:")) {
      throw new SaseError(
        "BAD_USERS_FILE",
        `${origin}[${i}] (${r.name}): "hash" must be an scrypt hash (use \`sase gui hash-password\`)`,
      );
    }
    return { name: r.name, role: r.role as Role, hash: r.hash };
  });
}

/** Reads a users file (JSON array of UserRecord). */
export function loadUsersFile(path: string): UserRecord[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SaseError("BAD_USERS_FILE", `users file ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SaseError("BAD_USERS_FILE", `users file ${path}: not JSON (${(e as Error).message})`);
  }
  return parseUsers(json, path);
}

/** The demo users of a fresh facility: the password is the user name (documented in the README). */
export function demoUsers(): UserRecord[] {
  return [
    { name: "observer", role: "observer", hash: hashPassword("observer") },
    { name: "operator", role: "operator", hash: hashPassword("operator") },
    { name: "expert", role: "expert", hash: hashPassword("expert") },
  ];
}

/** Logs users in and maps tokens back to identities. */
export class Auth {
  readonly #users = new Map<string, UserRecord>();
  readonly #tokens = new Map<string, { identity: Identity; expires: number }>();
  readonly #ttlMs: number;

  constructor(users: UserRecord[], ttlMs = 24 * 3600_000) {
    for (const u of users) this.#users.set(u.name, u);
    this.#ttlMs = ttlMs;
  }

  /** A fresh token for a correct user name and password, or null. */
  login(name: string, password: string): { token: string; identity: Identity } | null {
    const u = this.#users.get(name);
    // Hash even for unknown users so response time does not reveal which names exist.
    const ok = verifyPassword(password, u?.hash ?? "scrypt:00:00");
    if (!u || !ok) return null;
    const token = randomBytes(24).toString("base64url");
    const identity = { user: u.name, role: u.role };
    this.#tokens.set(token, { identity, expires: Date.now() + this.#ttlMs });
    return { token, identity };
  }

  /** The identity of a token; an absent, unknown or expired token is the anonymous observer. */
  identify(token: string | undefined | null): Identity {
    if (!token) return ANONYMOUS;
    const t = this.#tokens.get(token);
    if (!t) return ANONYMOUS;
    if (t.expires < Date.now()) {
      this.#tokens.delete(token);
      return ANONYMOUS;
    }
    return t.identity;
  }

  /** Forgets a token. */
  logout(token: string): void {
    this.#tokens.delete(token);
  }
}
