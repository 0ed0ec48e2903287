// Public API of the files layer: EXDF (European XFEL HDF5) runs.
//
// Reading:   const run = await openRun(dir);  run.trainIds, run.sources, run.keys(source),
//            run.keyData(source, key).ndarray(), for await (const { trainId, data } of run.trains()) ...
// Writing:   const w = await createRunWriter(dir, { proposal, run, ... }); w.addSource(...);
//            w.writeTrain(trainId, data); await w.close();
// Checking:  const problems = await validateRun(path);
export { FilesError, type FilesErrorContext } from "./errors.ts";
export type { KeyDType } from "./h5.ts";
export { type ManifestKey, type ManifestOptions, type RunManifest, runManifest } from "./manifest.ts";
export type { FileProblem, KeyInfo, RunMetadata, RunValue, Section } from "./model.ts";
export { type ExdfFileName, formatFileName, parseFileName } from "./naming.ts";
export {
  DataCollection,
  KeyData,
  type OpenOptions,
  openFile,
  openRun,
  type TrainData,
  type TrainSelection,
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
export { type ValidateOptions, type ValidationProblem, validateRun } from "./validate.ts";
