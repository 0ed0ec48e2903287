// The contract between the ends of a pipeline and the transport that carries tokens between them
// (in-process or TCP): what an input says when it attaches, what travels with each token, and what
// either side can do with the other. Both ends and both transports build on this file, not on each other.

import type { Logger } from "../core/index.ts";
import type { DataDistribution, DataToken, SlownessPolicy } from "./types.ts";

/** What an input says about itself when it attaches (Karabo's "hello"). */
export interface PeerHello {
  /** `deviceId:inputName` of the input; unique per output (a second attach replaces the first). */
  readonly inputId: string;
  readonly dataDistribution: DataDistribution;
  readonly onSlowness: SlownessPolicy;
  readonly maxQueueLength: number;
  /** Credits granted up front. */
  readonly credits: number;
}

/** Per-token bookkeeping sent with each token, so the input can count drops and see the sender's queue. */
export interface DeliveryInfo {
  /** Sequence number of the token in this output's session (1, 2, ...); 0 = not known (Karabo's outputs). */
  readonly seq: number;
  /** Tokens dropped for this input since it attached (cumulative). */
  readonly dropped: number;
  /** Tokens waiting for this input on the sender. */
  readonly queued: number;
  /** The output's session, where the transport carries it with each token. */
  readonly session?: string;
}

/** The transport toward one attached input: in-process hand-over or a TCP connection. */
export interface PeerLink {
  readonly memoryLocation: "local" | "remote";
  readonly remoteAddress: string;
  /** End of stream answers one of the input's requests, as a token does (Karabo's protocol). */
  readonly endOfStreamTakesCredit?: boolean;
  deliver(token: DataToken, info: DeliveryInfo): void;
  deliverEndOfStream(info: DeliveryInfo): void;
  /** Tells the input its drop count when it changed without a token to carry it. */
  reportDropped(info: DeliveryInfo): void;
  close(reason: string): void;
}

/** Handle an attached input uses to talk back to the output. */
export interface PeerHandle {
  /** The input can take `n` more tokens. */
  grant(n: number): void;
  /** The input went away. */
  detach(): void;
  /** The output's session id (changes when the output is re-created), to tell restarts apart. */
  readonly session: string;
}

/** What transports and the registry need of an output channel (OutputChannel is one). */
export interface OutputEndpoint {
  /** `deviceId:channelName`. */
  readonly id: string;
  /** Changes when the output is re-created, to tell restarts apart. */
  readonly session: string;
  /** TCP address once listening (`tcp://host:port`), else "". */
  readonly address: string;
  readonly isClosed: boolean;
  readonly log: Logger;
  /** Attaches an input through `link`; the handle is how the input talks back. */
  attach(hello: PeerHello, link: PeerLink): PeerHandle;
  /** Runs `fn` when the output closes. */
  onClose(fn: () => void | Promise<void>): void;
  /** Records a transport error in the output's health figures. */
  noteError(message: string): void;
}

/** What a transport reports to the input connection that opened it. */
export interface ConnectionSink {
  /**
   * The connection is open; `session` identifies the output's lifetime (over TCP it comes later, with
   * the first token: Karabo's protocol has no greeting from the output).
   */
  onOpen(session: string | undefined, memoryLocation: "local" | "remote", remoteAddress: string): void;
  onData(token: DataToken, info: DeliveryInfo): void;
  onEndOfStream(info: DeliveryInfo): void;
  onDropped(info: DeliveryInfo): void;
  /** The link is gone; `error` says why when it was not a clean close. */
  onClose(error?: string): void;
}

/** What the input connection can do with an open transport. */
export interface InputLink {
  /** Asks the output for `n` more tokens. */
  grant(n: number): void;
  close(): void;
}

/** What an input tells the output about itself when it connects. */
export type InputHello = PeerHello;
