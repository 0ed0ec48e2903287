// A small facility for DAQ tests: timing server, a motor, and N detector-module outputs that send one
// token per train (a few cells of tiny frames), driven by the timing server's train IDs.
import { Hash, ndarray } from "../../src/core/index.ts";
import { Facility, SimulatedMotor } from "../../src/devices/index.ts";
import { OutputChannel } from "../../src/pipeline/index.ts";

export const MOTOR = "SPB_IRU_MOTORS/MOTOR/X";
export const moduleSource = (m: number) => `SPB_DET_AGIPD1M-1/DET/${m}CH0:xtdf`;

export interface SimFacility {
  facility: Facility;
  outputs: OutputChannel[];
  stop(): Promise<void>;
}

/** Starts the facility; modules listed in `silent` have an output but never send. */
export async function startSimFacility(opts: {
  modules: number;
  cells: number;
  rate?: number;
  silent?: number[];
}) {
  const facility = await Facility.start({ trainRate: opts.rate ?? 20, heartbeatIntervalMs: 60_000 });
  await facility.addDevice(SimulatedMotor, MOTOR, { velocity: 100 });
  const outputs = Array.from({ length: opts.modules }, (_, m) => new OutputChannel(moduleSource(m)));
  const sub = facility.client.subscribe(facility.timeServerId, "trainId");
  const pump = (async () => {
    for await (const change of sub) {
      const trainId = Number(change.value);
      for (let m = 0; m < outputs.length; m++) {
        if (opts.silent?.includes(m)) continue;
        const data = new Uint16Array(opts.cells * 2 * 4 * 8).fill((trainId + m) & 0xffff);
        const h = new Hash();
        h.set("image.data", ndarray(data, [opts.cells, 2, 4, 8]));
        h.set(
          "image.cellId",
          Uint16Array.from({ length: opts.cells }, (_, i) => i),
        );
        h.set(
          "image.trainId",
          BigUint64Array.from({ length: opts.cells }, () => BigInt(trainId)),
        );
        await outputs[m]!.write(h, { trainId });
      }
    }
  })();
  return {
    facility,
    outputs,
    async stop() {
      sub.close();
      await pump.catch(() => undefined);
      for (const o of outputs) await o.close();
      await facility.stop();
    },
  } satisfies SimFacility;
}
