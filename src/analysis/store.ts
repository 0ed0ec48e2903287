// Graph documents of each proposal on disk: <root>/p<proposal>/<name>.json holds the latest revision,
// <name>.r<revision>.json every earlier one (a save never loses the previous graph). Files are the
// canonical text, so `diff` between two revisions shows what changed.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatGraph, type GraphDocument, parseGraphDocument } from "./graph.ts";

/** Where a facility keeps its analysis graphs. */
export class GraphStore {
  constructor(readonly root: string) {}

  #dir(proposal: number): string {
    return join(this.root, `p${String(proposal).padStart(6, "0")}`);
  }

  /** Saves `doc` as its proposal's next revision of `doc.name`; returns the saved document. */
  save(doc: GraphDocument): GraphDocument {
    const dir = this.#dir(doc.proposal);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${doc.name}.json`);
    const previous = this.load(doc.proposal, doc.name);
    const saved = { ...doc, revision: (previous?.revision ?? 0) + 1 };
    if (previous)
      renameSync(path, join(dir, `${doc.name}.r${String(previous.revision).padStart(4, "0")}.json`));
    const tmp = `${path}.${process.pid}.part`;
    writeFileSync(tmp, formatGraph(saved));
    renameSync(tmp, path);
    return saved;
  }

  /** The latest revision of a graph, or null. */
  load(proposal: number, name: string): GraphDocument | null {
    try {
      return parseGraphDocument(JSON.parse(readFileSync(join(this.#dir(proposal), `${name}.json`), "utf8")));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  /** Names of a proposal's graphs, most recently saved first. */
  list(proposal: number): string[] {
    let names: string[];
    try {
      names = readdirSync(this.#dir(proposal)).filter((f) => /^[^.].*(?<!\.r\d{4})\.json$/.test(f));
    } catch {
      return [];
    }
    const mtime = (f: string) => statSync(join(this.#dir(proposal), f)).mtimeMs;
    return names.sort((a, b) => mtime(b) - mtime(a)).map((f) => f.slice(0, -5));
  }

  /** The proposal's most recently saved graph, or null. */
  latest(proposal: number): GraphDocument | null {
    const [name] = this.list(proposal);
    return name ? this.load(proposal, name) : null;
  }
}
