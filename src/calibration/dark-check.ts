// Checks that a run given as a dark run of one gain stage is one: recorded in a gain mode that gives
// that stage (adaptive with the gain forced, or fixed to that stage), every pixel in that stage and
// its signal at the dark level (no beam). Characterising anything else would store wrong constants
// without a word.
import type { DataCollection } from "../files/index.ts";
import type { DetectorDescription } from "../detector/index.ts";
import { rawSourceName } from "../detector/index.ts";
import { RawDataError } from "./corrector.ts";
import { moduleFrames } from "./run-io.ts";

const STAGES = ["high", "medium", "low"] as const;
/** Gain modes by the index the detector's control device records (gainModeIndex). */
const GAIN_MODE_NAMES = ["adaptive", "fixed-high", "fixed-medium", "fixed-low"] as const;
/** Share of pixel frames that may be outside the stage (bad pixels) before the run is refused. */
const MAX_OTHER_STAGE = 0.01;
/** Trains looked at: enough to see beam, few enough to be quick. */
const TRAINS_CHECKED = 3;

/** Throws RawDataError saying what was expected when run `dir` is not a dark of gain `stage` (0..2). */
export async function checkDarkRun(
  dc: DataCollection,
  det: DetectorDescription,
  stage: number,
  gainMode: number,
  dir: string,
): Promise<void> {
  const want = STAGES[stage]!;
  const mode = GAIN_MODE_NAMES[gainMode] ?? `gain mode ${gainMode}`;
  if (gainMode !== 0 && gainMode !== stage + 1) {
    throw new RawDataError(
      `${dir}: recorded in ${mode} gain; the ${want}-gain dark needs fixed-${want} (or adaptive with the gain forced to ${want})`,
    );
  }
  const module = Array.from({ length: det.nModules }, (_, m) => m).find((m) =>
    dc.sources.includes(rawSourceName(det, m)),
  );
  if (module === undefined) return; // the caller reports runs without modules
  const levels = det.sensor.digitalLevel;
  const P = det.moduleShape[0] * det.moduleShape[1];
  const inStage = [0, 0, 0];
  const analog: number[] = [];
  let trains = 0;
  for await (const raw of moduleFrames(dc.selectTrains({ indexRange: [0, TRAINS_CHECKED] }), det, module)) {
    for (let f = 0; f < raw.frames; f++) {
      const a0 = f * 2 * P;
      for (let p = 0; p < P; p++) {
        const d = raw.data[a0 + P + p]!;
        let best = 0;
        for (let s = 1; s < levels.length; s++)
          if (Math.abs(d - levels[s]!) < Math.abs(d - levels[best]!)) best = s;
        inStage[best]!++;
        // Every 7th pixel is plenty for the median signal.
        if (p % 7 === 0) analog.push(raw.data[a0 + p]!);
      }
    }
    if (++trains >= TRAINS_CHECKED) break;
  }
  const total = inStage.reduce((a, b) => a + b, 0);
  if (total === 0) return;
  const other = 1 - inStage[stage]! / total;
  if (other > MAX_OTHER_STAGE) {
    const shares = STAGES.map((s, i) => `${s} ${((100 * inStage[i]!) / total).toFixed(1)}%`).join(", ");
    throw new RawDataError(
      `${dir}: pixels are in ${shares} gain (${mode} gain mode); a ${want}-gain dark has them all in ${want} gain, without beam`,
    );
  }
  analog.sort((a, b) => a - b);
  const median = analog[Math.floor(analog.length / 2)]!;
  const [low, high] = det.darkLimits.offset[stage]!;
  if (median < low || median > high) {
    throw new RawDataError(
      `${dir}: median signal ${median} ADU; a ${want}-gain dark without beam is expected between ${low} and ${high} ADU`,
    );
  }
}
