// Child process for the kill -9 test: records a run from the simulated facility and prints
// "recorded <n> <dir>" whenever the DAQ reports more trains on disk, until it is killed.
import { DaqController } from "../../src/daq/index.ts";
import { MOTOR, moduleSource, startSimFacility } from "./simfacility.ts";

const [online, catalogue] = process.argv.slice(2) as [string, string];
const sim = await startSimFacility({ modules: 2, cells: 2, rate: 20 });
const daq = await sim.facility.addDevice(DaqController, "SPB_DAQ/RUN/CONTROL", {
  dataSources: [MOTOR, moduleSource(0), moduleSource(1)],
  onlineRoot: online,
  cataloguePath: catalogue,
  trainTimeoutMs: 200,
  trainsPerSequence: 4,
});
const { directory } = (await sim.facility.client.execute("SPB_DAQ/RUN/CONTROL", "record")) as {
  directory: string;
};
let last = -1;
setInterval(() => {
  const n = daq.get("trainsRecorded") as number;
  if (n !== last) {
    last = n;
    process.stdout.write(`recorded ${n} ${directory}\n`);
  }
}, 50);
