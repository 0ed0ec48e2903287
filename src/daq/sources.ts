// The DAQ's data sources. A control source is a device: its numeric properties are recorded once per
// train (the latest value, repeated while unchanged) and its whole configuration at run start. An
// instrument source is a pipeline output "<device>:<channel>": its tokens are recorded as they come.
import type { DeviceClient, PropertySubscription, Schema } from "../core/index.ts";
import { isLeaf } from "../core/index.ts";
import type { KeySpec } from "../files/index.ts";
import type { DataToken } from "../pipeline/index.ts";
import { InputChannel } from "../pipeline/index.ts";
import type { ControlValues } from "./recorder.ts";

/** "control" for device ids, "instrument" for pipeline outputs (they have ":channel"). */
export function sourceKind(name: string): "control" | "instrument" {
  return name.includes(":") ? "instrument" : "control";
}

/** Aggregator of an instrument source: one per detector module ("…/DET/3CH0:xtdf" → "<DET>03"), other
 * pipeline outputs share "DA02"; control sources go to "DA01". */
export function aggregatorFor(name: string): string {
  if (sourceKind(name) === "control") return "DA01";
  const m = /^([^/]+)\/[^/]+\/(\d+)CH\d+:/.exec(name);
  if (!m) return "DA02";
  // "SPB_DET_AGIPD1M-1" → "AGIPD": the detector is the last "_" part of the domain, letters only.
  const det = /^[A-Za-z]+/.exec(m[1]!.split("_").pop()!)?.[0]?.toUpperCase().slice(0, 8) || "DET";
  return `${det}${m[2]!.padStart(2, "0")}`;
}

const DTYPE_OF_KIND: Record<string, KeySpec["dtype"]> = {
  bool: "bool",
  int32: "int32",
  uint32: "uint32",
  int64: "int64",
  uint64: "uint64",
  float: "float32",
  double: "float64",
};

/** Per-train keys of a device schema: its numeric and boolean properties (strings go to provenance). */
export function recordableProperties(schema: Schema): Record<string, KeySpec> {
  const out: Record<string, KeySpec> = {};
  for (const e of schema.entries()) {
    if (!isLeaf(e.element)) continue;
    const dtype = DTYPE_OF_KIND[e.element.kind];
    if (dtype) out[e.key] = { dtype };
  }
  return out;
}

function asRecordable(v: unknown, spec: KeySpec): number | bigint | boolean {
  if (spec.dtype === "int64" || spec.dtype === "uint64") {
    return typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v ?? 0)));
  }
  if (spec.dtype === "bool") return Boolean(v);
  return typeof v === "bigint" ? Number(v) : Number(v ?? 0);
}

/** A device whose properties are recorded: latest values kept current by a subscription. */
export class ControlSource {
  private readonly latest: Record<string, number | bigint | boolean> = {};

  private constructor(
    readonly name: string,
    readonly properties: Readonly<Record<string, KeySpec>>,
    /** Full configuration when the source was opened (for provenance and the RUN section). */
    readonly configuration: Readonly<Record<string, unknown>>,
    private readonly sub: PropertySubscription,
  ) {
    for (const [k, spec] of Object.entries(properties)) this.latest[k] = asRecordable(configuration[k], spec);
    void this.follow();
  }

  /** Reads the device's schema and configuration and subscribes to its changes. */
  static async open(client: DeviceClient, deviceId: string): Promise<ControlSource> {
    const sub = client.subscribe(deviceId);
    try {
      const [schema, config] = await Promise.all([
        client.getSchema(deviceId),
        client.getConfiguration(deviceId),
      ]);
      return new ControlSource(deviceId, recordableProperties(schema), config.values, sub);
    } catch (e) {
      sub.close();
      throw e;
    }
  }

  private async follow(): Promise<void> {
    for await (const change of this.sub) {
      const spec = this.properties[change.key];
      if (spec) this.latest[change.key] = asRecordable(change.value, spec);
    }
  }

  /** Values for the train being recorded now (unchanged ones repeat). */
  values(): ControlValues {
    return { ...this.latest };
  }

  /** Values at run start, for the RUN section. */
  runValues(): Record<string, number | bigint | boolean> {
    return { ...this.latest };
  }

  close(): void {
    this.sub.close();
  }
}

/**
 * A pipeline output the DAQ listens to; every token goes to `onToken`, with a function that hands the
 * token back once nothing reads its arrays any more (InputChannel.release: arrays offered by a maker in
 * this process go back to it, memory received over TCP to later tokens).
 */
export class InstrumentSource {
  readonly input: InputChannel;

  constructor(
    readonly name: string,
    inputId: string,
    onToken: (token: DataToken, release: () => void) => void,
  ) {
    // queueDrop with a deep queue: the DAQ never blocks a detector, and anything it cannot take is
    // counted as dropped on the sender and seen as missing trains here.
    this.input = new InputChannel(inputId, {
      connectedOutputChannels: [name],
      onSlowness: "queueDrop",
      maxQueueLength: 64,
      prefetch: 8,
    });
    this.input.onData((token) => onToken(token, () => this.input.release(token)));
    this.input.connect();
  }

  /** Whether the output is connected. */
  get connected(): boolean {
    return this.input.stats().connections.every((c) => c.state === "CONNECTED");
  }

  async close(): Promise<void> {
    await this.input.close();
  }
}
