// The analysis graph's part of the GUI's typed API (see api.ts): what the page asks and what the server
// streams. Pure data, bundled into the page; node kinds are described with the analysis layer's types.
import type { ParamSpec } from "../analysis/params.ts";

export type { Shape } from "../analysis/params.ts";
import type { PortType } from "../analysis/types.ts";

/** A node kind as the editor offers it. */
export interface NodeKindInfo {
  kind: string;
  group: string;
  doc: string;
  inputs: { name: string; types: PortType[]; optional: boolean }[];
  outputs: { name: string; type: PortType }[];
  params: ({ name: string } & ParamSpec)[];
}

/** One output's value on the wire: a number (null for NaN), a curve, or a small image. */
export type WireResult =
  | number
  | null
  | { x: (number | null)[]; y: (number | null)[] }
  | { width: number; height: number; data: (number | null)[] };

/** A node's counters as the editor shows them beside it. */
export interface WireNodeStats {
  id: string;
  processed: number;
  skipped: number;
  dropped: number;
  rateHz: number;
  meanMs: number;
  error: string | null;
}

/** Page → server. Saving and resetting need the operator role. */
export type AnalysisRequest =
  /** Start (or stop) receiving the graph and its results. */
  | { t: "analysis"; req: number; op: "watch"; on: boolean }
  /** Validate, save (next revision of the proposal's graph) and run a graph document. */
  | { t: "analysis"; req: number; op: "save"; graph: unknown }
  /** Clear accumulations of one node, or of all. */
  | { t: "analysis"; req: number; op: "reset"; node?: string };

/** Server → page. */
export type AnalysisMessage =
  /** The graph running now (null: none yet), the kinds the editor offers and the proposal. */
  | { t: "analysisGraph"; proposal: number; graph: unknown | null; kinds: NodeKindInfo[] }
  /** One processed train's results (`node.port` → value) and every node's counters. */
  | {
      t: "analysisUpdate";
      trainId: number;
      results: Record<string, WireResult>;
      stats: WireNodeStats[];
      dropped: number;
    };
