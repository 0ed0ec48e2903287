// The contract between an input's connection and the transport that carries it (in-process or TCP).

import type { DataToken } from "./types.ts";
import type { DeliveryInfo, PeerHello } from "./output.ts";

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
