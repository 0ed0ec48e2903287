// The user node: a TypeScript function in one file, loaded and reloaded while the graph runs (edit the
// file during a shift and the next train uses the new code). The file declares its ports and exports
// its function as default:
//
//   import type { UserNode } from "sase";
//   export default {
//     inputs: { image: "image" },
//     outputs: { brightest: "scalar" },
//     run: ({ image }) => ({ brightest: Math.max(...image.data.filter((v) => !Number.isNaN(v))) }),
//   } satisfies UserNode;
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { transform } from "esbuild";
import type { NodeInputs, NodeOutputs } from "./node.ts";
import { GraphError } from "./params.ts";
import type { AnalysisTrain, PortType } from "./types.ts";

/** What a user node's file exports as default. */
export interface UserNode {
  readonly inputs: Readonly<Record<string, PortType>>;
  readonly outputs: Readonly<Record<string, PortType>>;
  /** Outputs for one train, or null to skip it; `state` persists across trains until reset. */
  run(inputs: NodeInputs, train: AnalysisTrain, state: Record<string, unknown>): NodeOutputs | null;
}

const PORT_TYPES: readonly string[] = ["scalar", "vector", "image"];

function checkPorts(v: unknown, path: string): Record<string, PortType> {
  if (typeof v !== "object" || v === null) throw new GraphError(path, "expected an object of port types");
  for (const [k, t] of Object.entries(v)) {
    if (!PORT_TYPES.includes(t as string)) {
      throw new GraphError(
        `${path}.${k}`,
        `port type must be scalar, vector or image, got ${JSON.stringify(t)}`,
      );
    }
  }
  return v as Record<string, PortType>;
}

/**
 * Imports a user node file and checks its exports. The file is compiled to an ES module (esbuild, as
 * tsx does) in a temporary folder, named by its content: an edited file is a new module, which neither
 * node's nor tsx's module cache can hide, and nothing is written beside the user's file. Type-only
 * imports (`import type … from "sase"`) vanish in compilation; the file imports only node's modules.
 */
export async function importUserNode(file: string): Promise<UserNode> {
  let mod: { default?: unknown };
  try {
    const text = readFileSync(file, "utf8");
    const hash = createHash("sha256").update(text).digest("hex").slice(0, 16);
    const js = await transform(text, { loader: "ts", format: "esm", sourcefile: file, target: "node20" });
    const dir = join(tmpdir(), "sase-user-nodes");
    mkdirSync(dir, { recursive: true });
    const compiled = join(dir, `node-${hash}.mjs`);
    writeFileSync(compiled, js.code);
    mod = (await import(pathToFileURL(compiled).href)) as { default?: unknown };
  } catch (e) {
    throw new GraphError(file, `cannot load the user node: ${(e as Error).message.split("\n")[0]}`);
  }
  const d = mod.default as Partial<UserNode> | undefined;
  if (!d || typeof d !== "object" || typeof d.run !== "function") {
    throw new GraphError(file, "a user node file must export default { inputs, outputs, run }");
  }
  return {
    inputs: checkPorts(d.inputs, `${file}: inputs`),
    outputs: checkPorts(d.outputs, `${file}: outputs`),
    run: d.run,
  };
}

/**
 * A user node file kept current: loaded once, then reloaded whenever it changes on disk. A reload
 * that fails (a syntax error mid-edit) keeps the previous code and reports the error.
 */
export class UserNodeFile {
  readonly path: string;
  #node: UserNode;
  #version: number;
  #timer: NodeJS.Timeout | null = null;
  #loading: Promise<void> | null = null;
  #dirty = false;
  /** The last reload error, or null. */
  error: string | null = null;
  /** Reloads so far (for the GUI and tests). */
  reloads = 0;
  onReload: ((file: UserNodeFile) => void) | null = null;

  private constructor(path: string, node: UserNode, version: number) {
    this.path = path;
    this.#node = node;
    this.#version = version;
  }

  /** Loads `file` (relative paths from `baseDir`). */
  static async load(file: string, baseDir: string): Promise<UserNodeFile> {
    const path = isAbsolute(file) ? file : resolve(baseDir, file);
    let version: number;
    try {
      version = statSync(path).mtimeMs;
    } catch {
      throw new GraphError(file, `no user node file at ${path}`);
    }
    return new UserNodeFile(path, await importUserNode(path), version);
  }

  /** The current code. */
  get node(): UserNode {
    return this.#node;
  }

  /**
   * Starts reloading on change: polls the file's time stamp (works on every file system) against the
   * version loaded, so a change made before the first poll is not missed.
   */
  watch(intervalMs = 200): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      let mtime: number;
      try {
        mtime = statSync(this.path).mtimeMs;
      } catch {
        return; // being replaced by an editor: look again next time
      }
      if (mtime !== this.#version && !this.#loading) void this.reload();
    }, intervalMs);
    this.#timer.unref();
  }

  /**
   * Loads the file again. Reloads never overlap: a change seen while one is under way loads again after
   * it, so the code in use is always the file's latest content.
   */
  reload(): Promise<void> {
    if (this.#loading) {
      this.#dirty = true;
      return this.#loading;
    }
    this.#loading = (async () => {
      do {
        this.#dirty = false;
        const version = statSync(this.path).mtimeMs;
        try {
          this.#node = await importUserNode(this.path);
          this.error = null;
          this.reloads++;
        } catch (e) {
          this.error = (e as Error).message;
        }
        this.#version = version;
      } while (this.#dirty);
      this.#loading = null;
      this.onReload?.(this);
    })();
    return this.#loading;
  }

  /** Stops watching. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
