// A simulated motor: a position that moves toward a target at a set velocity, within soft limits.
// Copy this file to write a new device: declare the schema (the data sheet), then the slot methods.

import {
  defineDevice,
  type DeviceProps,
  el,
  SaseError,
  type SchemaSpec,
  type Slots,
  State,
} from "../core/index.ts";

const schema = {
  position: el.double({
    displayedName: "Position",
    description: "Actual position from the (simulated) encoder",
    unit: "meter",
    prefix: "milli",
    access: "readOnly",
    default: 0,
  }),
  targetPosition: el.double({
    displayedName: "Target position",
    description: "Where `move` goes; must lie within the limits",
    unit: "meter",
    prefix: "milli",
    access: "reconfigurable",
    default: 0,
    allowedStates: [State.STATIC],
  }),
  velocity: el.double({
    displayedName: "Velocity",
    unit: "meterPerSecond",
    prefix: "milli",
    access: "reconfigurable",
    default: 5,
    minExc: 0,
    max: 100,
    allowedStates: [State.STATIC],
  }),
  lowerLimit: el.double({
    displayedName: "Lower soft limit",
    unit: "meter",
    prefix: "milli",
    access: "reconfigurable",
    default: -100,
    requiredAccessLevel: "expert",
    allowedStates: [State.STATIC],
  }),
  upperLimit: el.double({
    displayedName: "Upper soft limit",
    unit: "meter",
    prefix: "milli",
    access: "reconfigurable",
    default: 100,
    requiredAccessLevel: "expert",
    allowedStates: [State.STATIC],
  }),
  updatePeriod: el.double({
    displayedName: "Update period",
    description: "How often the position is updated while moving",
    unit: "second",
    prefix: "milli",
    default: 50,
    min: 1,
    max: 1000,
    archive: "noArchiving",
  }),
  move: el.slot({
    displayedName: "Move",
    description: "Move to targetPosition",
    allowedStates: [State.STATIC],
  }),
  moveTo: el.slot({
    displayedName: "Move to",
    description: "Set targetPosition and move there",
    allowedStates: [State.STATIC],
    args: {
      position: el.double({ displayedName: "Position", unit: "meter", prefix: "milli", mandatory: true }),
    },
  }),
  stop: el.slot({ displayedName: "Stop", allowedStates: [State.MOVING] }),
  reset: el.slot({ displayedName: "Reset", description: "Clear an error", allowedStates: [State.ERROR] }),
  simulateFault: el.slot({
    displayedName: "Simulate fault",
    description: "Pretend the drive failed (for testing error handling)",
    requiredAccessLevel: "expert",
  }),
} satisfies SchemaSpec;

/** A motor axis with soft limits; STATIC at rest, MOVING on its way, ERROR after a fault. */
export class SimulatedMotor
  extends defineDevice({ classId: "SimulatedMotor", description: "Simulated motor axis", schema })
  implements Slots<typeof schema>
{
  #stopMotion: (() => void) | undefined;

  override onInit(): void {
    this.updateState(State.STATIC, "ready");
  }

  override onReconfigure(changes: Partial<DeviceProps<typeof schema>>): void {
    const lower = changes.lowerLimit ?? this.get("lowerLimit");
    const upper = changes.upperLimit ?? this.get("upperLimit");
    if (lower >= upper) this.refuse(`lowerLimit ${lower} must be below upperLimit ${upper}`);
    const target = changes.targetPosition ?? this.get("targetPosition");
    if (target < lower || target > upper)
      this.refuse(`targetPosition ${target} is outside the limits [${lower}, ${upper}]`);
  }

  move(): void {
    const target = this.get("targetPosition");
    const [lower, upper] = [this.get("lowerLimit"), this.get("upperLimit")];
    if (target < lower || target > upper)
      this.refuse(`target ${target} is outside the limits [${lower}, ${upper}]`);
    this.updateState(State.MOVING, `moving to ${target}`);
    const period = this.get("updatePeriod");
    let last = Date.now();
    this.#stopMotion = this.every(period, () => {
      const now = Date.now();
      const step = (this.get("velocity") * (now - last)) / 1000;
      last = now;
      const pos = this.get("position");
      const remaining = target - pos;
      if (Math.abs(remaining) <= step) {
        this.#halt();
        this.setMany({ position: target, state: State.STATIC, status: `reached ${target}` });
      } else {
        this.set("position", pos + Math.sign(remaining) * step);
      }
    });
  }

  moveTo(args: { position?: number }): void {
    const target = args.position!;
    const [lower, upper] = [this.get("lowerLimit"), this.get("upperLimit")];
    if (target < lower || target > upper)
      this.refuse(`target ${target} is outside the limits [${lower}, ${upper}]`);
    this.set("targetPosition", target);
    this.move();
  }

  stop(): void {
    this.#halt();
    this.updateState(State.STATIC, `stopped at ${this.get("position")}`);
  }

  reset(): void {
    this.#halt();
    this.updateState(State.STATIC, "reset");
  }

  simulateFault(): void {
    this.#halt();
    throw new SaseError("DEVICE_FAULT", "simulated drive fault");
  }

  #halt(): void {
    this.#stopMotion?.();
    this.#stopMotion = undefined;
  }
}
