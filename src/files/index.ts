// Public API of the files layer: EXDF (European XFEL HDF5) runs, written and read. See README.md here.
//
// Reading (lazy; the structure comes from the run index, data only when asked for):
//   const run = await openRun(dir);            // or openFile(path); options: { includeSuspectTrains, useIndex }
//   run.trainIds; run.sources; run.controlSources; run.instrumentSources; run.keys(source);
//   run.runMetadata(); run.runValues(source);
//   const sel = run.select("SPB_DET_AGIPD1M-1/DET/*CH0:xtdf", "image.*").selectTrains({ idRange: [a, b] });
//   const kd = sel.keyData(source, "image.data");  // kd.dtype, kd.entryShape, kd.size, kd.dataCounts()
//   kd.ndarray({ out });  await kd.ndarrayAsync({ out })  (reads spread over libuv's thread pool: several
//   cores copying from the page cache);  kd.trainData(trainId);  kd.entriesInFile(trainId)
//   (one train's entries left in the file: read(offset, dest) the bytes wanted, e.g. one frame);  kd.strings()  (string keys);  kd.records()  (compound keys:
//   one array per field, kd.fields names them);  run.skippedKeys: datasets of types sase cannot decode
//   for await (const { trainId, data } of sel.trains()) data[source][key]  // NDArray or string[]
//   sel.trainsInFile(1 << 20): as trains(), large numeric keys left in the file (ArrayInFile: read(offset, dest))
//   run.close();
// Writing (one sequence file per aggregator at a time; durable after every flush):
//   const w = await createRunWriter(dir, { proposal, run, trainsPerSequence, flushEvery, compression });
//   w.addControlSource("SPB_XTD9_XGM/DOOCS/MAIN", { aggregator: "DA01", properties: { "pulseEnergy.photonFlux": { dtype: "float32" } } });
//   w.addInstrumentSource("SPB_DET_AGIPD1M-1/DET/0CH0:xtdf", { aggregator: "AGIPD00", keys: { "image.data": { dtype: "uint16", entryShape: [2, 512, 128] } } });
//   w.writeTrain(trainId, { [source]: { [key]: value } });   // value: scalar, TypedArray or NDArray [n, ...entryShape]
//   await w.writeTrainAsync(trainId, data);                   // the same; several files' big rows written at once
//   await w.close();                                          // also writes the run index
// Checking: const problems = await validateRun(path);       // [] when sound
// Describing: runManifest(run)                               // the fixtures' manifest.json shape
export { FilesError, type FilesErrorContext } from "./errors.ts";
export type { KeyDType, RecordField } from "./element-types.ts";
export {
  dtypeText,
  type ManifestKey,
  type ManifestOptions,
  type RunManifest,
  runManifest,
} from "./manifest.ts";
export type { FileProblem, KeyInfo, RunMetadata, RunValue, Section, SkippedKey } from "./model.ts";
export { type ExdfFileName, formatFileName, parseFileName } from "./naming.ts";
export { type ArrayInFile, isArrayInFile, loadArrayInFile } from "./infile.ts";
export { isRecordData, KeyData, type KeyValues, type RecordData } from "./keydata.ts";
export {
  DataCollection,
  type OpenOptions,
  openFile,
  openRun,
  type TrainData,
  type TrainDataInFile,
  type TrainSelection,
  type TrainsOptions,
} from "./reader.ts";
export {
  loadRunIndex,
  RUN_INDEX_NAME,
  type RunIndex,
  type RunIndexOptions,
  writeRunIndex,
} from "./runindex.ts";
export {
  type ControlSourceSpec,
  createRunWriter,
  type InstrumentSourceSpec,
  type KeySpec,
  type KeyValue,
  RunWriter,
  type RunWriterOptions,
  type TrainInput,
  WRITTEN_FORMAT_VERSION,
} from "./writer.ts";
export { type RunValidationOptions, type ValidationProblem, validateRun } from "./validate.ts";
