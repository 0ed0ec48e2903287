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
import { type DataToken, definePipelineDevice, inputChannel } from "../pipeline/index.ts";
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

/** One pipeline token as one bridge source: dotted keys, arrays as they are, metadata from its timestamp. */
export function sourceFromToken(token: DataToken): {
  source: string;
  data: SourceData;
  metadata: SourceMetadata;
} {
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

interface Pending {
  train: BridgeTrain;
  since: number;
}

/** A Karabo bridge fed by pipeline data: `sase start` runs one for live analysis clients. */
export class KaraboBridge extends definePipelineDevice({
  classId: "KaraboBridge",
  description: "Serves the data of its input's sources to analysis clients over the Karabo bridge protocol",
  schema: bridgeSchema,
}) {
  #server: BridgeServer | undefined;
  readonly #pending = new Map<number, Pending>();

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
    this.input("input").onData((token) => this.#add(token));
    this.every(250, () => {
      this.#flush(performance.now() - this.get("trainTimeoutMs"));
      const s = server.stats;
      this.setMany({
        trainsSent: BigInt(s.trainsSent),
        trainsDropped: BigInt(s.trainsDropped),
        clients: s.clients,
        bytesSent: BigInt(s.bytesSent),
      });
    });
  }

  // Gathers the sources of one train; a train is sent once every connected source has arrived, or
  // when a newer train completes, or after the assembly timeout.
  #add(token: DataToken): void {
    const { source, data, metadata } = sourceFromToken(token);
    const tid = token.meta.timestamp.trainId;
    let p = this.#pending.get(tid);
    if (!p) {
      p = { train: { data: {}, metadata: {} }, since: performance.now() };
      this.#pending.set(tid, p);
    }
    p.train.data[source] = data;
    p.train.metadata[source] = metadata;
    const expected = Math.max(1, this.get("input.connectedOutputChannels").length);
    if (Object.keys(p.train.data).length >= expected) this.#flush(Number.POSITIVE_INFINITY, tid);
  }

  #flush(olderThan: number, upToTrain = Number.NEGATIVE_INFINITY): void {
    const ready = [...this.#pending.entries()]
      .filter(([tid, p]) => tid <= upToTrain || p.since <= olderThan)
      .sort((a, b) => a[0] - b[0]);
    for (const [tid, p] of ready) {
      this.#pending.delete(tid);
      void this.#server?.feed(p.train);
    }
  }

  override async onShutdown(): Promise<void> {
    await this.#server?.close();
  }
}
