// Child process for the durability test: writes trains with a flush after each, then dies by SIGKILL
// after `killAfter` trains, as a DAQ process might. Usage: crash_writer.ts <dir> <killAfter>
import { ndarray } from "../../src/core/index.ts";
import { createRunWriter } from "../../src/files/index.ts";

const [dir, killAfter] = [process.argv[2] as string, Number(process.argv[3])];
const w = await createRunWriter(dir, { proposal: 900000, run: 9, trainsPerSequence: 3, flushEvery: 1 });
w.addControlSource("MOTOR/X", { aggregator: "DA01", properties: { position: { dtype: "float64" } } });
w.addInstrumentSource("DET/0CH0:xtdf", {
  aggregator: "DET00",
  keys: { "image.data": { dtype: "uint16", entryShape: [16, 16] } },
});
// 1 MiB frames: 16 MiB chunks that HDF5 allocates and the writer fills by pwrite.
w.addInstrumentSource("DET/1CH0:xtdf", {
  aggregator: "DET01",
  keys: { "image.data": { dtype: "uint16", entryShape: [512, 1024] } },
});
for (let t = 0; ; t++) {
  w.writeTrain(30000 + t, {
    "MOTOR/X": { position: t * 1.5 },
    "DET/0CH0:xtdf": { "image.data": ndarray(new Uint16Array(4 * 256).fill(t), [4, 16, 16]) },
    "DET/1CH0:xtdf": { "image.data": ndarray(new Uint16Array(3 << 19).fill(t + 1), [3, 512, 1024]) },
  });
  if (t + 1 === killAfter) process.kill(process.pid, "SIGKILL");
}
