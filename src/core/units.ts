// Units and metric prefixes of physical properties, with Karabo's enum names so a schema Hash carries
// the names a Karabo GUI knows.

/** Physical units a property may declare. */
export const UNITS = {
  number: { name: "NUMBER", symbol: "" },
  count: { name: "COUNT", symbol: "#" },
  meter: { name: "METER", symbol: "m" },
  gram: { name: "GRAM", symbol: "g" },
  second: { name: "SECOND", symbol: "s" },
  ampere: { name: "AMPERE", symbol: "A" },
  kelvin: { name: "KELVIN", symbol: "K" },
  mole: { name: "MOLE", symbol: "mol" },
  candela: { name: "CANDELA", symbol: "cd" },
  hertz: { name: "HERTZ", symbol: "Hz" },
  radian: { name: "RADIAN", symbol: "rad" },
  degree: { name: "DEGREE", symbol: "deg" },
  newton: { name: "NEWTON", symbol: "N" },
  pascal: { name: "PASCAL", symbol: "Pa" },
  joule: { name: "JOULE", symbol: "J" },
  electronvolt: { name: "ELECTRONVOLT", symbol: "eV" },
  watt: { name: "WATT", symbol: "W" },
  volt: { name: "VOLT", symbol: "V" },
  ohm: { name: "OHM", symbol: "Ohm" },
  tesla: { name: "TESLA", symbol: "T" },
  degreeCelsius: { name: "DEGREE_CELSIUS", symbol: "degC" },
  minute: { name: "MINUTE", symbol: "min" },
  hour: { name: "HOUR", symbol: "h" },
  day: { name: "DAY", symbol: "d" },
  year: { name: "YEAR", symbol: "a" },
  bar: { name: "BAR", symbol: "bar" },
  pixel: { name: "PIXEL", symbol: "px" },
  byte: { name: "BYTE", symbol: "B" },
  bit: { name: "BIT", symbol: "bit" },
  meterPerSecond: { name: "METER_PER_SECOND", symbol: "m/s" },
  voltPerSecond: { name: "VOLT_PER_SECOND", symbol: "V/s" },
  amperePerSecond: { name: "AMPERE_PER_SECOND", symbol: "A/s" },
  percent: { name: "PERCENT", symbol: "%" },
  revolutionsPerMinute: { name: "REVOLUTIONS_PER_MINUTE", symbol: "rpm" },
} as const;

/** A unit name. */
export type Unit = keyof typeof UNITS;

/** Metric prefixes with their power of ten. */
export const METRIC_PREFIXES = {
  yotta: { name: "YOTTA", symbol: "Y", exponent: 24 },
  zetta: { name: "ZETTA", symbol: "Z", exponent: 21 },
  exa: { name: "EXA", symbol: "E", exponent: 18 },
  peta: { name: "PETA", symbol: "P", exponent: 15 },
  tera: { name: "TERA", symbol: "T", exponent: 12 },
  giga: { name: "GIGA", symbol: "G", exponent: 9 },
  mega: { name: "MEGA", symbol: "M", exponent: 6 },
  kilo: { name: "KILO", symbol: "k", exponent: 3 },
  hecto: { name: "HECTO", symbol: "h", exponent: 2 },
  deca: { name: "DECA", symbol: "da", exponent: 1 },
  none: { name: "NONE", symbol: "", exponent: 0 },
  deci: { name: "DECI", symbol: "d", exponent: -1 },
  centi: { name: "CENTI", symbol: "c", exponent: -2 },
  milli: { name: "MILLI", symbol: "m", exponent: -3 },
  micro: { name: "MICRO", symbol: "u", exponent: -6 },
  nano: { name: "NANO", symbol: "n", exponent: -9 },
  pico: { name: "PICO", symbol: "p", exponent: -12 },
  femto: { name: "FEMTO", symbol: "f", exponent: -15 },
  atto: { name: "ATTO", symbol: "a", exponent: -18 },
  zepto: { name: "ZEPTO", symbol: "z", exponent: -21 },
  yocto: { name: "YOCTO", symbol: "y", exponent: -24 },
} as const;

/** A metric prefix name. */
export type MetricPrefix = keyof typeof METRIC_PREFIXES;
