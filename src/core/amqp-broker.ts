// The networked broker: RabbitMQ (AMQP 0-9-1) speaking exactly Karabo 3's middlelayer protocol (WIRE.md),
// so sase devices join a Karabo topic and Karabo devices are reachable from sase. One connection per
// process; every registered instance has its own channel and queue `<topic>.<id>`; this broker's own
// client instance (`clientId`) owns the queue where replies, topology broadcasts and subscribed signals
// arrive, plus Karabo's `:beats` queue for heartbeats. When the connection drops it reconnects through the
// URL list, declares everything again and announces every instance again.

import { randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import { type AccessLevel, type Caller, SYSTEM_CALLER } from "./access.ts";
import type {
  Broker,
  CallOptions,
  InstanceHandle,
  InstanceInfo,
  PropertyChange,
  PropertySubscription,
  SlotHandler,
  SlotRequest,
  TopologyEvent,
  TopologySubscription,
} from "./broker.ts";
import { SaseError, TimeoutError } from "./errors.ts";
import { Hash, type HashValue } from "./hash.ts";
import {
  configurationFromKarabo,
  configurationToKarabo,
  errorFromReply,
  errorReply,
  heartbeatSeconds,
  infoFromKarabo,
  infoToKarabo,
  plainReply,
  valuesForSchema,
} from "./karabo-calls.ts";
import { KaraboCalls } from "./karabo-client.ts";
import { schemaToKarabo, schemaValue } from "./karabo-schema.ts";
import {
  argsHash,
  decodeMessage,
  encodeMessage,
  type HeaderFields,
  headerString,
  type KaraboMessage,
  type TypedArg,
  toPlain,
} from "./karabo-wire.ts";
import { InstanceDirectory } from "./instance-directory.ts";
import { PropertyListeners } from "./listeners.ts";
import { createLogger, type Logger } from "./log.ts";
import { Schema } from "./schema.ts";
import type { Timestamp } from "./timestamp.ts";

/** Options of the AMQP broker. */
export interface AmqpBrokerOptions {
  /** Broker URLs tried in order (failover), e.g. amqp://user:pw@host:5672. */
  readonly urls: readonly string[];
  /** The Karabo topic (domain): exchanges `<topic>.Slots`, `<topic>.Global_Slots`, `<topic>.Signals`. */
  readonly topic: string;
  /** Id of this process's client instance (default `sase-<host>-<pid>-<random>`). */
  readonly clientId?: string;
  /** Default call timeout (default 10 000 ms). */
  readonly callTimeoutMs?: number;
  /** How long a new id waits for an existing owner to answer its slotPing (default 500 ms; Karabo: 1 s). */
  readonly pingTimeoutMs?: number;
  /** How long the first topology() waits for slotDiscover answers (default 400 ms). */
  readonly discoverMs?: number;
  /** Heartbeat period of the client instance (default 20 000 ms). */
  readonly heartbeatIntervalMs?: number;
  /** An instance silent for this many heartbeat intervals is gone (default 3, Karabo's numBeats). */
  readonly missedBeats?: number;
  /** How often silence is checked (default 500 ms). */
  readonly trackerPeriodMs?: number;
  /** Items buffered per subscription stream (default 1000). */
  readonly streamCapacity?: number;
  /** Access level of callers by their broker user name (RabbitMQ checks the user_id property). */
  readonly accessLevels?: Readonly<Record<string, AccessLevel>>;
  /** Level of callers not in `accessLevels`, and of Karabo peers, which send no user (default observer). */
  readonly defaultAccessLevel?: AccessLevel;
  /** Longest pause between reconnection attempts (default 2000 ms). */
  readonly maxReconnectDelayMs?: number;
  readonly log?: Logger;
}

/** Karabo's queue arguments (broker.py): bounded, oldest dropped, messages live two minutes. */
const QUEUE_ARGUMENTS = { "x-max-length": 10_000, "x-overflow": "drop-head", "x-message-ttl": 120_000 };
const EXCHANGE_OPTIONS = { durable: false, autoDelete: true, internal: false };
const TOPOLOGY_SLOTS = ["slotInstanceNew", "slotInstanceUpdated", "slotInstanceGone"];
const ID_RE = /^[A-Za-z0-9_/-]+$/;

interface Local {
  readonly id: string;
  info: InstanceInfo;
  readonly handler: SlotHandler;
  channel: Channel | undefined;
  queue: string | undefined;
  /** The sase schema of a device, for typing its values on the wire. */
  schema: Schema | undefined;
  karaboSchema: Hash | undefined;
  gone: boolean;
}

interface Pending {
  readonly resolve: (params: HashValue[]) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly target: string;
  readonly slot: string;
}

/** A Broker on RabbitMQ speaking Karabo 3's middlelayer protocol. */
export class AmqpBroker implements Broker {
  readonly topic: string;
  readonly clientId: string;
  readonly log: Logger;
  readonly #urls: readonly string[];
  readonly #opts: AmqpBrokerOptions;
  readonly #callTimeoutMs: number;
  readonly #locals = new Map<string, Local>();
  readonly #pending = new Map<string, Pending>();
  readonly #directory: InstanceDirectory;
  readonly #listeners: PropertyListeners;
  readonly #signalKeys = new Map<string, number>();
  readonly #calls: KaraboCalls;
  #conn: ChannelModel | undefined;
  #channel: Channel | undefined;
  #user = "guest";
  #url = "";
  #closed = false;
  #connecting: Promise<void> | undefined;
  #discovered: Promise<void> = Promise.resolve();
  #tracker: NodeJS.Timeout | undefined;
  #beat: NodeJS.Timeout | undefined;
  #seq = 0;
  /** Karabo's replyTo is `<senderId>-<hex>`: a random part chosen once, then a counter. */
  #replyPrefix = "";

  constructor(options: AmqpBrokerOptions) {
    if (options.urls.length === 0) throw new SaseError("BAD_ID", "no broker URL given");
    for (const url of options.urls) brokerUser(url);
    if (!/^[A-Za-z0-9_-]+$/.test(options.topic) || options.topic.endsWith("_beats")) {
      throw new SaseError(
        "BAD_ID",
        `topic ${JSON.stringify(options.topic)}: use A-Z a-z 0-9 _ - only, not ending in _beats`,
      );
    }
    this.#opts = options;
    this.#urls = options.urls;
    this.topic = options.topic;
    this.clientId = options.clientId ?? defaultClientId();
    if (!ID_RE.test(this.clientId))
      throw new SaseError("BAD_ID", `client id ${JSON.stringify(this.clientId)}`);
    this.#callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.#replyPrefix = `${this.clientId}-${randomBytes(4).toString("hex")}`;
    this.log = options.log ?? createLogger(`amqp:${this.topic}`);
    this.#calls = new KaraboCalls((target, slot, args, timeoutMs) =>
      this.#request(target, slot, args, timeoutMs),
    );
    this.#listeners = new PropertyListeners(options.streamCapacity ?? 1000);
    this.#directory = new InstanceDirectory(
      options.streamCapacity ?? 1000,
      (id) => this.#locals.has(id) || id === this.clientId,
      (id) => this.#calls.forget(id),
    );
  }

  /** The URL of the broker this process is connected to now (credentials removed). */
  get url(): string {
    return redact(this.#url);
  }

  /** The broker user this process connects as: the identity its calls carry. */
  get user(): string {
    return this.#user;
  }

  /** Connects (trying every URL in order), declares the client instance and discovers the topology. */
  async connect(): Promise<void> {
    await this.#connectOnce();
    const period = this.#opts.trackerPeriodMs ?? 500;
    const missed = this.#opts.missedBeats ?? 3;
    this.#tracker = setInterval(() => this.#directory.expire(period, missed), period);
    this.#tracker.unref();
    const beatMs = this.#opts.heartbeatIntervalMs ?? 20_000;
    this.#beat = setInterval(() => this.#heartbeat(this.clientId, this.#clientInfo()), beatMs);
    this.#beat.unref();
  }

  async #connectOnce(): Promise<void> {
    const errors: string[] = [];
    // amqplib is loaded on the first connection, not with core: every sase command loads core, few
    // talk to a broker, and amqplib takes ~50 ms to load.
    const { connect: amqpConnect } = await import("amqplib");
    for (const url of this.#urls) {
      try {
        const conn = await amqpConnect(url, {
          clientProperties: { connection_name: this.clientId },
          // Calls are small messages waiting on each other: Nagle's algorithm would hold each one back.
          noDelay: true,
        });
        this.#conn = conn;
        this.#url = url;
        this.#user = brokerUser(url);
        conn.on("error", (err: Error) => this.log.warn("broker connection error", { error: err.message }));
        conn.on("close", () => this.#lost(conn));
        await this.#declareClient(conn);
        for (const l of this.#locals.values()) await this.#declareInstance(l);
        for (const l of this.#locals.values()) this.#announce(l.id, l.info);
        return;
      } catch (err) {
        errors.push(`${redact(url)}: ${(err as Error).message}`);
        const conn = this.#conn;
        this.#conn = undefined;
        this.#channel = undefined;
        await conn?.close().catch(() => undefined);
      }
    }
    throw new SaseError("BROKER_CLOSED", `cannot reach the broker: ${errors.join("; ")}`);
  }

  async #declareClient(conn: ChannelModel): Promise<void> {
    const ch = await conn.createChannel();
    ch.on("error", (err: Error) => this.log.warn("client channel error", { error: err.message }));
    this.#channel = ch;
    for (const name of ["Slots", "Global_Slots", "Signals"])
      await ch.assertExchange(`${this.topic}.${name}`, "topic", EXCHANGE_OPTIONS);
    const queue = `${this.topic}.${this.clientId}`;
    await ch.assertQueue(queue, {
      exclusive: true,
      autoDelete: true,
      durable: false,
      arguments: QUEUE_ARGUMENTS,
    });
    await ch.bindQueue(queue, `${this.topic}.Slots`, `${this.clientId}.#`);
    await ch.bindQueue(queue, `${this.topic}.Global_Slots`, ":none:");
    await ch.bindQueue(queue, `${this.topic}.Signals`, ":none:");
    for (const slot of [...TOPOLOGY_SLOTS, "slotDiscover"])
      await ch.bindQueue(queue, `${this.topic}.Global_Slots`, `*.${slot}`);
    for (const key of this.#signalKeys.keys()) await ch.bindQueue(queue, `${this.topic}.Signals`, key);
    await ch.consume(queue, (m) => this.#onClientMessage(m), { noAck: true, exclusive: true });
    const beats = `${queue}:beats`;
    await ch.assertQueue(beats, {
      exclusive: true,
      autoDelete: true,
      durable: false,
      arguments: QUEUE_ARGUMENTS,
    });
    await ch.consume(beats, (m) => this.#onBeat(m), { noAck: true, exclusive: true });
    await ch.bindQueue(beats, `${this.topic}.Global_Slots`, "*.slotHeartbeat");
    this.#announce(this.clientId, this.#clientInfo());
    const settle = this.#opts.discoverMs ?? 400;
    this.#send("Global_Slots", `${this.clientId}.slotDiscover`, {}, [this.clientId]);
    this.#discovered = new Promise((resolve) => setTimeout(resolve, settle).unref());
  }

  #lost(conn: ChannelModel): void {
    if (conn !== this.#conn) return;
    this.#conn = undefined;
    this.#channel = undefined;
    for (const l of this.#locals.values()) {
      l.channel = undefined;
      l.queue = undefined;
    }
    if (this.#closed) return;
    this.log.warn("lost the broker connection; reconnecting", { url: redact(this.#url) });
    this.#reconnect();
  }

  #reconnect(): void {
    if (this.#connecting || this.#closed) return;
    const max = this.#opts.maxReconnectDelayMs ?? 2000;
    this.#connecting = (async () => {
      for (let delay = 100; !this.#closed; delay = Math.min(max, delay * 2)) {
        await new Promise((r) => setTimeout(r, delay));
        if (this.#closed) return;
        try {
          await this.#connectOnce();
          this.log.info("reconnected to the broker", { url: redact(this.#url) });
          return;
        } catch (err) {
          this.log.debug("reconnection failed", { error: (err as Error).message });
        }
      }
    })().finally(() => {
      this.#connecting = undefined;
    });
  }

  // ---- instances ---------------------------------------------------------------------------------

  async register(instanceId: string, info: InstanceInfo, handler: SlotHandler): Promise<InstanceHandle> {
    this.#assertOpen();
    if (!ID_RE.test(instanceId)) {
      throw new SaseError("BAD_ID", `instance id ${JSON.stringify(instanceId)}: use A-Z a-z 0-9 _ / - only`);
    }
    if (this.#locals.has(instanceId) || instanceId === this.clientId) throw exists(instanceId);
    const local: Local = {
      id: instanceId,
      info: info.type === "server" ? { serverId: instanceId, ...info } : { ...info },
      handler,
      channel: undefined,
      queue: undefined,
      schema: undefined,
      karaboSchema: undefined,
      gone: false,
    };
    if (info.type === "device") {
      const reply = (await handler({ slot: "slotGetSchema", args: {}, caller: SYSTEM_CALLER })) as {
        schema: unknown;
      };
      local.schema = Schema.fromData(reply.schema);
      local.karaboSchema = schemaToKarabo(local.schema);
    }
    // Karabo's id check: a queue held by another connection is locked; an owner answers slotPing.
    await this.#checkIdFree(instanceId);
    this.#locals.set(instanceId, local);
    try {
      await this.#declareInstance(local);
    } catch (err) {
      this.#locals.delete(instanceId);
      if (resourceLocked(err)) throw exists(instanceId);
      throw err;
    }
    this.#directory.setOwn(instanceId, local.info, "new");
    this.#announce(instanceId, local.info);
    return {
      instanceId,
      heartbeat: () => {
        if (!local.gone) this.#heartbeat(instanceId, local.info);
      },
      update: (change) => {
        if (local.gone) return;
        local.info = { ...local.info, ...change };
        this.#directory.setOwn(instanceId, local.info, "updated");
        this.#send(
          "Global_Slots",
          `${instanceId}.slotInstanceUpdated`,
          {},
          [instanceId, infoToKarabo(local.info, this.#user)],
          instanceId,
        );
      },
      unregister: async (reason = "shutdown") => {
        if (local.gone) return;
        local.gone = true;
        this.#send(
          "Global_Slots",
          `${instanceId}.slotInstanceGone`,
          {},
          [instanceId, infoToKarabo(local.info, this.#user)],
          instanceId,
        );
        this.#locals.delete(instanceId);
        this.#directory.removeOwn(instanceId, local.info, reason);
        await local.channel?.close().catch(() => undefined);
      },
    };
  }

  async #checkIdFree(id: string): Promise<void> {
    const conn = this.#requireConnection();
    const probe = await conn.createChannel();
    probe.on("error", () => undefined);
    try {
      await probe.checkQueue(`${this.topic}.${id}`);
      await probe.close().catch(() => undefined);
    } catch (err) {
      // 404: nobody holds the queue (the channel is closed by the broker); 405: another connection does.
      if (resourceLocked(err)) throw exists(id);
    }
    const owner = await this.#request(
      id,
      "slotPing",
      [{ value: 1, type: "INT32" }],
      this.#opts.pingTimeoutMs ?? 500,
    )
      .then(() => true)
      .catch(() => false);
    if (owner) throw exists(id);
  }

  async #declareInstance(l: Local): Promise<void> {
    const conn = this.#requireConnection();
    const ch = await conn.createChannel();
    ch.on("error", (err: Error) =>
      this.log.warn("instance channel error", { instanceId: l.id, error: err.message }),
    );
    const queue = `${this.topic}.${l.id}`;
    await ch.assertQueue(queue, {
      exclusive: true,
      autoDelete: true,
      durable: false,
      arguments: QUEUE_ARGUMENTS,
    });
    await ch.bindQueue(queue, `${this.topic}.Slots`, `${l.id}.#`);
    await ch.bindQueue(queue, `${this.topic}.Global_Slots`, ":none:");
    await ch.bindQueue(queue, `${this.topic}.Signals`, ":none:");
    await ch.bindQueue(queue, `${this.topic}.Global_Slots`, "*.slotDiscover");
    await ch.consume(queue, (m) => this.#onInstanceMessage(l, m), { noAck: true, exclusive: true });
    l.channel = ch;
    l.queue = queue;
  }

  #announce(id: string, info: InstanceInfo): void {
    this.#send("Global_Slots", `${id}.slotInstanceNew`, {}, [id, infoToKarabo(info, this.#user)], id);
  }

  #heartbeat(id: string, info: InstanceInfo): void {
    const beat = new Hash()
      .set("type", info.type, "STRING")
      .set("heartbeatInterval", heartbeatSeconds(info.heartbeatIntervalMs), "INT32");
    this.#send("Global_Slots", `${id}.slotHeartbeat`, {}, [id, beat], id);
  }

  #clientInfo(): InstanceInfo {
    return {
      type: "client",
      host: hostname(),
      pid: process.pid,
      heartbeatIntervalMs: this.#opts.heartbeatIntervalMs ?? 20_000,
    };
  }

  // ---- calls ------------------------------------------------------------------------------------

  async call<T = unknown>(
    instanceId: string,
    slot: string,
    args: Record<string, unknown> = {},
    options: CallOptions = {},
  ): Promise<T> {
    this.#assertOpen();
    return this.#calls.call<T>(instanceId, slot, args, options.timeoutMs ?? this.#callTimeoutMs);
  }

  /** Sends a request and resolves with the reply's arguments (an error reply rejects). */
  #request(target: string, slot: string, args: readonly TypedArg[], timeoutMs: number): Promise<HashValue[]> {
    if (!this.#channel) {
      return Promise.reject(
        new SaseError("BROKER_CLOSED", `not connected to the broker; cannot call ${target}.${slot}`, {
          deviceId: target,
        }),
      );
    }
    // Unique per process is enough (replies come back on our own queue); the random part keeps a
    // restarted process with the same client id from taking an old reply as its own.
    const replyTo = `${this.#replyPrefix}${(++this.#seq).toString(16)}`;
    return new Promise<HashValue[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(replyTo);
        reject(
          new TimeoutError("TIMEOUT", `no reply from '${target}' to ${slot} within ${timeoutMs} ms`, {
            deviceId: target,
            key: slot,
          }),
        );
      }, timeoutMs);
      this.#pending.set(replyTo, { resolve, reject, timer, target, slot });
      this.#send("Slots", `${target}.${slot}`, { replyTo }, args);
    });
  }

  #send(
    exchange: "Slots" | "Global_Slots" | "Signals",
    key: string,
    fields: HeaderFields,
    args: readonly TypedArg[],
    senderId = this.clientId,
  ): void {
    const ch = this.#channel;
    if (!ch) return;
    try {
      const body = encodeMessage(senderId, fields, argsHash(args));
      // user_id is checked by RabbitMQ against the connection's user: receivers can trust it.
      ch.publish(`${this.topic}.${exchange}`, key, body, { userId: this.#user });
    } catch (err) {
      this.log.error("cannot send message", { key, error: (err as Error).message });
    }
  }

  // ---- incoming ----------------------------------------------------------------------------------

  #decode(m: ConsumeMessage): KaraboMessage | undefined {
    try {
      return decodeMessage(m.content);
    } catch (err) {
      this.log.warn("malformed message dropped", {
        exchange: m.fields.exchange,
        routingKey: m.fields.routingKey,
        bytes: m.content.length,
        error: (err as Error).message,
      });
      return undefined;
    }
  }

  #onClientMessage(m: ConsumeMessage | null): void {
    if (!m) return;
    const msg = this.#decode(m);
    if (!msg) return;
    try {
      this.#dispatchClient(m, msg);
    } catch (err) {
      this.log.warn("message dropped", { routingKey: m.fields.routingKey, error: (err as Error).message });
    }
  }

  #dispatchClient(m: ConsumeMessage, msg: KaraboMessage): void {
    const { exchange, routingKey } = m.fields;
    const dot = routingKey.indexOf(".");
    const slot = routingKey.slice(dot + 1);
    const sender = headerString(msg.header, "signalInstanceId") ?? routingKey.slice(0, dot);
    if (exchange.endsWith(".Signals")) {
      if (slot === "signalChanged") this.#onChanged(routingKey.slice(0, dot), msg.args);
      return;
    }
    const replyFrom = headerString(msg.header, "replyFrom");
    if (replyFrom !== undefined) {
      const p = this.#pending.get(replyFrom);
      if (!p) return;
      this.#pending.delete(replyFrom);
      clearTimeout(p.timer);
      if (msg.header.has("error") && msg.header.get("error") === true)
        p.reject(errorFromReply(p.target, p.slot, msg.args));
      else p.resolve(msg.args);
      return;
    }
    switch (slot) {
      case "slotInstanceNew":
      case "slotInstanceUpdated":
      case "slotDiscoverAnswer": {
        const [id, info] = msg.args;
        if (typeof id !== "string" || !(info instanceof Hash))
          throw new SaseError("BAD_MESSAGE", `${slot} without (id, info)`);
        this.#directory.seen(id, infoFromKarabo(info, id), slot === "slotInstanceUpdated");
        return;
      }
      case "slotInstanceGone": {
        const [id] = msg.args;
        if (typeof id === "string") this.#directory.forget(id, "shutdown");
        return;
      }
      case "slotDiscover": {
        const [requestor] = msg.args;
        if (typeof requestor === "string")
          this.#send("Slots", `${requestor}.slotDiscoverAnswer`, {}, [
            this.clientId,
            infoToKarabo(this.#clientInfo(), this.#user),
          ]);
        return;
      }
      case "slotPing":
        this.#reply(this.clientId, msg, [infoToKarabo(this.#clientInfo(), this.#user)]);
        return;
      default:
        this.#replyError(this.clientId, msg, [`Slot does not exist: '${slot}'`, ""]);
        this.log.debug("call of an unknown slot of the client", { sender, slot });
    }
  }

  #onBeat(m: ConsumeMessage | null): void {
    if (!m) return;
    const msg = this.#decode(m);
    if (!msg) return;
    const [id, beat] = msg.args;
    if (typeof id !== "string" || !(beat instanceof Hash)) return;
    if (this.#directory.beat(id)) return;
    // A beat from an instance we do not know (we started after it, or it came back): ask who it is.
    this.#request(id, "slotPing", [{ value: 1, type: "INT32" }], 2000).then(
      ([info]) => {
        if (info instanceof Hash) this.#directory.seen(id, infoFromKarabo(info, id), false);
      },
      () => undefined,
    );
  }

  #onChanged(deviceId: string, args: readonly HashValue[]): void {
    const [config, id] = args;
    if (!(config instanceof Hash)) return;
    const device = typeof id === "string" ? id : deviceId;
    if (!this.#listeners.listening(device)) return;
    const { values, timestamps } = configurationFromKarabo(config);
    const now = Date.now();
    const changes: PropertyChange[] = Object.entries(values).map(([key, value]) => ({
      deviceId: device,
      key,
      value,
      timestamp: timestamps[key] ?? { sec: Math.floor(now / 1000), frac: 0n, trainId: 0 },
    }));
    this.#listeners.deliver(device, changes);
  }

  #onInstanceMessage(l: Local, m: ConsumeMessage | null): void {
    if (!m) return;
    const msg = this.#decode(m);
    if (!msg) return;
    const { exchange, routingKey } = m.fields;
    const dot = routingKey.indexOf(".");
    const slot = routingKey.slice(dot + 1);
    if (exchange.endsWith(".Global_Slots")) {
      const [requestor] = msg.args;
      if (slot === "slotDiscover" && typeof requestor === "string")
        this.#send(
          "Slots",
          `${requestor}.slotDiscoverAnswer`,
          {},
          [l.id, infoToKarabo(l.info, this.#user)],
          l.id,
        );
      return;
    }
    if (headerString(msg.header, "replyFrom") !== undefined) return;
    this.#serve(l, slot, msg, m.properties.userId as string | undefined).catch((err: unknown) =>
      this.log.warn("slot failed", { instanceId: l.id, slot, error: (err as Error).message }),
    );
  }

  async #serve(l: Local, slot: string, msg: KaraboMessage, user: string | undefined): Promise<void> {
    const sender = headerString(msg.header, "signalInstanceId") ?? "unknown";
    const caller = this.#caller(user, sender);
    const call = (name: string, args: Record<string, unknown>, handler = l.handler) =>
      handler({ slot: name, args, caller } satisfies SlotRequest);
    const p = msg.args;
    try {
      let reply: TypedArg[];
      switch (slot) {
        case "slotPing":
          // Karabo's slotPing replies with the instanceInfo only: that is how an id is known to be taken.
          reply = [infoToKarabo(l.info, this.#user)];
          break;
        case "slotGetSchema": {
          if (!l.karaboSchema) throw new SaseError("UNKNOWN_SLOT", `${l.id} has no schema`);
          reply = [{ value: schemaValue(l.info.classId ?? "Device", l.karaboSchema), type: "SCHEMA" }, l.id];
          break;
        }
        case "slotGetConfiguration":
        case "slotGetConfigurationSlice": {
          const paths = p[0] instanceof Hash && p[0].has("paths") ? toPlain(p[0].get("paths")) : undefined;
          const conf = (await call("slotGetConfiguration", Array.isArray(paths) ? { keys: paths } : {})) as {
            values: Record<string, unknown>;
            timestamps: Record<string, Timestamp>;
          };
          const h = configurationToKarabo(l.schema ?? new Schema({}), conf.values, conf.timestamps);
          reply = slot === "slotGetConfiguration" ? [h, l.id] : [h];
          break;
        }
        case "slotReconfigure": {
          if (!(p[0] instanceof Hash))
            throw new SaseError("WRONG_TYPE", `${l.id}: slotReconfigure needs a Hash`);
          const values = valuesForSchema(l.schema, configurationFromKarabo(p[0]).values);
          await call("slotReconfigure", { configuration: values });
          reply = [null];
          break;
        }
        case "slotStartDevice": {
          const h = p[0];
          if (!(h instanceof Hash))
            throw new SaseError("WRONG_TYPE", `${l.id}: slotStartDevice needs a Hash`);
          const config = h.has("configuration")
            ? configurationFromKarabo(h.get<Hash>("configuration")).values
            : {};
          for (const injected of ["serverId", "hostName", "deviceId"]) delete config[injected];
          const classId = h.has("classId") ? String(h.get("classId")) : "";
          const deviceId = h.has("deviceId") ? String(h.get("deviceId")) : "";
          const r = (await call("slotStartDevice", { classId, deviceId, configuration: config })) as {
            deviceId: string;
          };
          reply = [true, r.deviceId];
          break;
        }
        case "slotKillDevice": {
          if (l.info.type === "device") {
            const server = l.info.serverId ? this.#locals.get(l.info.serverId) : undefined;
            if (!server) throw new SaseError("REFUSED", `${l.id}: its server is not in this process`);
            await call("slotKillDevice", { deviceId: l.id }, server.handler);
          } else {
            const deviceId = typeof p[0] === "string" ? p[0] : undefined;
            if (!deviceId) throw new SaseError("REFUSED", `${l.id}: slotKillDevice needs a device id`);
            await call("slotKillDevice", { deviceId });
          }
          reply = [true];
          break;
        }
        case "slotGetClassSchema": {
          const classId = String(p[0] ?? "");
          const r = (await call("slotGetClassSchema", { classId })) as { schema: unknown };
          const schema = schemaToKarabo(Schema.fromData(r.schema));
          reply = [{ value: schemaValue(classId, schema), type: "SCHEMA" }, classId, l.id];
          break;
        }
        case "slotHasSlot":
          reply = [{ value: Boolean(l.schema?.slotNames().includes(String(p[0]))), type: "BOOL" }];
          break;
        default: {
          const args = p[0] instanceof Hash ? (toPlain(p[0]) as Record<string, unknown>) : {};
          reply = plainReply(await call(slot, args));
        }
      }
      this.#reply(l.id, msg, reply);
    } catch (err) {
      this.#replyError(l.id, msg, errorReply(err));
    }
  }

  #caller(user: string | undefined, sender: string): Caller {
    const levels = this.#opts.accessLevels ?? {};
    const level =
      (user !== undefined ? levels[user] : undefined) ?? this.#opts.defaultAccessLevel ?? "observer";
    return { user: user ?? `karabo:${sender}`, accessLevel: level };
  }

  #reply(from: string, msg: KaraboMessage, args: readonly TypedArg[]): void {
    this.#replyWith(from, msg, args, false);
  }

  #replyError(from: string, msg: KaraboMessage, [text, details]: [string, string]): void {
    this.#replyWith(from, msg, [text, details], true);
  }

  #replyWith(from: string, msg: KaraboMessage, args: readonly TypedArg[], error: boolean): void {
    const sender = headerString(msg.header, "signalInstanceId");
    if (!sender) return;
    const replyTo = headerString(msg.header, "replyTo");
    const replyFunction = headerString(msg.header, "replyFunction");
    if (replyTo) this.#send("Slots", `${sender}.${replyTo}`, { error, replyFrom: replyTo }, args, from);
    else if (replyFunction) this.#send("Slots", `${sender}.${replyFunction}`, { error }, args, from);
  }

  // ---- properties --------------------------------------------------------------------------------

  publish(deviceId: string, changes: readonly PropertyChange[]): void {
    if (this.#closed || changes.length === 0) return;
    const local = this.#locals.get(deviceId);
    const schema = local?.schema ?? new Schema({});
    const values: Record<string, unknown> = {};
    const stamps: Record<string, PropertyChange["timestamp"]> = {};
    for (const c of changes) {
      values[c.key] = c.value;
      stamps[c.key] = c.timestamp;
    }
    let h: Hash;
    try {
      h = configurationToKarabo(schema, values, stamps);
    } catch (err) {
      this.log.error("cannot encode property changes", { deviceId, error: (err as Error).message });
      return;
    }
    this.#send("Signals", `${deviceId}.signalChanged`, {}, [h, deviceId], deviceId);
  }

  subscribe(
    deviceId: string,
    keys?: string | readonly string[],
    onChange?: (change: PropertyChange) => void,
  ): PropertySubscription {
    this.#assertOpen();
    const routing = `${deviceId}.signalChanged`;
    const stream = this.#listeners.add(deviceId, keys, onChange, () => this.#unbindSignal(routing));
    this.#bindSignal(routing);
    return stream;
  }

  /** Waits until every signal binding asked for so far is in place on the broker. */
  async settled(): Promise<void> {
    await this.#bindings;
  }

  #bindings: Promise<unknown> = Promise.resolve();

  #bindSignal(key: string): void {
    const n = this.#signalKeys.get(key) ?? 0;
    this.#signalKeys.set(key, n + 1);
    if (n > 0) return;
    const ch = this.#channel;
    if (!ch) return;
    const queue = `${this.topic}.${this.clientId}`;
    this.#bindings = this.#bindings.then(() =>
      ch
        .bindQueue(queue, `${this.topic}.Signals`, key)
        .catch((err: Error) => this.log.warn("cannot subscribe", { key, error: err.message })),
    );
  }

  #unbindSignal(key: string): void {
    const n = (this.#signalKeys.get(key) ?? 1) - 1;
    if (n > 0) {
      this.#signalKeys.set(key, n);
      return;
    }
    this.#signalKeys.delete(key);
    const ch = this.#channel;
    if (!ch || this.#closed) return;
    const queue = `${this.topic}.${this.clientId}`;
    this.#bindings = this.#bindings.then(() =>
      ch.unbindQueue(queue, `${this.topic}.Signals`, key).catch(() => undefined),
    );
  }

  // ---- topology ----------------------------------------------------------------------------------

  async topology(): Promise<Map<string, InstanceInfo>> {
    this.#assertOpen();
    await this.#discovered;
    return this.#directory.list();
  }

  watchTopology(onEvent?: (event: TopologyEvent) => void): TopologySubscription {
    this.#assertOpen();
    return this.#directory.watch(onEvent);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const l of [...this.#locals.values()].reverse()) {
      this.#send(
        "Global_Slots",
        `${l.id}.slotInstanceGone`,
        {},
        [l.id, infoToKarabo(l.info, this.#user)],
        l.id,
      );
    }
    this.#send("Global_Slots", `${this.clientId}.slotInstanceGone`, {}, [
      this.clientId,
      infoToKarabo(this.#clientInfo(), this.#user),
    ]);
    this.#closed = true;
    clearInterval(this.#tracker);
    clearInterval(this.#beat);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new SaseError("BROKER_CLOSED", `the broker closed before ${p.target} replied to ${p.slot}`));
    }
    this.#pending.clear();
    this.#listeners.closeAll();
    this.#directory.close();
    this.#locals.clear();
    const conn = this.#conn;
    this.#conn = undefined;
    this.#channel = undefined;
    await this.#connecting?.catch(() => undefined);
    await conn?.close().catch(() => undefined);
  }

  #requireConnection(): ChannelModel {
    if (!this.#conn) throw new SaseError("BROKER_CLOSED", `not connected to the broker (${this.url})`);
    return this.#conn;
  }

  #assertOpen(): void {
    if (this.#closed) throw new SaseError("BROKER_CLOSED", "the broker is closed");
  }
}

/** Where and how to connect: URLs (failover order) and topic, from options or Karabo's environment. */
export interface AmqpConnectOptions extends Omit<Partial<AmqpBrokerOptions>, "urls"> {
  /** Comma-separated URL list or array; default $KARABO_BROKER. */
  readonly urls?: readonly string[] | string;
}

/** Karabo's environment: KARABO_BROKER (comma list = failover) and KARABO_BROKER_TOPIC (default $USER). */
export function resolveBrokerEnv(
  env: NodeJS.ProcessEnv = process.env,
  given: { urls?: readonly string[] | string; topic?: string } = {},
): { urls: string[]; topic: string } {
  const raw = given.urls ?? env.KARABO_BROKER ?? "amqp://guest:guest@localhost:5672";
  const urls = (typeof raw === "string" ? raw.split(",") : [...raw]).map((u) => u.trim()).filter(Boolean);
  const topic = given.topic ?? env.KARABO_BROKER_TOPIC ?? env.USER ?? userInfo().username;
  return { urls, topic };
}

/** Connects an AmqpBroker (URLs and topic default to Karabo's environment variables). */
export async function connectAmqpBroker(options: AmqpConnectOptions = {}): Promise<AmqpBroker> {
  const { urls, topic } = resolveBrokerEnv(process.env, { urls: options.urls, topic: options.topic });
  const broker = new AmqpBroker({ ...options, urls, topic });
  await broker.connect();
  return broker;
}

function brokerUser(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SaseError("BAD_ID", `broker URL ${JSON.stringify(redact(url))} is not a URL`);
  }
  if (parsed.protocol !== "amqp:")
    throw new SaseError("BAD_ID", `broker URL ${redact(url)}: the scheme must be amqp (Karabo's)`);
  return decodeURIComponent(parsed.username) || "guest";
}

/** A URL without its password, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

function defaultClientId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, "_");
  return `sase-${host}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/**
 * Whether the broker refused an operation with AMQP's 405 RESOURCE_LOCKED (a queue exclusive to another
 * connection). By the reply code amqplib puts on the error, not by the message's text: the broker's
 * NOT_FOUND message names the queue, and a topic such as sase_cli_f66405d2 put "405" in it.
 */
function resourceLocked(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 405;
}

function exists(id: string): SaseError {
  return new SaseError("DEVICE_EXISTS", `instance '${id}' already exists on the broker`, { deviceId: id });
}
