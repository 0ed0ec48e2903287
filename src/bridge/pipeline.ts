// Feeding a bridge server straight from a pipeline input: `server.serve(pipelineTrains(input))`.
// Tokens of several sources that belong to one train become one bridge train.
import type { DataToken } from "../pipeline/index.ts";
import { sourceFromToken } from "./device.ts";
import type { BridgeTrain } from "./types.ts";

/** Options for gathering pipeline tokens into trains. */
export interface PipelineTrainsOptions {
  /** Sources a train is complete with (default 1: every token is sent on its own). */
  sources?: number;
}

/**
 * Bridge trains from pipeline tokens (e.g. an InputChannel, which is async iterable): tokens with
 * the same train ID are gathered until `sources` of them have arrived, or a later train starts.
 */
export async function* pipelineTrains(
  tokens: AsyncIterable<DataToken>,
  options: PipelineTrainsOptions = {},
): AsyncGenerator<BridgeTrain> {
  const wanted = Math.max(1, options.sources ?? 1);
  let current: { tid: number; train: BridgeTrain } | undefined;
  for await (const token of tokens) {
    const tid = token.meta.timestamp.trainId;
    if (current && current.tid !== tid) {
      yield current.train;
      current = undefined;
    }
    current ??= { tid, train: { data: {}, metadata: {} } };
    const { source, data, metadata } = sourceFromToken(token);
    current.train.data[source] = data;
    current.train.metadata[source] = metadata;
    if (Object.keys(current.train.data).length >= wanted) {
      yield current.train;
      current = undefined;
    }
  }
  if (current) yield current.train;
}
