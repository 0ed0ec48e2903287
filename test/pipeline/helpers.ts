// Shared helpers of the pipeline tests: small tokens, private registries.

import { Hash, ndarray } from "../../src/core/index.ts";
import {
  ChannelRegistry,
  type DataToken,
  InputChannel,
  type InputChannelOptions,
  OutputChannel,
  type OutputChannelOptions,
} from "../../src/pipeline/index.ts";

/** A small token: train ID, a counter and a 4×8 uint16 image filled with the counter. */
export function smallData(i: number): Hash {
  return new Hash({ trainId: i, image: { data: ndarray(new Uint16Array(32).fill(i & 0xffff), [4, 8]) } });
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One output and inputs on a private registry, closed together. */
export class Rig {
  readonly registry = new ChannelRegistry();
  readonly output: OutputChannel;
  readonly inputs: InputChannel[] = [];

  constructor(options: OutputChannelOptions = {}, id = "TEST/SRC/1:output") {
    this.output = new OutputChannel(id, undefined, { ...options, registry: this.registry });
  }

  /** A connected input named `name` with `options`, connected to the rig's output (or `to`). */
  input(name: string, options: InputChannelOptions = {}, to?: string): InputChannel {
    const inp = new InputChannel(
      `TEST/SINK/${name}:input`,
      { connectedOutputChannels: [to ?? this.output.id], ...options },
      { registry: this.registry },
    );
    this.inputs.push(inp);
    return inp.connect();
  }

  async close(): Promise<void> {
    for (const i of this.inputs) await i.close();
    await this.output.close();
  }
}

/** An output reachable only over TCP (no registry: inputs of this process cannot take the shortcut). */
export async function tcpOutput(
  id: string,
  options: OutputChannelOptions = {},
): Promise<{ output: OutputChannel; spec: string }> {
  const output = new OutputChannel(id, undefined, { ...options, registry: null });
  return { output, spec: `${id}@${await output.listen()}` };
}

/**
 * Runs `body` with output TEST/SRC/`name`:output, reached only over TCP, and input TEST/SINK/`name`:input
 * (on a registry of its own) connected to it with `options`; closes both after, whatever happens.
 */
export async function withTcpPair(
  name: string,
  options: InputChannelOptions,
  body: (out: OutputChannel, inp: InputChannel) => Promise<void>,
): Promise<void> {
  const { output, spec } = await tcpOutput(`TEST/SRC/${name}:output`);
  const inp = new InputChannel(
    `TEST/SINK/${name}:input`,
    { connectedOutputChannels: [spec], ...options },
    { registry: new ChannelRegistry() },
  ).connect();
  try {
    await inp.waitConnected(10_000);
    await body(output, inp);
  } finally {
    await inp.close();
    await output.close();
  }
}

/** Collects train IDs handed to a handler that takes `delayMs` per token. */
export function collect(input: InputChannel, delayMs = 0): { trains: number[]; eos: number } {
  const got = { trains: [] as number[], eos: 0 };
  input
    .onData(async (t: DataToken) => {
      got.trains.push(t.data.get<number>("trainId"));
      if (delayMs) await sleep(delayMs);
    })
    .onEndOfStream(() => {
      got.eos++;
    });
  return got;
}
