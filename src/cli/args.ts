// Argument parsers shared by every command. Each throws commander's InvalidArgumentError, so a bad
// argument becomes one line naming the option, the value and what is allowed, with exit code 2:
//   sase: option '--trains <n>' argument '-5' is invalid. expected an integer ≥ 1
import { existsSync, statSync } from "node:fs";
import { type Command, CommanderError, InvalidArgumentError } from "commander";

/** What a range allows, in words: "an integer ≥ 1", "an integer from 1 to 16", "a number > 0". */
function allowed(what: string, min?: number, max?: number, minExclusive = false): string {
  if (min !== undefined && max !== undefined) return `${what} from ${min} to ${max}`;
  if (min !== undefined) return `${what} ${minExclusive ? ">" : "≥"} ${min}`;
  if (max !== undefined) return `${what} ≤ ${max}`;
  return what;
}

/** Parser of an integer in min..max (both optional, inclusive). */
export function integer(min?: number, max?: number): (text: string) => number {
  const expected = `expected ${allowed("an integer", min, max)}`;
  return (text) => {
    const v = Number(text);
    if (!/^\s*[+-]?\d+\s*$/.test(text) || !Number.isSafeInteger(v)) throw new InvalidArgumentError(expected);
    if ((min !== undefined && v < min) || (max !== undefined && v > max))
      throw new InvalidArgumentError(expected);
    return v;
  };
}

/** Parser of a finite number; `above` excludes its bound (rates, timeouts: > 0). */
export function number(range: { min?: number; max?: number; above?: number } = {}): (text: string) => number {
  const low = range.above ?? range.min;
  const expected = `expected ${allowed("a number", low, range.max, range.above !== undefined)}`;
  return (text) => {
    const v = Number(text);
    if (text.trim() === "" || !Number.isFinite(v)) throw new InvalidArgumentError(expected);
    if (range.min !== undefined && v < range.min) throw new InvalidArgumentError(expected);
    if (range.above !== undefined && v <= range.above) throw new InvalidArgumentError(expected);
    if (range.max !== undefined && v > range.max) throw new InvalidArgumentError(expected);
    return v;
  };
}

/** Parser of a TCP port, 1..65535; with `anyFree`, 0 asks the system for a free one. */
export function port(opts: { anyFree?: boolean } = {}): (text: string) => number {
  const expected = opts.anyFree
    ? "expected a port from 1 to 65535, or 0 for any free port"
    : "expected a port from 1 to 65535";
  const parse = integer(opts.anyFree ? 0 : 1, 65535);
  return (text) => {
    try {
      return parse(text);
    } catch {
      throw new InvalidArgumentError(expected);
    }
  };
}

/** Parser of a list of integers in min..max written like 0-3,8. */
export function integerList(min: number, max: number): (text: string) => number[] {
  const expected = `expected a list of integers from ${min} to ${max}, like 0-3,8`;
  return (text) => {
    const out: number[] = [];
    for (const part of text.split(",")) {
      const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
      if (!m) throw new InvalidArgumentError(expected);
      const a = Number(m[1]);
      const b = m[2] === undefined ? a : Number(m[2]);
      if (a < min || b > max || b < a) throw new InvalidArgumentError(expected);
      for (let i = a; i <= b; i++) out.push(i);
    }
    return out;
  };
}

/** Parser of a path that must exist (and be a directory or a file, when `kind` says so). */
export function existingPath(kind: "any" | "file" | "directory" = "any"): (text: string) => string {
  return (text) => {
    let isDir: boolean;
    try {
      isDir = statSync(text).isDirectory();
    } catch {
      throw new InvalidArgumentError(
        `no such ${kind === "any" ? "file or directory" : kind}; expected an existing ${kind === "any" ? "path" : kind}`,
      );
    }
    if (kind === "directory" && !isDir)
      throw new InvalidArgumentError("not a directory; expected a directory");
    if (kind === "file" && isDir) throw new InvalidArgumentError("is a directory; expected a file");
    return text;
  };
}

/** Parser of a path that must not exist yet (a file a command creates). */
export function newPath(): (text: string) => string {
  return (text) => {
    if (existsSync(text))
      throw new InvalidArgumentError("already exists; expected a path that does not exist");
    return text;
  };
}

/**
 * A usage error found after parsing (a value allowed alone but not with the other options, e.g.
 * --modules 20 for a 16-module detector): the same one line and exit code 2 as a parser's error.
 */
export function invalidOption(cmd: Command, flag: string, value: unknown, expected: string): never {
  const option = cmd.options.find((o) => o.long === flag || o.short === flag);
  const message = `error: option '${option?.flags ?? flag}' argument '${String(value)}' is invalid. ${expected}`;
  cmd.error(message, { exitCode: 2, code: "commander.invalidArgument" });
  // cmd.error exits or throws; this line keeps the type checker sure of it.
  throw new CommanderError(2, "commander.invalidArgument", message);
}
