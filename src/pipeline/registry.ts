// Finding outputs by `deviceId:channelName`: outputs in this process register here (so inputs in the
// same process take the zero-copy shortcut), and the TCP addresses of outputs elsewhere are learnt here
// (published by a broker integration or given explicitly).

import type { OutputEndpoint } from "./link.ts";
import { PipelineError } from "./types.ts";

/** Looks up the `tcp://host:port` of an output in another process (e.g. by asking its device over the broker). */
export type AddressResolver = (channelId: string) => Promise<string | undefined>;

/** The outputs of this process and the known addresses of outputs elsewhere. */
export class ChannelRegistry {
  private readonly outputs = new Map<string, OutputEndpoint>();
  private readonly addresses = new Map<string, string>();
  private readonly resolvers = new Set<AddressResolver>();
  private readonly listeners = new Set<(channelId: string) => void>();

  /** Makes an output findable; throws DUPLICATE_CHANNEL if a live output already has its id. */
  register(output: OutputEndpoint): void {
    const old = this.outputs.get(output.id);
    if (old && old !== output && !old.isClosed) {
      throw new PipelineError(
        "DUPLICATE_CHANNEL",
        `an output channel ${output.id} already exists in this process`,
      );
    }
    this.outputs.set(output.id, output);
    for (const fn of this.listeners) fn(output.id);
  }

  /** Forgets an output (its address too). */
  unregister(output: OutputEndpoint): void {
    if (this.outputs.get(output.id) === output) this.outputs.delete(output.id);
    if (this.addresses.get(output.id) === output.address) this.addresses.delete(output.id);
  }

  /** The output of this process with that id, if any. */
  local(channelId: string): OutputEndpoint | undefined {
    const o = this.outputs.get(channelId);
    return o && !o.isClosed ? o : undefined;
  }

  /** Records where an output listens, and tells waiting inputs. */
  publishAddress(channelId: string, address: string): void {
    this.addresses.set(channelId, address);
    for (const fn of this.listeners) fn(channelId);
  }

  /** Adds a way to find outputs of other processes. */
  addResolver(fn: AddressResolver): () => void {
    this.resolvers.add(fn);
    return () => this.resolvers.delete(fn);
  }

  /** The TCP address of an output, from published addresses first, then the resolvers. */
  async resolve(channelId: string): Promise<string | undefined> {
    const known = this.addresses.get(channelId);
    if (known) return known;
    for (const fn of this.resolvers) {
      const found = await fn(channelId).catch(() => undefined);
      if (found) return found;
    }
    return undefined;
  }

  /** Calls `fn` whenever an output registers or publishes an address; returns an unsubscribe function. */
  onAppear(fn: (channelId: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Ids of the outputs of this process. */
  ids(): string[] {
    return [...this.outputs.keys()];
  }
}

/** The registry of this process, used unless a channel is given another. */
export const channelRegistry = new ChannelRegistry();

/** False when SASE_NO_PIPELINE_SHORTCUT is set: then in-process pairs talk TCP too (for testing the wire). */
export function shortcutEnabled(): boolean {
  const v = process.env.SASE_NO_PIPELINE_SHORTCUT;
  return v === undefined || v === "" || v === "0";
}
