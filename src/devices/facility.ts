// An embedded facility: one broker, one device server following a timing server, and a client — what
// `sase start` runs. Other layers add their devices with `addDevice`.

import {
  type Broker,
  type Caller,
  type Device,
  type DeviceClass,
  DeviceClient,
  DeviceServer,
  InProcessBroker,
  type Logger,
  createLogger,
} from "../core/index.ts";
import { SimulatedMotor } from "./motor.ts";
import { TimingServer } from "./timing.ts";

/** Options of an embedded facility. */
export interface FacilityOptions {
  /** Broker to use (default: a new in-process broker). */
  readonly broker?: Broker;
  readonly serverId?: string;
  /** Device id of the timing server (default SASE_RR_SYS/TSYS/TIMESERVER). */
  readonly timeServerId?: string;
  /** Train rate in Hz (default 10). */
  readonly trainRate?: number;
  /** Heartbeat period of the server and its devices (default 10 000 ms). */
  readonly heartbeatIntervalMs?: number;
  /** The caller that `client` acts as (default: user "sase", operator). */
  readonly caller?: Caller;
  readonly log?: Logger;
}

/** Device ids of the standard facility. */
export const FACILITY_IDS = {
  server: "sase/server/main",
  timing: "SASE_RR_SYS/TSYS/TIMESERVER",
  motorX: "SASE_SIM_MOTOR/MOTOR/X",
  motorY: "SASE_SIM_MOTOR/MOTOR/Y",
} as const;

/** A running embedded facility. */
export class Facility {
  private constructor(
    readonly broker: Broker,
    readonly server: DeviceServer,
    readonly client: DeviceClient,
    readonly timeServerId: string,
    readonly log: Logger,
    readonly ownsBroker: boolean,
  ) {}

  /** Starts the broker, the server and the timing server (motors etc. come with `addDevice`). */
  static async start(options: FacilityOptions = {}): Promise<Facility> {
    const log = options.log ?? createLogger("facility");
    const broker = options.broker ?? new InProcessBroker();
    const timeServerId = options.timeServerId ?? FACILITY_IDS.timing;
    const server = new DeviceServer({
      serverId: options.serverId ?? FACILITY_IDS.server,
      broker,
      classes: [TimingServer, SimulatedMotor],
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      timeServerId,
      log: log.child("server"),
    });
    await server.start();
    await server.instantiate(TimingServer, timeServerId, { frequency: options.trainRate ?? 10 });
    const client = new DeviceClient(broker, options.caller ?? { user: "sase", accessLevel: "operator" });
    return new Facility(broker, server, client, timeServerId, log, options.broker === undefined);
  }

  /** The standard demo facility: timing server plus two simulated motors. */
  static async standard(options: FacilityOptions = {}): Promise<Facility> {
    const facility = await Facility.start(options);
    await facility.addDevice(SimulatedMotor, FACILITY_IDS.motorX);
    await facility.addDevice(SimulatedMotor, FACILITY_IDS.motorY, { velocity: 2 });
    return facility;
  }

  /** Starts a device of `cls` (registering the class with the server if needed). */
  addDevice(
    cls: DeviceClass,
    deviceId: string,
    configuration: Record<string, unknown> = {},
  ): Promise<Device> {
    return this.server.instantiate(cls, deviceId, configuration);
  }

  /** Stops every device, the server, and the broker when the facility created it. */
  async stop(): Promise<void> {
    await this.server.stop();
    if (this.ownsBroker) await this.broker.close();
  }
}
