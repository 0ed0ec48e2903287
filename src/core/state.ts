// Karabo's closed set of device states (karabo.md §2): each state has one parent, devices compare with
// isDerivedFrom, composites combine many states with the StateSignifier rule, and the GUI colours a state
// by its family. Where Karabo's C++ and Python disagree (OPENED/CLOSED parentage) we follow its docs.
import { SaseError, showValue } from "./errors.ts";

/** Parent of every state (null for the roots UNKNOWN, INIT, KNOWN). */
const PARENTS = {
  UNKNOWN: null,
  INIT: null,
  KNOWN: null,
  DISABLED: "KNOWN",
  ERROR: "KNOWN",
  NORMAL: "KNOWN",
  PAUSED: "DISABLED",
  INTERLOCKED: "DISABLED",
  INTERLOCK_BROKEN: "DISABLED",
  STATIC: "NORMAL",
  CHANGING: "NORMAL",
  RUNNING: "NORMAL",
  ACTIVE: "STATIC",
  PASSIVE: "STATIC",
  INTERLOCK_OK: "STATIC",
  COOLED: "ACTIVE",
  HEATED: "ACTIVE",
  EVACUATED: "ACTIVE",
  ON: "ACTIVE",
  EXTRACTED: "ACTIVE",
  STARTED: "ACTIVE",
  LOCKED: "ACTIVE",
  ENGAGED: "ACTIVE",
  MONITORING: "ACTIVE",
  OPENED: "ACTIVE",
  WARM: "PASSIVE",
  COLD: "PASSIVE",
  PRESSURIZED: "PASSIVE",
  OFF: "PASSIVE",
  INSERTED: "PASSIVE",
  STOPPED: "PASSIVE",
  UNLOCKED: "PASSIVE",
  DISENGAGED: "PASSIVE",
  IGNORING: "PASSIVE",
  CLOSED: "PASSIVE",
  ACQUIRING: "RUNNING",
  PROCESSING: "RUNNING",
  INCREASING: "CHANGING",
  DECREASING: "CHANGING",
  HOMING: "CHANGING",
  ROTATING: "CHANGING",
  MOVING: "CHANGING",
  SWITCHING: "CHANGING",
  OPENING: "CHANGING",
  CLOSING: "CHANGING",
  SEARCHING: "CHANGING",
  HEATING: "INCREASING",
  MOVING_RIGHT: "INCREASING",
  MOVING_UP: "INCREASING",
  MOVING_FORWARD: "INCREASING",
  ROTATING_CLK: "INCREASING",
  RAMPING_UP: "INCREASING",
  INSERTING: "INCREASING",
  STARTING: "INCREASING",
  FILLING: "INCREASING",
  ENGAGING: "INCREASING",
  SWITCHING_ON: "INCREASING",
  COOLING: "DECREASING",
  MOVING_LEFT: "DECREASING",
  MOVING_DOWN: "DECREASING",
  MOVING_BACK: "DECREASING",
  ROTATING_CNTCLK: "DECREASING",
  RAMPING_DOWN: "DECREASING",
  EXTRACTING: "DECREASING",
  STOPPING: "DECREASING",
  EMPTYING: "DECREASING",
  DISENGAGING: "DECREASING",
  SWITCHING_OFF: "DECREASING",
} as const;

/** A Karabo state name. */
export type State = keyof typeof PARENTS;

/** Every state by name, for `State.MOVING`-style use: the value is the name itself. */
export const State: { readonly [S in State]: S } = Object.freeze(
  Object.fromEntries(Object.keys(PARENTS).map((s) => [s, s])) as { [S in State]: S },
);

/** All states, roots first. */
export const STATES: readonly State[] = Object.keys(PARENTS) as State[];

/** True when `name` is a Karabo state name (use at every edge where states arrive as text). */
export function isState(name: unknown): name is State {
  return typeof name === "string" && Object.hasOwn(PARENTS, name);
}

/** The state named `name`; throws a SaseError (BAD_OPTION) naming it when it is not a state. */
export function toState(name: string): State {
  if (!isState(name))
    throw new SaseError("BAD_OPTION", `"${name}" is not a Karabo state`, { value: showValue(name) });
  return name;
}

/** The parent of a state (null for UNKNOWN, INIT, KNOWN). */
export function parentOf(state: State): State | null {
  return PARENTS[state];
}

/** The state and its ancestors, nearest first: MOVING -> [MOVING, CHANGING, NORMAL, KNOWN]. */
export function lineageOf(state: State): State[] {
  const out: State[] = [];
  for (let s: State | null = state; s !== null; s = PARENTS[s]) out.push(s);
  return out;
}

/** True when `state` is `ancestor` or descends from it (MOVING is derived from CHANGING and NORMAL). */
export function isDerivedFrom(state: State, ancestor: State): boolean {
  for (let s: State | null = state; s !== null; s = PARENTS[s]) if (s === ancestor) return true;
  return false;
}

/** Options of the StateSignifier rule (Karabo's defaults: PASSIVE and DECREASING win their pairs). */
export interface SignifierOptions {
  /** States from least to most significant; sub-states rank as their nearest listed ancestor. */
  readonly trumpList?: readonly State[];
  /** Which of ACTIVE/PASSIVE ranks higher (default PASSIVE: ON + OFF -> OFF). */
  readonly staticMoreSignificant?: "ACTIVE" | "PASSIVE";
  /** Which of INCREASING/DECREASING ranks higher (default DECREASING). */
  readonly changingMoreSignificant?: "INCREASING" | "DECREASING";
}

function ordered<A extends State, B extends State>(pair: [A, B], higher: A | B): State[] {
  return higher === pair[1] ? [pair[0], pair[1]] : [pair[1], pair[0]];
}

/** Karabo's default trump list, least significant first. */
function defaultTrumpList(
  staticHigh: "ACTIVE" | "PASSIVE",
  changingHigh: "INCREASING" | "DECREASING",
): State[] {
  return [
    "DISABLED",
    "STATIC",
    ...ordered(["ACTIVE", "PASSIVE"], staticHigh),
    "RUNNING",
    "PAUSED",
    "CHANGING",
    ...ordered(["INCREASING", "DECREASING"], changingHigh),
    "INTERLOCKED",
    "ERROR",
    "INIT",
    "UNKNOWN",
  ];
}

/** Inserts `items` (those not yet listed) just below `anchor`, as Karabo completes custom lists. */
function insertBelow(list: State[], anchor: State, items: readonly State[]): void {
  for (const item of items) {
    if (!list.includes(item)) list.splice(list.indexOf(anchor), 0, item);
  }
}

/**
 * Completes a custom trump list as Karabo does: a listed CHANGING/STATIC gets its missing INCREASING/
 * DECREASING or ACTIVE/PASSIVE pair inserted just below it; a listed KNOWN gets every missing base state.
 */
function completeTrumpList(
  custom: readonly State[],
  staticHigh: "ACTIVE" | "PASSIVE",
  changingHigh: "INCREASING" | "DECREASING",
): State[] {
  const list = [...custom];
  const statics = ordered(["ACTIVE", "PASSIVE"], staticHigh);
  const changings = ordered(["INCREASING", "DECREASING"], changingHigh);
  if (list.includes("CHANGING")) insertBelow(list, "CHANGING", changings);
  if (list.includes("STATIC")) insertBelow(list, "STATIC", statics);
  if (list.includes("KNOWN")) {
    insertBelow(list, "KNOWN", ["DISABLED", ...statics, "STATIC", ...changings, "RUNNING"]);
    insertBelow(list, "RUNNING", ["PAUSED"]);
    insertBelow(list, "KNOWN", ["CHANGING", "INTERLOCKED", "ERROR"]);
  }
  return list;
}

/** The trump list the signifier uses for these options, least significant first. */
export function trumpList(options: SignifierOptions = {}): State[] {
  const staticHigh = options.staticMoreSignificant ?? "PASSIVE";
  const changingHigh = options.changingMoreSignificant ?? "DECREASING";
  const custom = options.trumpList;
  if (custom) for (const s of custom) toState(s);
  return custom && custom.length > 0
    ? completeTrumpList(custom, staticHigh, changingHigh)
    : defaultTrumpList(staticHigh, changingHigh);
}

/**
 * Karabo's StateSignifier: the most significant of `states`. Each state ranks as its nearest ancestor in
 * the trump list (unlisted: lowest); the highest rank wins, ties go to the later state in the input.
 */
export function mostSignificantState(states: readonly State[], options: SignifierOptions = {}): State {
  if (states.length === 0) throw new SaseError("BAD_OPTION", "mostSignificantState: no states given");
  const rankOf = new Map(trumpList(options).map((s, i) => [s, i + 1]));
  let best: State = states[0]!;
  let bestRank = -1;
  for (const state of states) {
    let rank = 0;
    for (let s: State | null = toState(state); s !== null; s = PARENTS[s]) {
      const r = rankOf.get(s);
      if (r !== undefined) {
        rank = r;
        break;
      }
    }
    if (rank >= bestRank) {
      best = state;
      bestRank = rank;
    }
  }
  return best;
}

/** GUI colours of the state families, as Karabo's GUI shows them. */
const COLOURS: Partial<Record<State, string>> = {
  UNKNOWN: "#FFAA00",
  INIT: "#E6E6AA",
  KNOWN: "#C8C8C8",
  NORMAL: "#C8C8C8",
  DISABLED: "#FF00FF",
  ERROR: "#FF0000",
  STATIC: "#00AA00",
  ACTIVE: "#78FF00",
  PASSIVE: "#CCCCFF",
  RUNNING: "#99CCFF",
  CHANGING: "#00AAFF",
};

/** The coloured family a state belongs to (its nearest ancestor with a GUI colour): MOVING_LEFT -> CHANGING. */
export function stateFamily(state: State): State {
  for (let s: State | null = toState(state); s !== null; s = PARENTS[s]) if (COLOURS[s]) return s;
  return "UNKNOWN";
}

/** The CSS colour Karabo's GUI uses for a state: that of its family. */
export function stateColor(state: State): string {
  return COLOURS[stateFamily(state)]!;
}
