// sase's calls to Karabo instances (Broker.call over AMQP): each slot both sides know made into
// Karabo's request, with its positional arguments, and Karabo's reply made back into what sase's call
// returns. Remote devices' schemas are asked once and kept, to type reconfigurations and the values of
// configurations; any other slot passes its named arguments as one Hash.
import { SaseError } from "./errors.ts";
import { Hash, type HashType, type HashValue } from "./hash.ts";
import {
  configurationFromKarabo,
  infoFromKarabo,
  reconfigurationHash,
  replyValue,
  valuesForSchema,
} from "./karabo-calls.ts";
import { karaboValueTypes, schemaFromKarabo } from "./karabo-schema.ts";
import type { TypedArg } from "./karabo-wire.ts";
import type { Schema } from "./schema.ts";
import type { Timestamp } from "./timestamp.ts";

/** Sends a request to `target` and resolves with its reply's arguments (an error reply rejects). */
export type KaraboRequest = (
  target: string,
  slot: string,
  args: readonly TypedArg[],
  timeoutMs: number,
) => Promise<HashValue[]>;

/** A remote device's schema, and the Hash type of each of its values (to write them as it expects). */
interface RemoteSchema {
  readonly schema: Schema;
  readonly types: Map<string, HashType>;
}

/** sase's calls to the Karabo instances on a broker, made through `request`. */
export class KaraboCalls {
  readonly #schemas = new Map<string, Promise<RemoteSchema>>();

  constructor(private readonly request: KaraboRequest) {}

  /** sase's call of `slot` with named `args`, as Karabo's request, and its reply as sase's. */
  async call<T = unknown>(
    instanceId: string,
    slot: string,
    args: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<T> {
    switch (slot) {
      case "slotGetSchema": {
        const [value] = await this.request(instanceId, slot, [false], timeoutMs);
        const { name, schema } = schemaOf(value, instanceId);
        const imported = schemaFromKarabo(schema);
        this.#schemas.set(
          instanceId,
          Promise.resolve({ schema: imported.schema, types: karaboValueTypes(schema) }),
        );
        return { classId: name, schema: imported.schema.toData(), unsupported: imported.unsupported } as T;
      }
      case "slotGetClassSchema": {
        const [value] = await this.request(instanceId, slot, [String(args.classId)], timeoutMs);
        const { name, schema } = schemaOf(value, instanceId);
        const imported = schemaFromKarabo(schema);
        return { classId: name, schema: imported.schema.toData(), unsupported: imported.unsupported } as T;
      }
      case "slotGetConfiguration": {
        const [value] = await this.request(instanceId, slot, [], timeoutMs);
        if (!(value instanceof Hash)) throw badReply(instanceId, slot, "a configuration Hash");
        const conf = configurationFromKarabo(value);
        const remote = await this.#remoteSchema(instanceId, timeoutMs).catch(() => undefined);
        const values = valuesForSchema(remote?.schema, conf.values);
        return (
          Array.isArray(args.keys)
            ? pick(instanceId, values, conf.timestamps, args.keys.map(String))
            : {
                values,
                timestamps: conf.timestamps,
              }
        ) as T;
      }
      case "slotReconfigure": {
        const config = args.configuration;
        if (config === null || typeof config !== "object" || Array.isArray(config))
          throw new SaseError("WRONG_TYPE", `${instanceId}: a reconfiguration is an object of key → value`);
        const remote = await this.#remoteSchema(instanceId, timeoutMs);
        const h = reconfigurationHash(config as Record<string, unknown>, remote.types);
        await this.request(instanceId, slot, [h], timeoutMs);
        return { applied: h.paths() } as T;
      }
      case "slotPing": {
        const [info] = await this.request(instanceId, slot, [{ value: 1, type: "INT32" }], timeoutMs);
        if (!(info instanceof Hash)) throw badReply(instanceId, slot, "an instanceInfo Hash");
        return infoFromKarabo(info, instanceId) as T;
      }
      case "slotStartDevice": {
        const h = new Hash()
          .set("classId", String(args.classId), "STRING")
          .set("deviceId", String(args.deviceId ?? ""), "STRING")
          .set(
            "configuration",
            reconfigurationHash((args.configuration ?? {}) as Record<string, unknown>, new Map()),
          );
        const [ok, text] = await this.request(instanceId, slot, [h], timeoutMs);
        if (ok !== true)
          throw new SaseError("REFUSED", `${instanceId}: ${String(text ?? "device not started")}`);
        return { deviceId: String(text ?? args.deviceId) } as T;
      }
      case "slotKillDevice": {
        // Karabo kills a device by calling the device itself; sase's client asks its server.
        const target = typeof args.deviceId === "string" ? args.deviceId : instanceId;
        await this.request(target, slot, [], timeoutMs);
        this.#schemas.delete(target);
        return { deviceId: target } as T;
      }
      default: {
        const params = await this.request(
          instanceId,
          slot,
          Object.keys(args).length ? [new Hash(args as Record<string, unknown>)] : [],
          timeoutMs,
        );
        return replyValue(params) as T;
      }
    }
  }

  /** Forgets what is known of a device that is gone (its schema may change when it comes back). */
  forget(deviceId: string): void {
    this.#schemas.delete(deviceId);
  }

  /** A remote device's schema, asked once (again after a failed asking, or after `forget`). */
  #remoteSchema(deviceId: string, timeoutMs: number): Promise<RemoteSchema> {
    let found = this.#schemas.get(deviceId);
    if (!found) {
      found = this.request(deviceId, "slotGetSchema", [false], timeoutMs).then(([value]) => {
        const { schema } = schemaOf(value, deviceId);
        return { schema: schemaFromKarabo(schema).schema, types: karaboValueTypes(schema) };
      });
      found.catch(() => this.#schemas.delete(deviceId));
      this.#schemas.set(deviceId, found);
    }
    return found;
  }
}

function badReply(id: string, slot: string, what: string): SaseError {
  return new SaseError("WRONG_TYPE", `${id} answered ${slot} without ${what}`, { deviceId: id, key: slot });
}

function schemaOf(value: HashValue | undefined, id: string): { name: string; schema: Hash } {
  if (value instanceof Hash && value.size === 1) {
    const name = value.keys()[0]!;
    const schema = value.get(name);
    if (schema instanceof Hash) return { name, schema };
  }
  throw badReply(id, "slotGetSchema", "a SCHEMA");
}

function pick(
  deviceId: string,
  values: Record<string, unknown>,
  timestamps: Record<string, Timestamp>,
  keys: readonly string[],
): { values: Record<string, unknown>; timestamps: Record<string, Timestamp> } {
  const out: { values: Record<string, unknown>; timestamps: Record<string, Timestamp> } = {
    values: {},
    timestamps: {},
  };
  for (const key of keys) {
    let found = false;
    for (const k of Object.keys(values)) {
      if (k === key || k.startsWith(`${key}.`)) {
        out.values[k] = values[k];
        if (timestamps[k]) out.timestamps[k] = timestamps[k];
        found = true;
      }
    }
    if (!found) throw new SaseError("UNKNOWN_KEY", `${deviceId}: no value for '${key}'`, { deviceId, key });
  }
  return out;
}
