// Pipeline channels on devices. A device declares its channels in its schema (`outputChannel(...)`,
// `inputChannel(...)`); `definePipelineDevice` creates them when the device is created, connects its
// inputs, publishes every channel's health as read-only properties under the channel's key (rate,
// latency, queue depth, drops, reconnects, last error, alarm), and closes them when the device goes away.
//
//   export class Corrector extends definePipelineDevice({ classId: "Corrector", schema: {
//     input: inputChannel({ dataDistribution: "shared", onSlowness: "wait" }),
//     output: outputChannel({ dataSchema: { image: el.node({ data: el.ndarray({ dtype: "float32" }) }) } }),
//   } }) {
//     override onInit() { this.input("input").onData((t) => this.output("output").write(correct(t.data))); }
//   }

import { hostname } from "node:os";
import {
  type Broker,
  type CommonAttrs,
  type DeviceClass,
  type DeviceContext,
  defineDevice,
  el,
  Hash,
  type HashType,
  isLeaf,
  isNode,
  type NodeElement,
  SCALAR_TYPES,
  type SchemaSpec,
  type SlotRequest,
  SYSTEM_CALLER,
  timestampNow,
} from "../core/index.ts";
import type { DataField, DataSchema } from "./data-schema.ts";
import { InputChannel, type InputStats } from "./input.ts";
import { OutputChannel, type OutputStats } from "./output.ts";
import { channelRegistry } from "./registry.ts";
import {
  type DataDistribution,
  PipelineError,
  parseTcpAddress,
  type SharedSelection,
  type SlownessPolicy,
} from "./types.ts";

const policies = ["drop", "queueDrop", "wait"] as const;
const ro = { access: "readOnly", archive: "noArchiving" } as const;

/** Health keys every channel publishes (read-only). */
const healthChildren = {
  health: el.string({ displayedName: "Health", ...ro, default: "idle" }),
  alarmCondition: el.string({
    displayedName: "Alarm",
    description: "alarm when stalled, disconnected or blocked for longer than the stall timeout",
    ...ro,
    options: ["none", "warn", "alarm"],
    default: "none",
  }),
  rate: el.double({
    displayedName: "Rate",
    description: "tokens per second",
    unit: "hertz",
    ...ro,
    default: 0,
  }),
  throughput: el.double({ displayedName: "Throughput", unit: "byte", ...ro, default: 0 }),
  queueDepth: el.uint32({ displayedName: "Queue depth", ...ro, default: 0 }),
  dropped: el.uint64({ displayedName: "Dropped tokens", ...ro, default: 0n }),
  lastError: el.string({ displayedName: "Last error", ...ro, default: "" }),
} as const;

function inputChildren(o: InputChannelElementOptions) {
  return {
    connectedOutputChannels: el.vector("string", {
      displayedName: "Connected output channels",
      description: "deviceId:channelName, tcp://host:port or deviceId:channelName@tcp://host:port",
      default: [...(o.connectedOutputChannels ?? [])],
    }),
    dataDistribution: el.string({
      displayedName: "Data distribution",
      options: ["copy", "shared"],
      default: o.dataDistribution ?? "copy",
    }),
    onSlowness: el.string({
      displayedName: "On slowness",
      options: policies,
      default: o.onSlowness ?? "drop",
    }),
    maxQueueLength: el.uint32({ displayedName: "Max queue length", min: 1, default: o.maxQueueLength ?? 2 }),
    prefetch: el.uint32({ displayedName: "Tokens in flight", min: 1, default: o.prefetch ?? 2 }),
    respondToEndOfStream: el.bool({ displayedName: "Respond to end of stream", default: true }),
    stallTimeoutMs: el.uint32({
      displayedName: "Stall timeout (ms)",
      min: 1,
      default: o.stallTimeoutMs ?? 1000,
    }),
    reconnectIntervalMs: el.uint32({ displayedName: "Reconnect interval (ms)", min: 1, default: 500 }),
    delayOnInput: el.uint32({
      displayedName: "Delay on input (ms)",
      description: "pause before asking for the next token; with onSlowness drop a cheap rate limit",
      default: 0,
    }),
    ...healthChildren,
    tokens: el.uint64({ displayedName: "Tokens received", ...ro, default: 0n }),
    latencyMs: el.double({
      displayedName: "Latency (ms)",
      description: "train timestamp → arrival",
      ...ro,
      default: 0,
    }),
    senderQueue: el.uint32({ displayedName: "Queued at senders", ...ro, default: 0 }),
    lost: el.uint64({ displayedName: "Lost tokens", ...ro, default: 0n }),
    reconnects: el.uint32({ displayedName: "Reconnects", ...ro, default: 0 }),
    endOfStreams: el.uint32({ displayedName: "Streams ended", ...ro, default: 0 }),
    reusedMemory: el.uint64({
      displayedName: "Tokens into reused memory",
      description: "tokens received over TCP into memory that released tokens handed back",
      ...ro,
      default: 0n,
    }),
    missingConnections: el.vector("string", { displayedName: "Missing connections", ...ro, default: [] }),
  };
}

function outputChildren(o: OutputChannelElementOptions) {
  return {
    hostname: el.string({
      displayedName: "Listen on",
      description: "interface inputs of other hosts reach",
      default: o.hostname ?? "127.0.0.1",
    }),
    port: el.uint32({ displayedName: "Port", description: "0 = any free port", default: o.port ?? 0 }),
    noInputShared: el.string({
      displayedName: "Shared pool policy",
      description: "empty = the strictest policy of the shared inputs",
      options: ["", ...policies],
      default: o.noInputShared ?? "",
    }),
    sharedSelection: el.string({
      displayedName: "Shared selection",
      options: ["loadBalanced", "roundRobin"],
      default: o.sharedSelection ?? "loadBalanced",
    }),
    validateSchema: el.string({
      displayedName: "Validate data",
      options: ["always", "once", "never"],
      default: "always",
    }),
    stallTimeoutMs: el.uint32({ displayedName: "Blocked alarm after (ms)", min: 1, default: 1000 }),
    ...healthChildren,
    address: el.string({ displayedName: "Address", ...ro, default: "" }),
    tokensWritten: el.uint64({ displayedName: "Tokens written", ...ro, default: 0n }),
    connections: el.uint32({ displayedName: "Connected inputs", ...ro, default: 0 }),
    connectedInputs: el.vector("string", { displayedName: "Inputs", ...ro, default: [] }),
  };
}

/** Options of an input channel element: Karabo's settings, used as the defaults of its keys. */
export interface InputChannelElementOptions extends CommonAttrs {
  connectedOutputChannels?: readonly string[];
  dataDistribution?: DataDistribution;
  onSlowness?: SlownessPolicy;
  maxQueueLength?: number;
  prefetch?: number;
  stallTimeoutMs?: number;
}

/** Options of an output channel element. */
export interface OutputChannelElementOptions extends CommonAttrs {
  /** The schema of each token (checked on every write, used by DAQ and GUI). */
  dataSchema?: SchemaSpec;
  hostname?: string;
  port?: number;
  noInputShared?: SlownessPolicy;
  sharedSelection?: SharedSelection;
}

/** Schema element of an input channel: its settings and health keys. */
export function inputChannel(o: InputChannelElementOptions = {}) {
  const {
    connectedOutputChannels,
    dataDistribution,
    onSlowness,
    maxQueueLength,
    prefetch,
    stallTimeoutMs,
    ...attrs
  } = o;
  return el.inputChannel({ ...attrs, children: inputChildren(o) });
}

/** Schema element of an output channel: its data schema, settings and health keys. */
export function outputChannel(o: OutputChannelElementOptions = {}) {
  const { dataSchema, hostname, port, noInputShared, sharedSelection, ...attrs } = o;
  return el.outputChannel({ ...attrs, dataSchema, children: outputChildren(o) });
}

/** The data schema of a core schema declaration (keys required unless declared `mandatory: false`). */
export function dataSchemaFromSpec(spec: SchemaSpec, prefix = ""): DataSchema {
  const out: Record<string, DataField> = {};
  for (const [name, e] of Object.entries(spec)) {
    const key = prefix + name;
    if (isNode(e)) {
      Object.assign(out, dataSchemaFromSpec(e.children, `${key}.`));
      continue;
    }
    if (!isLeaf(e)) continue;
    const optional = e.mandatory === false;
    const description = e.description;
    if (e.kind === "ndarray") {
      const shape = e.shape?.map((d) => (d > 0 ? d : null));
      out[key] = { type: "NDARRAY", dtype: e.dtype, shape, optional, description };
    } else if (e.kind === "vector") {
      out[key] = { type: `VECTOR_${SCALAR_TYPES[e.of ?? "double"]}` as HashType, optional, description };
    } else if (e.kind === "image") {
      out[key] = { type: "HASH", optional, description };
    } else if (e.kind === "table") {
      out[key] = { type: "VECTOR_HASH", optional, description };
    } else {
      const scalar = (SCALAR_TYPES as Partial<Record<string, HashType>>)[e.kind];
      if (scalar) out[key] = { type: scalar, optional, description };
    }
  }
  return out;
}

type ChannelKeys<S, K extends "outputChannel" | "inputChannel"> = {
  [P in keyof S & string]: S[P] extends NodeElement<K, SchemaSpec> ? P : never;
}[keyof S & string];

/** What `definePipelineDevice` adds to a device. */
export interface PipelineDeviceMethods<S extends SchemaSpec> {
  /** The output channel declared under `key`. */
  output(key: ChannelKeys<S, "outputChannel">): OutputChannel;
  /** The input channel declared under `key`. */
  input(key: ChannelKeys<S, "inputChannel">): InputChannel;
}

const resolverInstalled = new WeakSet<Broker>();

/**
 * Teaches the process registry to find outputs over `broker` the way Karabo's inputs do: by asking the
 * output's device (sase's or Karabo's) `slotGetOutputChannelInformation`, which answers its hostname
 * and port.
 */
export function resolveOutputsThrough(broker: Broker): void {
  if (resolverInstalled.has(broker)) return;
  resolverInstalled.add(broker);
  channelRegistry.addResolver(async (channelId) => {
    const colon = channelId.lastIndexOf(":");
    const reply = await broker.call<unknown>(
      channelId.slice(0, colon),
      "slotGetOutputChannelInformation",
      { channelId: channelId.slice(colon + 1) },
      { timeoutMs: 2000, caller: SYSTEM_CALLER },
    );
    return addressOfInformation(reply);
  });
}

/** `tcp://host:port` from a slotGetOutputChannelInformation reply (a Hash or its plain form). */
export function addressOfInformation(reply: unknown): string | undefined {
  const r = (reply instanceof Hash ? reply.toObject() : reply) as Record<string, unknown> | null;
  if (!r || typeof r !== "object" || r.success !== true) return undefined;
  const info = r.info as Record<string, unknown> | undefined;
  const host = info?.hostname;
  const port = Number(info?.port);
  if (typeof host !== "string" || !host || !Number.isInteger(port) || port < 1 || port > 65535)
    return undefined;
  return `tcp://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function big(n: number): bigint {
  return BigInt(Math.max(0, Math.floor(n)));
}

function inputHealth(key: string, s: InputStats): Record<string, unknown> {
  return {
    [`${key}.health`]: s.health,
    [`${key}.alarmCondition`]: s.alarm,
    [`${key}.rate`]: s.rate,
    [`${key}.throughput`]: s.throughput,
    [`${key}.queueDepth`]: s.queueDepth,
    [`${key}.dropped`]: big(s.dropped),
    [`${key}.lastError`]: s.lastError,
    [`${key}.tokens`]: big(s.tokens),
    [`${key}.latencyMs`]: Number.isFinite(s.latencyMs) ? s.latencyMs : 0,
    [`${key}.senderQueue`]: s.senderQueue,
    [`${key}.lost`]: big(s.lost),
    [`${key}.reconnects`]: s.reconnects,
    [`${key}.endOfStreams`]: s.endOfStreams,
    [`${key}.reusedMemory`]: big(s.reusedMemory),
    [`${key}.missingConnections`]: s.missingConnections,
  };
}

function outputHealth(key: string, s: OutputStats): Record<string, unknown> {
  return {
    [`${key}.health`]: s.blocked ? "blocked" : s.rate > 0 ? "sending" : "idle",
    [`${key}.alarmCondition`]: s.alarm,
    [`${key}.rate`]: s.rate,
    [`${key}.throughput`]: s.throughput,
    [`${key}.queueDepth`]: s.queueDepth,
    [`${key}.dropped`]: big(s.dropped),
    [`${key}.lastError`]: s.lastError,
    [`${key}.address`]: s.address,
    [`${key}.tokensWritten`]: big(s.tokensWritten),
    [`${key}.connections`]: s.connections,
    [`${key}.connectedInputs`]: s.peers.map(
      (p) => `${p.inputId} (${p.dataDistribution}/${p.onSlowness}, ${p.memoryLocation})`,
    ),
  };
}

/** How often channel health is published as properties. */
const HEALTH_PERIOD_MS = 250;

/**
 * `defineDevice` for devices with pipeline channels: channels declared with `outputChannel` /
 * `inputChannel` in the schema exist from construction (`this.output(key)`, `this.input(key)`); outputs
 * listen on TCP, inputs connect (tokens wait in the input until `onInit` installs a handler or starts
 * iterating), health is published, and everything closes on shutdown.
 */
export function definePipelineDevice<const S extends SchemaSpec>(definition: {
  readonly classId: string;
  readonly schema: S;
  readonly description?: string;
}) {
  const Base = defineDevice(definition) as DeviceClass<S>;
  abstract class PipelineDevice extends Base implements PipelineDeviceMethods<S> {
    readonly #outputs = new Map<string, OutputChannel>();
    readonly #inputs = new Map<string, InputChannel>();
    readonly #published = new Map<string, string>();
    readonly #listenHosts = new Map<string, string>();

    constructor(context: DeviceContext) {
      super(context);
      resolveOutputsThrough(context.broker);
      const cfg = (k: string) => context.configuration.get(k);
      for (const [key, e] of Object.entries(definition.schema)) {
        if (e.kind === "outputChannel") {
          const n = e as NodeElement<"outputChannel", SchemaSpec>;
          const policy = cfg(`${key}.noInputShared`) as SlownessPolicy | "";
          const out = new OutputChannel(
            `${this.id}:${key}`,
            n.dataSchema ? dataSchemaFromSpec(n.dataSchema) : undefined,
            {
              noInputShared: policy || undefined,
              sharedSelection: cfg(`${key}.sharedSelection`) as SharedSelection,
              validateSchema: cfg(`${key}.validateSchema`) as "always",
              stallTimeoutMs: cfg(`${key}.stallTimeoutMs`) as number,
              log: this.log.child(key),
              now: () => timestampNow(this.trainId),
            },
          );
          this.#outputs.set(key, out);
          let blocked = false;
          out.onHealth((st) => {
            if (st.blocked !== blocked) {
              blocked = st.blocked;
              this.#publishHealth();
            }
          });
          this.#listenHosts.set(key, cfg(`${key}.hostname`) as string);
          this.background(`listening on ${key}`, async () => {
            await out.listen({ host: cfg(`${key}.hostname`) as string, port: cfg(`${key}.port`) as number });
          });
        } else if (e.kind === "inputChannel") {
          const inp = new InputChannel(
            `${this.id}:${key}`,
            {
              connectedOutputChannels: cfg(`${key}.connectedOutputChannels`) as string[],
              dataDistribution: cfg(`${key}.dataDistribution`) as DataDistribution,
              onSlowness: cfg(`${key}.onSlowness`) as SlownessPolicy,
              maxQueueLength: cfg(`${key}.maxQueueLength`) as number,
              prefetch: cfg(`${key}.prefetch`) as number,
              respondToEndOfStream: cfg(`${key}.respondToEndOfStream`) as boolean,
              stallTimeoutMs: cfg(`${key}.stallTimeoutMs`) as number,
              reconnectIntervalMs: cfg(`${key}.reconnectIntervalMs`) as number,
              delayOnInput: cfg(`${key}.delayOnInput`) as number,
            },
            { log: this.log.child(key) },
          );
          this.#inputs.set(key, inp);
          // A change of health (e.g. stalled) is published at once, not at the next period.
          let last = "";
          inp.onHealth((st) => {
            if (st.health !== last) {
              last = st.health;
              this.#publishHealth();
            }
          });
          inp.connect();
        }
      }
      if (this.#outputs.size || this.#inputs.size) this.every(HEALTH_PERIOD_MS, () => this.#publishHealth());
    }

    /** Answers Karabo's `slotGetOutputChannelInformation` (how inputs anywhere find an output). */
    override async handleRequest(request: SlotRequest): Promise<unknown> {
      if (request.slot !== "slotGetOutputChannelInformation") return super.handleRequest(request);
      const name = request.args.channelId;
      const out = typeof name === "string" ? this.#outputs.get(name) : undefined;
      if (!out?.address || out.isClosed) return new Hash({ success: false, info: new Hash() });
      const { host, port } = parseTcpAddress(out.address);
      const bound = this.#listenHosts.get(name as string);
      const info = new Hash({
        connectionType: "tcp",
        // Bound to every interface: inputs on other hosts reach it by this host's name (as Karabo's "default").
        hostname: bound === "0.0.0.0" || bound === "::" ? hostname() : host,
        memoryLocation: "remote",
      });
      info.set("port", port, "UINT32");
      return new Hash({ success: true, info });
    }

    output(key: ChannelKeys<S, "outputChannel">): OutputChannel {
      const out = this.#outputs.get(key);
      if (!out) throw new PipelineError("NOT_FOUND", `${this.id} has no output channel '${key}'`, { key });
      return out;
    }

    input(key: ChannelKeys<S, "inputChannel">): InputChannel {
      const inp = this.#inputs.get(key);
      if (!inp) throw new PipelineError("NOT_FOUND", `${this.id} has no input channel '${key}'`, { key });
      return inp;
    }

    /** Publishes the keys whose value changed since the last time (rates are rounded to keep it quiet). */
    #publishHealth(): void {
      const all: Record<string, unknown> = {};
      for (const [key, inp] of this.#inputs) Object.assign(all, inputHealth(key, inp.stats()));
      for (const [key, out] of this.#outputs) Object.assign(all, outputHealth(key, out.stats()));
      const changed: Record<string, unknown> = {};
      const shownNow = new Map<string, string>();
      for (const [k, v] of Object.entries(all)) {
        const shown = typeof v === "number" ? v.toPrecision(3) : String(v);
        if (this.#published.get(k) !== shown) {
          shownNow.set(k, shown);
          changed[k] = v;
        }
      }
      if (!shownNow.size) return;
      this.setMany(changed as never);
      // Remembered only once published, so a refused update is retried at the next period.
      for (const [k, shown] of shownNow) this.#published.set(k, shown);
    }

    override async shutdown(): Promise<void> {
      for (const inp of this.#inputs.values()) await inp.close();
      for (const out of this.#outputs.values()) await out.close();
      await super.shutdown();
    }
  }
  return PipelineDevice;
}
