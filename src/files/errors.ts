// Errors of the files layer: every one names the file and, where known, the dataset and train.
import { type ErrorCode, SaseError } from "../core/index.ts";

/** Where a problem sits in a run, and its kind (BAD_FILE unless said). */
export interface FilesErrorContext {
  readonly file?: string;
  readonly dataset?: string;
  readonly trainId?: number;
  readonly code?: ErrorCode;
}

/** A problem with an EXDF file or run, with the file/dataset/train it concerns. */
export class FilesError extends SaseError {
  readonly file: string | undefined;
  readonly dataset: string | undefined;
  readonly trainId: number | undefined;

  constructor(message: string, context: FilesErrorContext = {}) {
    const where = [
      context.file ? `file ${context.file}` : "",
      context.dataset ? `dataset ${context.dataset}` : "",
      context.trainId !== undefined ? `train ${context.trainId}` : "",
    ]
      .filter(Boolean)
      .join(", ");
    super(context.code ?? "BAD_FILE", where ? `${where}: ${message}` : message);
    this.name = "FilesError";
    this.file = context.file;
    this.dataset = context.dataset;
    this.trainId = context.trainId;
  }
}
