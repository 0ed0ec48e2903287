// DeviceServer: hosts devices of registered classes, starts and kills them on request, keeps their
// presence alive with heartbeats, answers pings, and stamps their updates with the facility's train ID
// (from the timing server named by `timeServerId`).

import { type Caller, hasAccess, SYSTEM_CALLER } from "./access.ts";
import type { Broker, InstanceHandle, PropertySubscription, SlotRequest } from "./broker.ts";
import { TrainClock } from "./clock.ts";
import type { Device, DeviceClass } from "./device.ts";
import { SaseError } from "./errors.ts";
import { localHost } from "./inprocess-broker.ts";
import { createLogger, type Logger } from "./log.ts";
import { State } from "./state.ts";
import { TrainGrids } from "./train-grid.ts";
import { initialConfiguration } from "./validate.ts";

/** Options of a device server. */
export interface DeviceServerOptions {
  readonly serverId: string;
  readonly broker: Broker;
  /** Classes it can instantiate (more with `register`). */
  readonly classes?: readonly DeviceClass[];
  /**
   * Classes loaded on first use, by class id: a server process only pays the memory of the classes it
   * hosts (a detector class pulls in HDF5 and simulation code), yet lists and starts all of them.
   */
  readonly classLoaders?: Readonly<Record<string, () => Promise<DeviceClass>>>;
  /** Heartbeat period of the server and its devices (default 10 000 ms). */
  readonly heartbeatIntervalMs?: number;
  /** Device id of the timing server whose `trainId` stamps every update. */
  readonly timeServerId?: string;
  readonly log?: Logger;
}

/** Device ids: Karabo's characters (A-Z a-z 0-9 _ / -), preferably DOMAIN/TYPE/MEMBER. */
const DEVICE_ID_RE = /^[A-Za-z0-9_\-/]{1,255}$/;

interface Hosted {
  readonly device: Device;
  readonly handle: InstanceHandle;
  readonly unwatchState: PropertySubscription;
}

/** Hosts devices in this process. */
export class DeviceServer {
  readonly id: string;
  readonly clock = new TrainClock();
  /** The detectors' train grids of this server's devices, shared with the facility through the timing server. */
  readonly grids: TrainGrids;
  readonly log: Logger;
  readonly #broker: Broker;
  readonly #classes = new Map<string, DeviceClass>();
  readonly #loaders = new Map<string, () => Promise<DeviceClass>>();
  readonly #devices = new Map<string, Hosted>();
  readonly #heartbeatMs: number;
  readonly #timeServerId: string | undefined;
  #handle: InstanceHandle | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #timeLink: PropertySubscription | undefined;

  constructor(options: DeviceServerOptions) {
    if (!DEVICE_ID_RE.test(options.serverId)) {
      throw new SaseError(
        "BAD_ID",
        `server id ${JSON.stringify(options.serverId)}: use A-Z a-z 0-9 _ / - only`,
      );
    }
    this.id = options.serverId;
    this.#broker = options.broker;
    this.#heartbeatMs = options.heartbeatIntervalMs ?? 10_000;
    this.#timeServerId = options.timeServerId;
    this.log = options.log ?? createLogger(this.id);
    this.grids = new TrainGrids({
      participant: this.id,
      broker: this.#broker,
      ...(this.#timeServerId && { timeServerId: this.#timeServerId }),
      log: this.log,
    });
    for (const cls of options.classes ?? []) this.register(cls);
    for (const [classId, load] of Object.entries(options.classLoaders ?? {}))
      if (!this.#classes.has(classId)) this.#loaders.set(classId, load);
  }

  /** Makes classes available for instantiation (checks that every declared slot has its method). */
  register(...classes: DeviceClass[]): this {
    const before = this.classIds.length;
    for (const cls of classes) {
      for (const slot of cls.schema.slotNames()) {
        if (typeof (cls.prototype as unknown as Record<string, unknown>)[slot] !== "function") {
          throw new SaseError(
            "BAD_SCHEMA",
            `class ${cls.classId} declares slot '${slot}' but has no method ${slot}()`,
          );
        }
      }
      this.#classes.set(cls.classId, cls);
      this.#loaders.delete(cls.classId);
    }
    // A lazily loaded class was listed already: only a new class id is news to the topology.
    if (this.classIds.length !== before) this.#handle?.update({ deviceClasses: this.classIds });
    return this;
  }

  /** Class ids this server can instantiate (loaded or not). */
  get classIds(): string[] {
    return [...new Set([...this.#classes.keys(), ...this.#loaders.keys()])];
  }

  /** A class by id, loading it when it is one of `classLoaders`; undefined when the server has none. */
  async deviceClass(classId: string): Promise<DeviceClass | undefined> {
    const known = this.#classes.get(classId);
    if (known) return known;
    const load = this.#loaders.get(classId);
    if (!load) return undefined;
    const cls = await load();
    if (cls.classId !== classId)
      throw new SaseError("BAD_SCHEMA", `the loader of class '${classId}' gave class '${cls.classId}'`);
    this.register(cls);
    return cls;
  }

  /** Ids of the devices running here. */
  get deviceIds(): string[] {
    return [...this.#devices.keys()];
  }

  /** The device object of a hosted device (for code in the same process, e.g. tests). */
  device(deviceId: string): Device | undefined {
    return this.#devices.get(deviceId)?.device;
  }

  /** Joins the broker: becomes discoverable, starts heartbeats, links to the timing server. */
  async start(): Promise<void> {
    if (this.#handle) return;
    this.#handle = await this.#broker.register(
      this.id,
      {
        type: "server",
        host: localHost(),
        pid: process.pid,
        heartbeatIntervalMs: this.#heartbeatMs,
        deviceClasses: this.classIds,
      },
      (req) => this.#handleRequest(req),
    );
    this.#heartbeat = setInterval(() => {
      this.#handle?.heartbeat();
      for (const h of this.#devices.values()) h.handle.heartbeat();
    }, this.#heartbeatMs);
    this.#heartbeat.unref();
    if (this.#timeServerId) {
      this.#timeLink = this.#broker.subscribe(this.#timeServerId, "trainId", (c) =>
        this.clock.tick(Number(c.value)),
      );
    }
    this.log.info("server started", { classes: this.classIds });
  }

  /** Starts a device: validates its configuration, constructs it, registers it, runs `onInit`. */
  async instantiate(
    cls: DeviceClass | string,
    deviceId: string,
    configuration: Record<string, unknown> = {},
    caller: Caller = SYSTEM_CALLER,
  ): Promise<Device> {
    if (!this.#handle) throw new SaseError("REFUSED", `server ${this.id} is not started`);
    const deviceClass = typeof cls === "string" ? await this.deviceClass(cls) : cls;
    if (!deviceClass) {
      throw new SaseError(
        "UNKNOWN_CLASS",
        `server ${this.id} has no class '${String(cls)}'; classes: ${this.classIds.join(", ")}`,
      );
    }
    if (!this.#classes.has(deviceClass.classId)) this.register(deviceClass);
    if (typeof deviceId !== "string" || !DEVICE_ID_RE.test(deviceId)) {
      throw new SaseError(
        "BAD_ID",
        `device id ${JSON.stringify(deviceId)}: use A-Z a-z 0-9 _ / - (e.g. SPB_XTD9_XGM/DOOCS/MAIN)`,
      );
    }
    if ((await this.#broker.topology()).has(deviceId)) {
      throw new SaseError("DEVICE_EXISTS", `device '${deviceId}' already exists`, { deviceId });
    }
    const values = initialConfiguration(deviceClass.schema, configuration, caller);
    const log = this.log.child(deviceId);
    const device = new deviceClass({
      deviceId,
      serverId: this.id,
      broker: this.#broker,
      clock: this.clock,
      grids: this.grids,
      log,
      configuration: values,
    });
    const handle = await this.#broker.register(
      deviceId,
      {
        type: "device",
        classId: deviceClass.classId,
        serverId: this.id,
        host: localHost(),
        pid: process.pid,
        heartbeatIntervalMs: this.#heartbeatMs,
        status: "ok",
      },
      (req) => device.handleRequest(req),
    );
    // Presence carries a coarse status so topology views can flag broken devices without subscribing.
    const unwatchState = this.#broker.subscribe(deviceId, "state", (c) =>
      handle.update({
        status: c.value === State.ERROR ? "error" : c.value === State.UNKNOWN ? "unknown" : "ok",
      }),
    );
    this.#devices.set(deviceId, { device, handle, unwatchState });
    try {
      await device.onInit();
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      await this.kill(deviceId, `init failed: ${reason}`);
      throw new SaseError("REFUSED", `${deviceId}: initialisation failed: ${reason}`, { deviceId });
    }
    if (device.state === State.INIT) device.updateState(State.ON);
    log.info("device started", { classId: deviceClass.classId, user: caller.user });
    return device;
  }

  /** Stops a device: `onShutdown`, then it leaves the broker. */
  async kill(deviceId: string, reason = "killed"): Promise<void> {
    const hosted = this.#devices.get(deviceId);
    if (!hosted)
      throw new SaseError("UNKNOWN_DEVICE", `server ${this.id} hosts no device '${deviceId}'`, { deviceId });
    this.#devices.delete(deviceId);
    hosted.unwatchState.close();
    try {
      await hosted.device.shutdown();
    } catch (err) {
      this.log.warn("device shutdown failed", { deviceId, error: (err as Error).message });
    }
    await hosted.handle.unregister(reason);
    this.log.info("device stopped", { deviceId, reason });
  }

  /** Kills every device and leaves the broker. */
  async stop(): Promise<void> {
    for (const id of [...this.#devices.keys()].reverse()) await this.kill(id, "server shutdown");
    this.#timeLink?.close();
    this.grids.close();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    await this.#handle?.unregister("shutdown");
    this.#handle = undefined;
    this.log.info("server stopped");
  }

  async #handleRequest(req: SlotRequest): Promise<unknown> {
    const { slot, args, caller } = req;
    switch (slot) {
      case "slotPing":
        return {
          serverId: this.id,
          devices: this.deviceIds,
          classes: this.classIds,
          trainId: this.clock.trainId,
        };
      case "slotGetClassSchema": {
        const cls = await this.deviceClass(String(args.classId));
        if (!cls)
          throw new SaseError("UNKNOWN_CLASS", `server ${this.id} has no class '${String(args.classId)}'`);
        return { classId: cls.classId, description: cls.description, schema: cls.schema.toData() };
      }
      case "slotStartDevice": {
        requireLevel(caller, "operator", `start a device on ${this.id}`);
        const config = args.configuration ?? {};
        if (typeof config !== "object" || config === null || Array.isArray(config)) {
          throw new SaseError("WRONG_TYPE", "configuration must be an object of key → value");
        }
        const device = await this.instantiate(
          String(args.classId),
          args.deviceId as string,
          config as Record<string, unknown>,
          caller,
        );
        return { deviceId: device.id };
      }
      case "slotKillDevice":
        requireLevel(caller, "operator", `kill a device on ${this.id}`);
        await this.kill(String(args.deviceId), `killed by ${caller.user}`);
        return { deviceId: args.deviceId };
      default:
        throw new SaseError("UNKNOWN_SLOT", `server ${this.id} has no slot '${slot}'`, { key: slot });
    }
  }
}

function requireLevel(caller: Caller, level: Caller["accessLevel"], what: string): void {
  if (!hasAccess(caller.accessLevel, level)) {
    throw new SaseError(
      "ACCESS_DENIED",
      `to ${what} needs access level ${level}; caller '${caller.user}' has ${caller.accessLevel}`,
    );
  }
}
