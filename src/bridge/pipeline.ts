// Feeding a bridge server straight from a pipeline input: `server.serve(pipelineTrains(input, {...}))`.
// Tokens of several sources that belong to one train become one bridge train, matched by the
// pipeline's TrainMatcher (complete, or timed out; stragglers dropped).
import { type DataToken, TrainMatcher } from "../pipeline/index.ts";
import { type BridgeSource, bridgeTrainOf, sourceFromToken } from "./device.ts";
import type { BridgeTrain } from "./types.ts";

/** Options for gathering pipeline tokens into trains. */
export interface PipelineTrainsOptions {
  /** Sources a train is complete with (default none: every token is sent on its own). */
  sources?: readonly string[];
  /** How long a train waits for its missing sources (default 500 ms). */
  timeoutMs?: number;
}

/**
 * Bridge trains from pipeline tokens (e.g. an InputChannel, which is async iterable): tokens with the
 * same train ID are gathered until every one of `sources` has arrived or the timeout has passed.
 */
export async function* pipelineTrains(
  tokens: AsyncIterable<DataToken>,
  options: PipelineTrainsOptions = {},
): AsyncGenerator<BridgeTrain> {
  const sources = options.sources ?? [];
  if (sources.length === 0) {
    for await (const token of tokens) {
      const { source, data, metadata } = sourceFromToken(token);
      yield { data: { [source]: data }, metadata: { [source]: metadata } };
    }
    return;
  }
  const matcher = new TrainMatcher<BridgeSource>(sources, { timeoutMs: options.timeoutMs });
  let failure: { error: unknown } | undefined;
  const pump = (async () => {
    try {
      for await (const token of tokens) {
        // Waits while trains it completed are still unread: the reader's pace reaches the input.
        await matcher.push(token.meta.source, token.meta.timestamp.trainId, sourceFromToken(token));
      }
    } catch (error) {
      failure = { error };
    } finally {
      matcher.end();
    }
  })();
  try {
    for await (const matched of matcher) yield bridgeTrainOf(matched);
  } finally {
    matcher.close();
  }
  await pump;
  if (failure) throw failure.error;
}
