// Every node kind the graph offers, by name: what the editor lists and the validator knows.
import { azimuthalNode } from "./azimuthal.ts";
import { backgroundNode, hitsNode, maskNode, roiNode } from "./image-nodes.ts";
import type { NodeKind } from "./node.ts";
import { pumpProbeNode } from "./pulse-nodes.ts";
import { detectorNode, propertyNode } from "./sources.ts";
import { bin1dNode, bin2dNode, correlationNode, histogramNode, statisticsNode } from "./train-nodes.ts";
import { SaseError } from "../core/index.ts";

/** The user node's description; its ports come from its file (see user-node.ts). */
export const userNodeKind: NodeKind = {
  kind: "user",
  group: "user",
  doc: "Your TypeScript function in one file (export default { inputs, outputs, run }); reloaded on save",
  inputs: {},
  outputs: {},
  params: {
    file: { type: "string", default: "", doc: "Path of the .ts file (relative to the graph's folder)" },
  },
  accumulates: true,
  create: () => {
    throw new SaseError("BAD_GRAPH", "user nodes are created by the graph runner");
  },
};

/** Node kinds by name. */
export const NODE_KINDS: ReadonlyMap<string, NodeKind> = new Map(
  [
    detectorNode,
    propertyNode,
    maskNode,
    backgroundNode,
    roiNode,
    azimuthalNode,
    hitsNode,
    pumpProbeNode,
    correlationNode,
    bin1dNode,
    bin2dNode,
    histogramNode,
    statisticsNode,
    userNodeKind,
  ].map((k) => [k.kind, k]),
);
