// The one progress-bar factory, with one rule for when bars show: only on a terminal (stderr is a
// TTY) and only when there are at least `minTotal` steps; SASE_PROGRESS=0 hides them everywhere and
// SASE_PROGRESS=1 shows them even when stderr is not a terminal. Bars go to stderr, so output piped
// from stdout stays clean.
import cliProgress from "cli-progress";

/** A progress display; every method is safe to call whether or not the bar shows. */
export interface Progress {
  /** Work done so far of `total` (total may grow); payload fills `{name}` fields of the format. */
  update(done: number, total?: number, payload?: Record<string, unknown>): void;
  /** Removes the bar (call once the work ends, also on failure). */
  stop(): void;
}

/** How a bar looks and when it is worth showing. */
export interface ProgressOptions {
  /** Fewer steps than this: no bar (default 2). */
  minTotal?: number;
  /** cli-progress format; default `LABEL [{bar}] {value}/{total} UNIT`. */
  format?: string;
  /** Leave the final bar on screen (default: clear it). */
  keep?: boolean;
}

/** Whether bars show in this process (see the rule above). */
export function progressWanted(env = process.env, stream: { isTTY?: boolean } = process.stderr): boolean {
  if (env.SASE_PROGRESS === "0") return false;
  if (env.SASE_PROGRESS === "1") return true;
  return stream.isTTY === true;
}

/** A progress bar for `label` counting `unit` (e.g. "trains", "files"). */
export function progressBar(label: string, unit: string, opts: ProgressOptions = {}): Progress {
  const wanted = progressWanted();
  const minTotal = opts.minTotal ?? 2;
  let bar: cliProgress.SingleBar | null = null;
  let lastTotal = 0;
  return {
    update(done, total = lastTotal, payload = {}) {
      lastTotal = total;
      if (!wanted || total < minTotal) return;
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            format: opts.format ?? `${label} [{bar}] {value}/{total} ${unit}`,
            stream: process.stderr,
            clearOnComplete: !opts.keep,
            hideCursor: true,
            noTTYOutput: !process.stderr.isTTY,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, done, payload);
        return;
      }
      bar.setTotal(total);
      bar.update(done, payload);
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
