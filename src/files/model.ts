// What the reader knows about a run without reading its data: per file, the trains, the sources and
// their index (first/count per train), and per source the keys with dtype and entry shape.
import type { KeyDType, RecordField } from "./element-types.ts";

/** The two sections whose data is per train. */
export type Section = "CONTROL" | "INSTRUMENT";

/** Type and per-entry shape of a key. */
export interface KeyInfo {
  readonly dtype: KeyDType;
  readonly entryShape: readonly number[];
  /** The fields of a record (compound) key. */
  readonly fields?: readonly RecordField[];
}

/** A dataset the reader cannot decode: left out of the keys, reported once per source and key. */
export interface SkippedKey {
  readonly file: string;
  readonly source: string;
  readonly key: string;
  readonly message: string;
}

/** INDEX/<source>/<group>: for each train of the file, where its entries start and how many there are. */
export interface GroupIndex {
  readonly first: Float64Array;
  readonly count: Float64Array;
}

/** One source as one file holds it. */
export interface FileSource {
  readonly section: Section;
  /** Index groups: "" for control sources, the first key component (image, data, ...) for instrument. */
  readonly groups: ReadonlyMap<string, GroupIndex>;
  readonly keys: ReadonlyMap<string, KeyInfo>;
}

/** METADATA values of a file (strings and numbers). */
export type RunMetadata = Record<string, string | number>;

/** A RUN-section value: a scalar, a string or a short array. */
export type RunValue = number | string | boolean | readonly (number | string)[];

/** Everything the reader needs from one file, without its data. */
export interface FileEntry {
  readonly name: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly formatVersion: string;
  /** Train IDs of the file (trailing zero padding removed). */
  readonly trainIds: Float64Array;
  /** 1 where the train is valid (INDEX/flag, or guessed from order for format 0.5). */
  readonly valid: Uint8Array;
  /** METADATA, read for a run's first file only (the run's metadata, as EXtra-data takes it). */
  readonly metadata?: RunMetadata;
  readonly sources: ReadonlyMap<string, FileSource>;
  /** Datasets left out because sase cannot decode their type. */
  readonly skipped: readonly SkippedKey[];
}

/** A file that could not be read, and why. */
export interface FileProblem {
  readonly file: string;
  readonly message: string;
}
