// The typed API between the GUI server and the browser: every message either side may send, and the
// binary layout of image frames. Both sides import this file, so a change that breaks the protocol
// breaks the type check. Pure data: no Node or DOM imports, so esbuild can bundle it for the page.

// core/errors.ts alone: it too is pure, while core/index.ts brings Node modules into the page.
import { type ErrorCode, SaseError } from "../core/errors.ts";
import type { AnalysisMessage, AnalysisRequest } from "./analysis-api.ts";

export type * from "./analysis-api.ts";

/** Protocol version; the page refuses a server that speaks another one. */
export const GUI_PROTOCOL = 1;

/** Roles from least to most privileged, as Karabo's access levels OBSERVER=0, OPERATOR=1, EXPERT=2. */
export type Role = "observer" | "operator" | "expert";
export const ROLES: readonly Role[] = ["observer", "operator", "expert"];

/** Karabo access level of a role (0 observer, 1 operator, 2 expert). */
export function roleLevel(role: Role): number {
  return ROLES.indexOf(role);
}

/** A JSON value as it travels over the wire. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A property value as the GUI shows it: JSON-safe (bigints as decimal strings, arrays summarised). */
export type WireValue =
  | null
  | boolean
  | number
  | string
  | number[]
  | string[]
  | boolean[]
  | { array: { dtype: string; shape: number[]; head: number[] } }
  /** A table (Karabo's vector of Hashes): column names and rows of cells. */
  | { table: { columns: string[]; rows: (string | number | boolean | null)[][] } };

/** When a value was set: epoch milliseconds and the train ID (0 when unknown). */
export interface WireStamp {
  ms: number;
  trainId: number;
}

/** How a property may be changed. */
export type AccessMode = "init" | "read" | "reconfigurable";

/** One property or slot of a device, flattened from its schema for display. */
export interface PropertyInfo {
  /** Dotted key, e.g. "targetPosition" or "limits.high". */
  key: string;
  /** "property" for values, "slot" for commands, "node" for a group heading. */
  kind: "property" | "slot" | "node";
  displayedName: string;
  description: string;
  /** Karabo value type name (DOUBLE, INT32, STRING, BOOL, VECTOR_DOUBLE, STATE, ...). */
  valueType: string;
  accessMode: AccessMode;
  /** Unit symbol with metric prefix, e.g. "mm", "keV"; empty when none. */
  unit: string;
  minInc?: number;
  maxInc?: number;
  minExc?: number;
  maxExc?: number;
  /** Allowed values (enumeration), when restricted. */
  options?: (string | number)[];
  /** States in which the slot may be called or the property changed; empty means any state. */
  allowedStates: string[];
  /** Access level needed to change it (0 observer, 1 operator, 2 expert). */
  requiredAccessLevel: number;
}

/** One device in the topology. */
export interface TopologyDevice {
  id: string;
  classId: string;
  serverId: string;
  host: string;
  state: string;
  /** Karabo state family colour (hex) for the state. */
  colour: string;
}

/** One device server with its classes (those it can instantiate) and its devices. */
export interface TopologyServer {
  id: string;
  host: string;
  classes: string[];
  devices: TopologyDevice[];
}

/** The system topology: hosts → servers → classes → devices. */
export interface Topology {
  hosts: { host: string; servers: TopologyServer[] }[];
}

/** One run in the catalogue, as the runs panel shows it. */
export interface RunInfo {
  proposal: number;
  run: number;
  runType: string;
  sample: string;
  startMs: number;
  stopMs: number | null;
  trains: number;
  quality: string;
}

/** A column of the run table: one variable of a proposal's context. */
export interface TableColumnInfo {
  name: string;
  title: string;
  unit: string;
}

/** A cell of the run table: the value as text (numbers as numbers), or the variable's error. */
export interface TableCellInfo {
  kind: "number" | "string" | "array" | "image" | "error";
  value: number | string | null;
  error?: string;
}

/** A row of the run table. */
export interface TableRowInfo {
  run: number;
  quality: string;
  comment: string;
  cells: Record<string, TableCellInfo>;
}

/** One proposal's run table. */
export interface RunTableInfo {
  proposal: number;
  columns: TableColumnInfo[];
  rows: TableRowInfo[];
}

/** What clicking a cell shows: a variable over the proposal's runs (numbers), or the array or image. */
export type TableCellDetail =
  | { kind: "series"; title: string; runs: number[]; values: (number | null)[] }
  | { kind: "array"; title: string; values: number[] }
  | { kind: "image"; title: string; width: number; height: number; values: number[] }
  | { kind: "text"; title: string; text: string };

/** One entry of the change log: who changed what. */
export interface AuditEntry {
  ms: number;
  user: string;
  role: Role;
  action: string;
  target: string;
  detail: string;
  ok: boolean;
}

/** Train matching of the live image: modules missing from this train, and the feed's counts so far. */
export interface TrainMatching {
  missing: number;
  trains: number;
  incomplete: number;
  /** Module frames that came after their train was shown. */
  late: number;
}

/** Per-train scalars and curves the live plots draw. */
export interface TrainPlots {
  trainId: number;
  ms: number;
  /** XGM pulse energies of this train (µJ), one per pulse; empty when no XGM is present. */
  pulseEnergy: number[];
  /** Sum of the region of interest of the assembled image (null while no ROI is drawn). */
  roiSum: number | null;
  /** Radial profile of the assembled image: mean intensity per radius bin (pixels from the centre). */
  radial: number[];
  /** How the image's modules were matched (absent for single-source images). */
  matching?: TrainMatching;
}

// ---------------------------------------------------------------------------------------------------
// Browser → server (JSON text frames). Requests carry `req`, the reply echoes it.

export type ClientMessage =
  | { t: "watchDevice"; deviceId: string }
  | { t: "unwatchDevice"; deviceId: string }
  | { t: "set"; req: number; deviceId: string; values: Record<string, JsonValue> }
  | { t: "call"; req: number; deviceId: string; slot: string }
  | {
      t: "instantiate";
      req: number;
      serverId: string;
      classId: string;
      deviceId: string;
      config: Record<string, JsonValue>;
    }
  | { t: "kill"; req: number; deviceId: string }
  | { t: "watchImage"; on: boolean }
  /**
   * What part of the image the page shows: server-side binning (1 = full resolution; more when zoomed
   * out) and the region in full-resolution pixels (absent: the whole image). The page never receives
   * many more pixels than it can display.
   */
  | { t: "imageView"; binning: number; region?: ImageRegion }
  /** Switches the live image between the feed's views (raw or corrected detector data). */
  | { t: "imageSelect"; view: string }
  /** The page drew the last image and wants the next (flow control: one frame in flight). */
  | { t: "imageDrawn"; trainId: number }
  | { t: "setRoi"; x: number; y: number; w: number; h: number }
  | { t: "trend"; deviceId: string; key: string; on: boolean }
  | { t: "runs"; req: number }
  | { t: "runControl"; req: number; action: "start" | "stop"; runType: string; sample: string }
  | { t: "setQuality"; req: number; proposal: number; run: number; quality: string }
  /** The run table: sent now and whenever it changes (jobs finishing, comments). */
  | { t: "runTable"; req: number }
  | { t: "tableCell"; req: number; proposal: number; run: number; name: string }
  | { t: "tableComment"; req: number; proposal: number; run: number; comment: string }
  | AnalysisRequest;

/** The error of a refused request: its code, and `field` naming the property at fault when there is one. */
export interface WireError {
  code: ErrorCode;
  message: string;
  field?: string;
}

// Server → browser (JSON text frames; images are binary frames, see below).
export type ServerMessage =
  | {
      t: "welcome";
      protocol: number;
      user: string;
      role: Role;
      imageSource: string | null;
      /** Views the image switches between ("corrected", "raw"), and the one shown. */
      imageViews?: string[];
      imageView?: string;
      runsAvailable: boolean;
      tableAvailable?: boolean;
    }
  | { t: "topology"; topology: Topology }
  | { t: "schema"; deviceId: string; classId: string; properties: PropertyInfo[] }
  | { t: "values"; deviceId: string; values: { key: string; value: WireValue; stamp: WireStamp }[] }
  | { t: "deviceGone"; deviceId: string }
  | { t: "reply"; req: number; ok: true; result?: JsonValue }
  | { t: "reply"; req: number; ok: false; error: WireError }
  | { t: "plots"; plots: TrainPlots }
  | { t: "trend"; deviceId: string; key: string; points: { ms: number; trainId: number; value: number }[] }
  | { t: "runs"; runs: RunInfo[]; state: string; current: RunInfo | null; qualities: string[] }
  | { t: "audit"; entries: AuditEntry[] }
  | { t: "runTable"; tables: RunTableInfo[] }
  | { t: "notice"; level: "info" | "warn" | "error"; text: string }
  | AnalysisMessage;

/** A rectangle of the detector image in full-resolution pixels. */
export interface ImageRegion {
  x: number;
  y: number;
  w: number;
  h: number;
}

// ---------------------------------------------------------------------------------------------------
// Binary image frames: a fixed 64-byte little-endian header, then width*height float32 pixels (row
// major, row 0 at the top). The header is a multiple of 4 bytes so the page views pixels in place.

export const IMAGE_MAGIC = 0x474d4953; // "SIMG"
export const IMAGE_HEADER_BYTES = 64;

/** Metadata of one image frame. */
export interface ImageHeader {
  width: number;
  height: number;
  trainId: number;
  /** Epoch ms at which the train left the detector device (for end-to-end latency). */
  sentMs: number;
  /** Pixel value range of this frame (finite pixels only). */
  min: number;
  max: number;
  /** Binning factor applied on the server (1 = full resolution): pixel (x, y) covers full-resolution
   * pixels x*binning … (x+1)*binning-1, and holds the mean of their finite values. */
  binning: number;
  /** Full-resolution position of this frame's pixel (0, 0): frames may carry a region only. */
  x0: number;
  y0: number;
  /** Size of the whole image in full-resolution pixels. */
  fullWidth: number;
  fullHeight: number;
}

/** Writes an image frame into one buffer: header followed by the pixels. */
export function encodeImageFrame(h: ImageHeader, pixels: Float32Array): Uint8Array {
  if (pixels.length !== h.width * h.height) {
    throw new SaseError("BAD_IMAGE", `image frame: ${pixels.length} pixels for ${h.width}x${h.height}`);
  }
  const out = new Uint8Array(IMAGE_HEADER_BYTES + pixels.byteLength);
  const v = new DataView(out.buffer);
  v.setUint32(0, IMAGE_MAGIC, true);
  v.setUint32(4, GUI_PROTOCOL, true);
  v.setUint32(8, h.width, true);
  v.setUint32(12, h.height, true);
  v.setFloat64(16, h.trainId, true);
  v.setFloat64(24, h.sentMs, true);
  v.setFloat32(32, h.min, true);
  v.setFloat32(36, h.max, true);
  v.setUint32(40, h.binning, true);
  v.setUint32(44, h.x0, true);
  v.setUint32(48, h.y0, true);
  v.setUint32(52, h.fullWidth, true);
  v.setUint32(56, h.fullHeight, true);
  out.set(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength), IMAGE_HEADER_BYTES);
  return out;
}

/** Reads an image frame; the pixels are a view into `buf`, not a copy. */
export function decodeImageFrame(buf: ArrayBuffer): { header: ImageHeader; pixels: Float32Array } {
  if (buf.byteLength < IMAGE_HEADER_BYTES)
    throw new SaseError("BAD_IMAGE", `image frame too short: ${buf.byteLength} bytes`);
  const v = new DataView(buf);
  if (v.getUint32(0, true) !== IMAGE_MAGIC) throw new SaseError("BAD_IMAGE", "image frame: bad magic");
  const header: ImageHeader = {
    width: v.getUint32(8, true),
    height: v.getUint32(12, true),
    trainId: v.getFloat64(16, true),
    sentMs: v.getFloat64(24, true),
    min: v.getFloat32(32, true),
    max: v.getFloat32(36, true),
    binning: v.getUint32(40, true),
    x0: v.getUint32(44, true),
    y0: v.getUint32(48, true),
    fullWidth: v.getUint32(52, true),
    fullHeight: v.getUint32(56, true),
  };
  const n = header.width * header.height;
  if (buf.byteLength !== IMAGE_HEADER_BYTES + n * 4) {
    throw new SaseError(
      "BAD_IMAGE",
      `image frame: ${buf.byteLength} bytes for ${header.width}x${header.height}`,
    );
  }
  return { header, pixels: new Float32Array(buf, IMAGE_HEADER_BYTES, n) };
}
