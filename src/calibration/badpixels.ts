// Bad-pixel bits, as the facility names them (EXtra's BadPixels flag). 0 = good pixel; every set bit
// is one reason a pixel is atypical. Stored as uint32.

/** Named bad-pixel bits. */
export const BadPixels = {
  OFFSET_OUT_OF_THRESHOLD: 1 << 0,
  NOISE_OUT_OF_THRESHOLD: 1 << 1,
  OFFSET_NOISE_EVAL_ERROR: 1 << 2,
  NO_DARK_DATA: 1 << 3,
  CI_GAIN_OF_OF_THRESHOLD: 1 << 4,
  CI_LINEAR_DEVIATION: 1 << 5,
  CI_EVAL_ERROR: 1 << 6,
  FF_GAIN_EVAL_ERROR: 1 << 7,
  FF_GAIN_DEVIATION: 1 << 8,
  FF_NO_ENTRIES: 1 << 9,
  CI2_EVAL_ERROR: 1 << 10,
  VALUE_IS_NAN: 1 << 11,
  VALUE_OUT_OF_RANGE: 1 << 12,
  GAIN_THRESHOLDING_ERROR: 1 << 13,
  DATA_STD_IS_ZERO: 1 << 14,
  ASIC_STD_BELOW_NOISE: 1 << 15,
  INTERPOLATED: 1 << 16,
  NOISY_ADC: 1 << 17,
  OVERSCAN: 1 << 18,
  NON_SENSITIVE: 1 << 19,
  NON_LIN_RESPONSE_REGION: 1 << 20,
  WRONG_GAIN_VALUE: 1 << 21,
  NON_STANDARD_SIZE: 1 << 22,
  EXPERT_CHOICE: 1 << 23,
  USER1: 2 ** 30,
  USER2: 2 ** 31,
} as const;

/** A bad-pixel bit name. */
export type BadPixelName = keyof typeof BadPixels;

/** The names of the bits set in `mask`, lowest bit first. */
export function badPixelNames(mask: number): BadPixelName[] {
  const out: BadPixelName[] = [];
  for (const [name, bit] of Object.entries(BadPixels) as [BadPixelName, number][]) {
    if ((mask >>> 0) & bit || (bit === 2 ** 31 && mask >>> 31)) out.push(name);
  }
  return out;
}
