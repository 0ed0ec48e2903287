// What the GUI server needs from the facility, in the GUI's own terms. The server and the page never
// touch devices themselves: an adapter (core-backend.ts) implements these interfaces over the broker,
// so the viewer never knows where data comes from.
import type {
  JsonValue,
  PropertyInfo,
  RunInfo,
  Topology,
  TrainMatching,
  WireStamp,
  WireValue,
} from "../api.ts";
import type { Identity } from "./auth.ts";
import { type ErrorCode, SaseError } from "../../core/index.ts";

/** One changed property value. */
export interface DeviceUpdate {
  key: string;
  value: WireValue;
  stamp: WireStamp;
}

/** A refused request; `field` names the property at fault so the page can show the error beside it. */
export class GuiRequestError extends SaseError {
  override name = "GuiRequestError";
  readonly field?: string;
  constructor(message: string, field?: string, code: ErrorCode = "REFUSED") {
    super(code, message, field === undefined ? {} : { key: field });
    if (field !== undefined) this.field = field;
  }
}

/** Any failure as a refused request the page can show: a SaseError keeps its code and key. */
export function asRequestError(e: unknown, field?: string): GuiRequestError {
  if (e instanceof GuiRequestError) return e;
  if (e instanceof SaseError) return new GuiRequestError(e.message, field ?? e.details.key, e.code);
  return new GuiRequestError(e instanceof Error ? e.message : String(e), field, "INTERNAL");
}

/** The device side of the facility: topology, schemas, values, reconfiguration and slots. */
export interface FacilityBackend {
  /** The current topology. */
  topology(): Topology;
  /** Calls `listener` whenever devices or servers come, go or change state; returns the unsubscribe. */
  onTopology(listener: () => void): () => void;
  /** The flattened schema of a device. */
  describe(deviceId: string): Promise<{ classId: string; properties: PropertyInfo[] }>;
  /** Sends the current values, then every change, to `listener`; resolves to the unsubscribe. */
  watch(deviceId: string, listener: (updates: DeviceUpdate[]) => void): Promise<() => void>;
  /** Reconfigures a device, all values or none; throws GuiRequestError naming the bad field. */
  set(deviceId: string, values: Record<string, JsonValue>, who: Identity): Promise<void>;
  /** Calls a slot; resolves to its reply. */
  call(deviceId: string, slot: string, who: Identity): Promise<JsonValue | undefined>;
  /** Starts a device of `classId` on a server. */
  instantiate(
    serverId: string,
    classId: string,
    deviceId: string,
    config: Record<string, JsonValue>,
    who: Identity,
  ): Promise<void>;
  /** Stops a device. */
  kill(deviceId: string, who: Identity): Promise<void>;
}

/** One train's image as it reaches the GUI. */
export interface LiveFrame {
  trainId: number;
  /** Epoch ms at which the train left the detector device. */
  sentMs: number;
  width: number;
  height: number;
  /** Row-major pixels, row 0 at the top; NaN marks gaps between modules. */
  pixels: Float32Array;
  /**
   * The same pixels with row 0 at the bottom, as the geometry assembles them, when the feed has them
   * that way: the live view reads its rows bottom-up from here, and `pixels` (a flipped copy, made on
   * first use) is then not made at all.
   */
  pixelsYUp?: Float32Array;
  /** XGM pulse energies of the train (µJ), when an XGM is present. */
  pulseEnergy?: number[];
  /**
   * Present when the feed reuses the memory of `pixelsYUp` for a later train once its listeners are
   * done: a listener that reads `pixelsYUp` after it returns must call `hold()` during the call and
   * the function it returns when it no longer reads them (`pixels`, read during the call, is a copy of its own).
   */
  hold?: () => () => void;
  /** Beam position (y, x) in pixels, for the radial profile; default the image centre. */
  centre?: [number, number];
  /** The feed's train matching: modules missing from this train, and its counts so far. */
  matching?: TrainMatching;
}

/** A source of live images (the assembled detector). */
export interface ImageFeed {
  /** What the image shows, e.g. "SPB_DET_AGIPD1M-1 (assembled)". */
  readonly source: string;
  /** Calls `listener` for every train; returns the unsubscribe. */
  subscribe(listener: (frame: LiveFrame) => void): () => void;
  /** Views the feed switches between (e.g. "corrected", "raw"), when it offers more than one. */
  readonly views?: readonly string[];
  /** The view shown now (one of `views`). */
  readonly view?: string;
  /** Shows another of `views` from the next train on. */
  selectView?(view: string): void;
}

/** Run control and the run catalogue. */
export interface RunsBackend {
  /** The catalogue, newest first. */
  list(): Promise<RunInfo[]>;
  /** Run-control state and the run being recorded, if any. */
  status(): Promise<{ state: string; current: RunInfo | null }>;
  start(runType: string, sample: string, who: Identity): Promise<void>;
  stop(who: Identity): Promise<void>;
  /** Sets a run's quality flag. */
  setQuality(proposal: number, run: number, quality: string, who: Identity): Promise<void>;
  /** Quality flags a run may carry. */
  qualities(): string[];
  /** Calls `listener` when runs start, stop or change; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}
