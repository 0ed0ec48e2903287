// Typed errors of the Hash container. Each names the path concerned; `instanceof HashError` matches all
// of them, and their codes (HASH_KEY, HASH_TYPE, HASH_RANGE, HASH_LIMIT) tell them apart on the wire.
import { type ErrorCode, SaseError } from "./errors.ts";

/** Base of every Hash error; `path` names the node concerned. Used directly for Karabo's size limits. */
export class HashError extends SaseError {
  override name = "HashError";
  readonly path: string;
  constructor(path: string, message: string, code: ErrorCode = "HASH_LIMIT") {
    super(code, message, { key: path });
    this.path = path;
  }
}

/** A path that does not exist (or cannot be walked). */
export class HashKeyError extends HashError {
  override name = "HashKeyError";
  constructor(path: string, message = `no such key "${path}" in Hash`) {
    super(path, message, "HASH_KEY");
  }
}

/** A value whose JS kind does not fit the node's type (a string into INT32, ...). */
export class HashTypeError extends HashError {
  override name = "HashTypeError";
  constructor(path: string, message: string) {
    super(path, message, "HASH_TYPE");
  }
}

/** A number outside the range of the node's type (300 into UINT8, 1.5 into INT32, ...). */
export class HashRangeError extends HashError {
  override name = "HashRangeError";
  constructor(path: string, message: string) {
    super(path, message, "HASH_RANGE");
  }
}
