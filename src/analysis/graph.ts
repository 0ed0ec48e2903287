// The analysis graph as a document: JSON, versioned by format and revision, written with a stable key
// order and one node per block so two revisions diff line by line. Validation turns a document into a
// checked graph (node kinds, parameters, typed edges, no cycles) or throws a GraphError naming the
// field at fault, e.g. `nodes[2] "corr".inputs.y: "roi1.summ" — roi1 has no output summ (sum, mean, …)`.
import { closestName } from "../core/index.ts";
import { NODE_KINDS } from "./kinds.ts";
import { acceptedTypes, type InputSpec, type NodeKind } from "./node.ts";
import { checkParams, GraphError, type Params } from "./params.ts";
import type { UserNode } from "./user-node.ts";
import type { PortType } from "./types.ts";

export const GRAPH_FORMAT = "sase.analysis-graph";
/** Version of the document's layout; documents of a newer one are refused. */
export const GRAPH_VERSION = 1;

/** A JSON value of a parameter. */
export type JsonParam = null | boolean | number | string | JsonParam[] | { [key: string]: JsonParam };

/** One node as stored: its id, kind, parameters (defaults may be left out) and input edges. */
export interface GraphNodeDoc {
  id: string;
  kind: string;
  params?: Record<string, JsonParam>;
  /** Input port → "nodeId.outputPort". */
  inputs?: Record<string, string>;
}

/** An analysis graph document, one of a proposal's. */
export interface GraphDocument {
  format: typeof GRAPH_FORMAT;
  version: number;
  proposal: number;
  name: string;
  /** Incremented on every save (the store keeps every revision). */
  revision: number;
  nodes: GraphNodeDoc[];
}

/** A node after validation. */
export interface CheckedNode {
  readonly id: string;
  readonly kind: NodeKind;
  readonly params: Params;
  /** Input port → the output it reads. */
  readonly inputs: ReadonlyMap<string, { node: string; port: string }>;
  readonly inputTypes: Readonly<Record<string, InputSpec>>;
  readonly outputs: Readonly<Record<string, PortType>>;
}

/** A validated graph: nodes in an order where every node comes after those it reads. */
export interface CheckedGraph {
  readonly doc: GraphDocument;
  readonly nodes: readonly CheckedNode[];
}

/** Ports of user nodes, by file parameter, for validation. */
export type UserNodeLookup = (file: string) => UserNode | undefined;

const ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks a document's outer fields and returns it typed (nodes are checked by checkGraph). */
export function parseGraphDocument(raw: unknown): GraphDocument {
  if (!isObject(raw)) throw new GraphError("graph", "expected a JSON object");
  if (raw.format !== GRAPH_FORMAT) {
    throw new GraphError("format", `expected "${GRAPH_FORMAT}", got ${JSON.stringify(raw.format)}`);
  }
  if (
    !Number.isInteger(raw.version) ||
    (raw.version as number) < 1 ||
    (raw.version as number) > GRAPH_VERSION
  ) {
    throw new GraphError(
      "version",
      `this sase reads versions 1..${GRAPH_VERSION}, got ${JSON.stringify(raw.version)}`,
    );
  }
  if (!Number.isInteger(raw.proposal) || (raw.proposal as number) < 0) {
    throw new GraphError("proposal", `expected a proposal number, got ${JSON.stringify(raw.proposal)}`);
  }
  if (typeof raw.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(raw.name)) {
    throw new GraphError(
      "name",
      `expected a name of letters, digits, _ . - (≤ 64), got ${JSON.stringify(raw.name)}`,
    );
  }
  const revision = raw.revision === undefined ? 0 : raw.revision;
  if (!Number.isInteger(revision) || (revision as number) < 0) {
    throw new GraphError("revision", `expected a non-negative integer, got ${JSON.stringify(raw.revision)}`);
  }
  if (!Array.isArray(raw.nodes)) throw new GraphError("nodes", "expected a list of nodes");
  const nodes = raw.nodes.map((n, i): GraphNodeDoc => {
    const at = `nodes[${i}]`;
    if (!isObject(n)) throw new GraphError(at, "expected a node object");
    for (const k of Object.keys(n)) {
      if (!["id", "kind", "params", "inputs"].includes(k))
        throw new GraphError(`${at}.${k}`, "unknown field");
    }
    if (typeof n.id !== "string" || !ID.test(n.id)) {
      throw new GraphError(
        `${at}.id`,
        `expected an id of letters, digits, _ - starting with a letter, got ${JSON.stringify(n.id)}`,
      );
    }
    if (typeof n.kind !== "string") throw new GraphError(`${at}.kind`, "expected a node kind");
    if (n.inputs !== undefined) {
      if (!isObject(n.inputs)) throw new GraphError(`${at}.inputs`, 'expected an object port → "node.port"');
      for (const [p, ref] of Object.entries(n.inputs)) {
        if (typeof ref !== "string") throw new GraphError(`${at}.inputs.${p}`, 'expected "node.port"');
      }
    }
    if (n.params !== undefined && !isObject(n.params))
      throw new GraphError(`${at}.params`, "expected an object");
    return {
      id: n.id,
      kind: n.kind,
      ...(n.params ? { params: n.params as Record<string, JsonParam> } : {}),
      ...(n.inputs ? { inputs: n.inputs as Record<string, string> } : {}),
    };
  });
  return {
    format: GRAPH_FORMAT,
    version: raw.version as number,
    proposal: raw.proposal as number,
    name: raw.name,
    revision: revision as number,
    nodes,
  };
}

/** Validates a document into a runnable graph; throws GraphError naming the first problem. */
export function checkGraph(raw: unknown, userNodes: UserNodeLookup = () => undefined): CheckedGraph {
  const doc = parseGraphDocument(raw);
  const byId = new Map<
    string,
    { at: string; node: GraphNodeDoc; outputs: Readonly<Record<string, PortType>> }
  >();
  const checked = new Map<string, CheckedNode>();
  // Pass 1: kinds, parameters, ports.
  doc.nodes.forEach((n, i) => {
    const at = `nodes[${i}] "${n.id}"`;
    if (byId.has(n.id)) throw new GraphError(`${at}.id`, `another node is called "${n.id}"`);
    const kind = NODE_KINDS.get(n.kind);
    if (!kind) {
      const hint = closestName(n.kind, [...NODE_KINDS.keys()]);
      throw new GraphError(
        `${at}.kind`,
        `no node kind "${n.kind}"${hint ? ` (did you mean "${hint}"?)` : ""}`,
      );
    }
    const params = checkParams(kind.params, n.params, `${at}.params`);
    let inputTypes: Readonly<Record<string, InputSpec>> = kind.inputs;
    let outputs = kind.outputs;
    if (kind.kind === "user") {
      const file = params.file as string;
      if (!file) throw new GraphError(`${at}.params.file`, "a user node needs the path of its .ts file");
      const user = userNodes(file);
      if (!user) throw new GraphError(`${at}.params.file`, `user node file "${file}" is not loaded`);
      inputTypes = Object.fromEntries(
        Object.entries(user.inputs).map(([k, t]) => [k, { type: t, doc: `user input (${t})` }]),
      );
      outputs = user.outputs;
    }
    byId.set(n.id, { at, node: n, outputs });
    checked.set(n.id, { id: n.id, kind, params, inputs: new Map(), inputTypes, outputs });
  });
  // Pass 2: edges, with their types.
  for (const [id, c] of checked) {
    const { at, node } = byId.get(id)!;
    const given = node.inputs ?? {};
    for (const port of Object.keys(given)) {
      if (!(port in c.inputTypes)) {
        const known = Object.keys(c.inputTypes);
        throw new GraphError(
          `${at}.inputs.${port}`,
          `${c.kind.kind} has no input "${port}"${known.length ? ` (inputs: ${known.join(", ")})` : ""}`,
        );
      }
    }
    for (const [port, spec] of Object.entries(c.inputTypes)) {
      const ref = given[port];
      if (ref === undefined) {
        if (spec.optional) continue;
        throw new GraphError(
          `${at}.inputs.${port}`,
          `required input is not connected (${acceptedTypes(spec).join(" or ")})`,
        );
      }
      const dot = ref.lastIndexOf(".");
      const srcId = ref.slice(0, dot);
      const srcPort = ref.slice(dot + 1);
      const src = byId.get(srcId);
      if (dot < 1 || !src) {
        const hint = closestName(srcId, [...byId.keys()]);
        throw new GraphError(
          `${at}.inputs.${port}`,
          `"${ref}": no node "${srcId}"${hint ? ` (did you mean "${hint}"?)` : ""}`,
        );
      }
      const type = src.outputs[srcPort];
      if (!type) {
        throw new GraphError(
          `${at}.inputs.${port}`,
          `"${ref}": ${srcId} has no output "${srcPort}" (outputs: ${Object.keys(src.outputs).join(", ")})`,
        );
      }
      if (!acceptedTypes(spec).includes(type)) {
        throw new GraphError(
          `${at}.inputs.${port}`,
          `"${ref}" is a ${type}, this input takes ${acceptedTypes(spec).join(" or ")}`,
        );
      }
      (c.inputs as Map<string, { node: string; port: string }>).set(port, { node: srcId, port: srcPort });
    }
  }
  // Topological order (depth-first); a node met again while on the stack closes a cycle.
  const order: CheckedNode[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (id: string, path: string[]): void => {
    const s = state.get(id);
    if (s === "done") return;
    if (s === "visiting") {
      throw new GraphError(byId.get(id)!.at, `cycle: ${[...path.slice(path.indexOf(id)), id].join(" → ")}`);
    }
    state.set(id, "visiting");
    const c = checked.get(id)!;
    for (const { node } of c.inputs.values()) visit(node, [...path, id]);
    state.set(id, "done");
    order.push(c);
  };
  for (const id of checked.keys()) visit(id, []);
  return { doc, nodes: order };
}

function sortKeys(v: JsonParam): JsonParam {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k]!)]),
    );
  }
  return v;
}

/** The canonical text of a document: fixed field order, sorted parameter keys, two-space indent. */
export function formatGraph(doc: GraphDocument): string {
  const nodes = doc.nodes.map((n) => ({
    id: n.id,
    kind: n.kind,
    ...(n.params && Object.keys(n.params).length ? { params: sortKeys(n.params) } : {}),
    ...(n.inputs && Object.keys(n.inputs).length ? { inputs: sortKeys(n.inputs) } : {}),
  }));
  const ordered = {
    format: GRAPH_FORMAT,
    version: doc.version,
    proposal: doc.proposal,
    name: doc.name,
    revision: doc.revision,
    nodes,
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** A new, empty document. */
export function emptyGraph(proposal: number, name: string): GraphDocument {
  return { format: GRAPH_FORMAT, version: GRAPH_VERSION, proposal, name, revision: 0, nodes: [] };
}
