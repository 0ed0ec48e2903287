// What a node kind is: typed input and output ports, parameters described as data, and a factory for
// the running node. A running node is called once per train with its inputs and returns its outputs,
// or null to skip the train (its dependants then skip it too).
import type { ParamSpec, Params } from "./params.ts";
import type { AnalysisTrain, PortType, PortValue } from "./types.ts";

/** One input port: the types it accepts. */
export interface InputSpec {
  readonly type: PortType | readonly PortType[];
  /** The node runs without it (a parameter stands in). */
  readonly optional?: boolean;
  readonly doc: string;
}

/** A node's inputs for one train, by port name. */
export type NodeInputs = Readonly<Record<string, PortValue>>;
/** A node's outputs for one train, by port name. */
export type NodeOutputs = Record<string, PortValue>;

/** A node placed in a running graph. */
export interface NodeInstance {
  /** Outputs for this train, or null when the node has nothing for it. */
  run(inputs: NodeInputs, train: AnalysisTrain): NodeOutputs | null;
  /** Forgets what was accumulated over trains. */
  reset?(): void;
}

/** A kind of node, as the editor lists it. */
export interface NodeKind {
  readonly kind: string;
  /** Editor section: where the data come from, image operations, pulses, over trains, user code. */
  readonly group: "source" | "image" | "pulses" | "trains" | "user";
  readonly doc: string;
  readonly inputs: Readonly<Record<string, InputSpec>>;
  readonly outputs: Readonly<Record<string, PortType>>;
  readonly params: Readonly<Record<string, ParamSpec>>;
  /** Whether the node keeps state across trains (reset clears it). */
  readonly accumulates: boolean;
  create(params: Params): NodeInstance;
}

/** The types an input port accepts, as a list. */
export function acceptedTypes(spec: InputSpec): readonly PortType[] {
  return typeof spec.type === "string" ? [spec.type] : spec.type;
}
