// The page's end of the typed API: one WebSocket, requests with promised replies, JSON messages to
// listeners and binary image frames to the image view. Reconnects by itself after a drop.
import {
  type ClientMessage,
  decodeImageFrame,
  GUI_PROTOCOL,
  type ImageHeader,
  type JsonValue,
  type ServerMessage,
  type WireError,
} from "../api.ts";
import { SaseError } from "../../core/errors.ts";

type Listener = (m: ServerMessage) => void;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A client message that expects a reply, without its request number. */
export type RequestMessage = DistributiveOmit<Extract<ClientMessage, { req: number }>, "req">;

/** A refused request as the page sees it: the message starts with the code, as the CLI prints it. */
export class RequestError extends SaseError {
  override name = "RequestError";
  readonly field: string | undefined;
  constructor(e: WireError) {
    super(e.code, `${e.code}: ${e.message}`, e.field === undefined ? {} : { key: e.field });
    this.field = e.field;
  }
}

/** The connection to the GUI server. */
export class Connection {
  #ws: WebSocket | null = null;
  #req = 0;
  readonly #pending = new Map<
    number,
    { resolve: (v: JsonValue | undefined) => void; reject: (e: Error) => void }
  >();
  readonly #listeners = new Set<Listener>();
  #onImage: ((h: ImageHeader, pixels: Float32Array) => void) | null = null;
  #onStatus: (up: boolean) => void = () => {};
  #open: ClientMessage[] = [];

  /** Opens the socket (and re-opens it after a drop). */
  connect(): void {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws`);
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    ws.onopen = () => {
      this.#onStatus(true);
      // Re-send the subscriptions of the previous socket so views resume by themselves.
      for (const m of this.#open) ws.send(JSON.stringify(m));
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#onStatus(false);
      for (const p of this.#pending.values()) p.reject(new SaseError("CLOSED", "connection lost"));
      this.#pending.clear();
      setTimeout(() => this.connect(), 1000);
    };
    ws.onmessage = (ev) => {
      if (ev.data instanceof ArrayBuffer) {
        const { header, pixels } = decodeImageFrame(ev.data);
        this.#onImage?.(header, pixels);
        return;
      }
      const m = JSON.parse(ev.data as string) as ServerMessage;
      if (m.t === "welcome" && m.protocol !== GUI_PROTOCOL) {
        alert(`GUI server speaks protocol ${m.protocol}, this page ${GUI_PROTOCOL}: reload the page`);
      }
      if (m.t === "reply") {
        const p = this.#pending.get(m.req);
        if (p) {
          this.#pending.delete(m.req);
          if (m.ok) p.resolve(m.result);
          else p.reject(new RequestError(m.error));
        }
        return;
      }
      for (const l of this.#listeners) l(m);
    };
  }

  /** Closes and re-opens the socket (after logging in or out, so the server sees the new token). */
  reconnect(): void {
    const old = this.#ws;
    this.#ws = null;
    old?.close();
    this.connect();
  }

  /** Sends a message that needs no reply. */
  send(m: ClientMessage): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(m));
  }

  /** Sends a subscription and remembers it, so it is renewed after a reconnect; `undo` forgets it. */
  subscribe(m: ClientMessage, same: (o: ClientMessage) => boolean): void {
    this.#open = this.#open.filter((o) => !same(o));
    this.#open.push(m);
    this.send(m);
  }

  /** Forgets remembered subscriptions matching `same` and sends `m` (the unsubscribe). */
  unsubscribe(m: ClientMessage, same: (o: ClientMessage) => boolean): void {
    this.#open = this.#open.filter((o) => !same(o));
    this.send(m);
  }

  /** Sends a request and resolves to its reply (rejects with RequestError when refused). */
  request(m: RequestMessage): Promise<JsonValue | undefined> {
    const req = ++this.#req;
    return new Promise((resolve, reject) => {
      if (this.#ws?.readyState !== WebSocket.OPEN) return reject(new SaseError("CLOSED", "not connected"));
      this.#pending.set(req, { resolve, reject });
      this.#ws.send(JSON.stringify({ ...m, req }));
    });
  }

  /** Calls `l` for every JSON message (replies excepted). */
  on(l: Listener): void {
    this.#listeners.add(l);
  }

  /** Where image frames go. */
  onImage(f: (h: ImageHeader, pixels: Float32Array) => void): void {
    this.#onImage = f;
  }

  /** Told when the socket goes up or down. */
  onStatus(f: (up: boolean) => void): void {
    this.#onStatus = f;
  }
}
