// The bridge as a device: a pipeline input connected to any outputs (detector modules, XGM, ...),
// tokens gathered into one message per train (every source of that train), served to analysis
// clients as a Karabo bridge. Its settings and counters are ordinary device properties.
import {
  type Hash,
  type NDArray,
  type SchemaSpec,
  State,
  el,
  isNDArray,
  ndarray,
  type TypedArray,
} from "../core/index.ts";
import {
  type DataToken,
  definePipelineDevice,
  inputChannel,
  MATCH_STATS_SCHEMA,
  type MatchedTrain,
  matchStatsValues,
  TrainMatcher,
} from "../pipeline/index.ts";
import { DROP_POLICIES, type DropPolicy } from "./queue.ts";
import { BridgeServer } from "./server.ts";
import type {
  BridgeTrain,
  BridgeValue,
  ProtocolVersion,
  ServerSocketType,
  SourceData,
  SourceMetadata,
} from "./types.ts";

const ro = { access: "readOnly", archive: "noArchiving" } as const;

const bridgeSchema = {
  input: inputChannel({
    displayedName: "Sources",
    description: "outputs whose data is forwarded; one bridge message per train holds all of them",
    dataDistribution: "copy",
    onSlowness: "drop",
  }),
  hostname: el.string({
    displayedName: "Listen on",
    description: "interface (* for all)",
    default: "127.0.0.1",
  }),
  port: el.uint32({ displayedName: "Port", description: "0 = any free port", default: 4545 }),
  socketType: el.string({ displayedName: "Socket type", options: ["REP", "PUB", "PUSH"], default: "REP" }),
  protocol: el.string({ displayedName: "Protocol version", options: ["2.2", "1.0"], default: "2.2" }),
  queueSize: el.uint32({
    displayedName: "Queue (trains)",
    description: "small keeps live data fresh: a client gets the oldest queued train",
    min: 1,
    max: 1000,
    default: 2,
  }),
  dropPolicy: el.string({
    displayedName: "When the queue is full",
    options: [...DROP_POLICIES],
    default: "drop-oldest",
  }),
  trainTimeoutMs: el.uint32({
    displayedName: "Train assembly timeout (ms)",
    description: "a train still missing sources after this long is sent with the sources it has",
    min: 1,
    default: 200,
  }),
  endpoint: el.string({
    displayedName: "Endpoint",
    description: "where analysis clients connect",
    ...ro,
    default: "",
  }),
  trainsSent: el.uint64({ displayedName: "Trains sent", ...ro, default: 0n }),
  trainsDropped: el.uint64({ displayedName: "Trains dropped", ...ro, default: 0n }),
  clients: el.uint32({ displayedName: "Clients", ...ro, default: 0 }),
  bytesSent: el.uint64({ displayedName: "Bytes sent", unit: "byte", ...ro, default: 0n }),
  matching: MATCH_STATS_SCHEMA,
} satisfies SchemaSpec;

function fromHashValue(value: unknown): BridgeValue | NDArray | undefined {
  if (isNDArray(value)) return value;
  if (ArrayBuffer.isView(value)) return ndarray(value as TypedArray, [(value as TypedArray).length]);
  if (value === null || ["number", "bigint", "string", "boolean"].includes(typeof value))
    return value as BridgeValue;
  if (Array.isArray(value))
    return value.every((v) => typeof v !== "object") ? (value as BridgeValue[]) : undefined;
  return undefined; // nested Hash lists have no bridge form
}

/** One source's part of a bridge train. */
export interface BridgeSource {
  readonly source: string;
  readonly data: SourceData;
  readonly metadata: SourceMetadata;
}

/** One pipeline token as one bridge source: dotted keys, arrays as they are, metadata from its timestamp. */
export function sourceFromToken(token: DataToken): BridgeSource {
  const data: SourceData = {};
  const hash: Hash = token.data;
  for (const path of hash.paths()) {
    const v = fromHashValue(hash.get(path));
    if (v !== undefined) data[path] = v;
  }
  const ts = token.meta.timestamp;
  const frac = ts.frac.toString().padStart(18, "0");
  const metadata: SourceMetadata = {
    source: token.meta.source,
    timestamp: Number(`${ts.sec}.${frac}`),
    "timestamp.sec": String(ts.sec),
    "timestamp.frac": frac,
    "timestamp.tid": ts.trainId,
  };
  return { source: token.meta.source, data, metadata };
}

/** The sources of one matched train as one bridge train. */
export function bridgeTrainOf(matched: MatchedTrain<BridgeSource>): BridgeTrain {
  const train: BridgeTrain = { data: {}, metadata: {} };
  for (const { source, data, metadata } of matched.data.values()) {
    train.data[source] = data;
    train.metadata[source] = metadata;
  }
  return train;
}

/** A Karabo bridge fed by pipeline data: `sase start` runs one for live analysis clients. */
export class KaraboBridge extends definePipelineDevice({
  classId: "KaraboBridge",
  description: "Serves the data of its input's sources to analysis clients over the Karabo bridge protocol",
  schema: bridgeSchema,
}) {
  #server: BridgeServer | undefined;
  #matcher: TrainMatcher<BridgeSource> | undefined;

  override onInit(): void {
    this.updateState(State.INIT, "binding");
    const server = new BridgeServer({
      endpoint: `tcp://${this.get("hostname")}:${this.get("port") || "*"}`,
      sock: this.get("socketType") as ServerSocketType,
      protocol: this.get("protocol") as ProtocolVersion,
      queueSize: this.get("queueSize"),
      dropPolicy: this.get("dropPolicy") as DropPolicy,
      logger: this.log,
    });
    this.#server = server;
    this.background("starting the bridge server", async () => {
      const endpoint = await server.start();
      this.set("endpoint", endpoint);
      this.updateState(State.ON, `serving on ${endpoint}`);
    });
    // One bridge train per train ID, matched by the pipeline's one rule (complete, or timed out).
    const sources = this.get("input.connectedOutputChannels");
    const matcher =
      sources.length > 0
        ? new TrainMatcher<BridgeSource>(sources, { timeoutMs: this.get("trainTimeoutMs") }).onTrain(
            (matched) => void server.feed(bridgeTrainOf(matched)),
          )
        : undefined;
    this.#matcher = matcher;
    this.input("input").onData((token) => {
      void matcher?.push(token.meta.source, token.meta.timestamp.trainId, sourceFromToken(token));
    });
    this.every(250, () => {
      const s = server.stats;
      this.setMany({
        trainsSent: BigInt(s.trainsSent),
        trainsDropped: BigInt(s.trainsDropped),
        clients: s.clients,
        bytesSent: BigInt(s.bytesSent),
        ...(matcher ? matchStatsValues("matching", matcher.counts) : {}),
      });
    });
  }

  override async onShutdown(): Promise<void> {
    this.#matcher?.close();
    await this.#server?.close();
  }
}
