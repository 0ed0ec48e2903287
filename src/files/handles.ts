// The open files of one run, shared by its DataCollection and every KeyData taken from it: through
// HDF5 and without it (rawh5.ts), at most MAX_OPEN_FILES of each kind at once, the least recently used
// closed first.
import { join } from "node:path";
import { directReadsOn, H5File } from "./h5.ts";
import type { KeyDType } from "./element-types.ts";
import { type RawDataset, RawH5File, type RawStrings } from "./rawh5.ts";
import type { FileEntry, Section } from "./model.ts";
import type { RunIndex } from "./runindex.ts";

const MAX_OPEN_FILES = 64;

/** Open handles by file name, most recently used last; past MAX_OPEN_FILES the oldest is closed. */
class RecentlyUsed<T extends { close(): void }> {
  private readonly open = new Map<string, T>();

  /** The handle of `name`, opened with `open` if it is not open. */
  get(name: string, open: () => T): T {
    const known = this.open.get(name);
    if (known) {
      this.open.delete(name);
      this.open.set(name, known);
      return known;
    }
    const handle = open();
    this.open.set(name, handle);
    if (this.open.size > MAX_OPEN_FILES) {
      const [oldest, old] = this.open.entries().next().value as [string, T];
      old.close();
      this.open.delete(oldest);
    }
    return handle;
  }

  /** The handle of `name` if it is open, leaving the order as it is. */
  peek(name: string): T | undefined {
    return this.open.get(name);
  }

  closeAll(): void {
    for (const h of this.open.values()) h.close();
    this.open.clear();
  }
}

/** Open files of one run: through HDF5, and without it (see rawh5.ts). */
export class FileHandles {
  private readonly h5 = new RecentlyUsed<H5File>();
  private readonly raw = new RecentlyUsed<RawH5File>();
  constructor(readonly dir: string) {}

  /** A dataset of file `name` found without HDF5, or null (read it through HDF5). */
  rawDataset(name: string, path: string, dtype: KeyDType): RawDataset | null {
    if (!directReadsOn() || dtype === "object" || dtype === "record" || dtype === "bool") return null;
    return this.rawFile(name)?.dataset(path, dtype) ?? null;
  }

  /** A string dataset of file `name` found without HDF5, or null. */
  rawStrings(name: string, path: string): RawStrings | null {
    return directReadsOn() ? (this.rawFile(name)?.strings(path) ?? null) : null;
  }

  /** Rows of a string dataset read without HDF5, or null (read them through HDF5). */
  readRawStrings(name: string, path: string, start: number, count: number): string[] | null {
    return directReadsOn() ? (this.rawFile(name)?.readStrings(path, start, count) ?? null) : null;
  }

  private rawFile(name: string): RawH5File | null {
    try {
      return this.raw.get(name, () => RawH5File.open(join(this.dir, name)));
    } catch {
      return null; // HDF5 will say what is wrong with the file
    }
  }

  rawFd(name: string): number {
    return this.raw.peek(name)?.fd ?? -1;
  }

  get(name: string): H5File {
    return this.h5.get(name, () => H5File.open(join(this.dir, name)));
  }

  closeAll(): void {
    this.h5.closeAll();
    this.raw.closeAll();
  }
}

/** An open run: its index, its files, and its sources as read from the index. */
export interface RunState {
  readonly index: RunIndex;
  readonly handles: FileHandles;
  readonly includeSuspect: boolean;
  /** Source → section and the files holding it (in train order). */
  readonly sources: ReadonlyMap<string, { section: Section; files: FileEntry[] }>;
}
