// Typed errors of the Hash container. Each names the path concerned; `instanceof HashError` matches all
// of them, while HashTypeError and HashRangeError are also TypeError and RangeError.

const BRAND = Symbol("sase.HashError");

/** Base of every Hash error; `path` names the node concerned. Also matches HashRangeError/HashTypeError. */
export class HashError extends Error {
  readonly path: string;
  readonly [BRAND] = true;
  constructor(path: string, message: string) {
    super(message);
    this.name = "HashError";
    this.path = path;
  }
  // `this` is the class `instanceof` was asked about: HashError itself matches by brand, subclasses normally.
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: must distinguish HashError from its subclasses
    if (this === HashError) return typeof value === "object" && value !== null && BRAND in value;
    // biome-ignore lint/complexity/noThisInStatic: ordinary prototype check for the subclass asked about
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** A path that does not exist (or cannot be walked). */
export class HashKeyError extends HashError {
  constructor(path: string, message = `no such key "${path}" in Hash`) {
    super(path, message);
    this.name = "HashKeyError";
  }
}

/** A value whose JS kind does not fit the node's type (a string into INT32, ...). */
export class HashTypeError extends TypeError {
  readonly path: string;
  readonly [BRAND] = true;
  constructor(path: string, message: string) {
    super(message);
    this.name = "HashTypeError";
    this.path = path;
  }
}

/** A number outside the range of the node's type (300 into UINT8, 1.5 into INT32, ...). */
export class HashRangeError extends RangeError {
  readonly path: string;
  readonly [BRAND] = true;
  constructor(path: string, message: string) {
    super(message);
    this.name = "HashRangeError";
    this.path = path;
  }
}
