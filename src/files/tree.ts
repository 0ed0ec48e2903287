// One listing of every object in an HDF5 file, so that a scan asks "is this a dataset?" of a set
// instead of HDF5 (a call through h5wasm each). Loading it also puts the block cache (readcache.ts)
// under h5wasm's reads.
import { h5Error, type H5File } from "./h5.ts";
import { FilesError } from "./errors.ts";
import { installReadCache } from "./readcache.ts";

type Names = (fileId: bigint, path: string, recursive: boolean) => string[];
let getNames: Names | undefined;

/** Loads what fileTree needs and installs the read cache (idempotent; after h5Ready or instead of it). */
export async function treeReady(): Promise<void> {
  if (getNames) return;
  const loaded = await import("h5wasm/node");
  const m = await loaded.ready;
  installReadCache(m.FS as unknown as Parameters<typeof installReadCache>[0]);
  getNames = (id, path, recursive) => m.get_names(id, path, recursive);
}

/** True once treeReady has run. */
export function treeLoaded(): boolean {
  return getNames !== undefined;
}

/** Every object of an open file, from one HDF5 call. */
export function fileTree(h5: H5File): H5Tree {
  if (!getNames) {
    throw new FilesError("the object listing is not loaded (treeReady() not awaited)", {
      file: h5.path,
      code: "WRONG_STATE",
    });
  }
  try {
    return new H5Tree(getNames(h5.id, "/", true));
  } catch (err) {
    throw h5Error(h5.path, "/", err);
  }
}

/** The object paths of a file, from one listing (see fileTree). */
export class H5Tree {
  private readonly groups = new Set<string>(["/"]);
  private readonly leaves = new Set<string>();
  /** Leaf paths directly below each group. */
  private readonly below = new Map<string, string[]>();

  constructor(names: readonly string[]) {
    for (const n of names) {
      const path = n.startsWith("/") ? n : `/${n}`;
      for (let i = path.indexOf("/", 1); i > 0; i = path.indexOf("/", i + 1))
        this.groups.add(path.slice(0, i));
    }
    for (const n of names) {
      const path = n.startsWith("/") ? n : `/${n}`;
      if (this.groups.has(path)) continue;
      this.leaves.add(path);
      const parent = path.slice(0, path.lastIndexOf("/")) || "/";
      const list = this.below.get(parent);
      if (list) list.push(path);
      else this.below.set(parent, [path]);
    }
  }

  /** True when something sits below `path`. */
  isGroup(path: string): boolean {
    return this.groups.has(path);
  }

  /** True when `path` is a leaf: a dataset (or an empty group, which reading it tells apart). */
  isLeaf(path: string): boolean {
    return this.leaves.has(path);
  }

  /** Leaves directly in group `path` (names only). */
  leavesIn(path: string): string[] {
    return (this.below.get(path) ?? []).map((p) => p.slice(p.lastIndexOf("/") + 1));
  }

  /** Leaves anywhere below group `path`, relative to it ("image/data"). */
  leavesBelow(path: string): string[] {
    const prefix = `${path}/`;
    const out: string[] = [];
    for (const p of this.leaves) if (p.startsWith(prefix)) out.push(p.slice(prefix.length));
    return out;
  }
}
