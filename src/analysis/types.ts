// The values that flow along the edges of an analysis graph, and the train a graph is fed. Three port
// types cover what EXtra-foam's figures of merit, curves and images are: a number per train, a curve
// (x, y) and a 2D image. Everything is a typed array so hot loops never box numbers.

/** Type of a node's input or output port. */
export type PortType = "scalar" | "vector" | "image";

/** A row-major 2D image, row 0 at the top; NaN marks pixels to ignore (gaps, masked pixels). */
export interface ImageValue {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/** A curve: y against x (I(q), a projection, a histogram, per-pulse values, a correlation). */
export interface VectorValue {
  readonly x: Float64Array;
  readonly y: Float64Array;
}

/** What travels on an edge; its JavaScript shape follows the port type. */
export type PortValue = number | VectorValue | ImageValue;

/** Where the assembled image's pixels sit: what azimuthal integration needs of the detector geometry. */
export interface ImageGeometry {
  /** Beam position (row, column) in pixels of the image, row 0 at the top (pixel centres at +0.5). */
  readonly centre: readonly [number, number];
  /** Square pixel side, metres. */
  readonly pixelSize: number;
  /** 1 where a module pixel lands, 0 in the gaps between modules (absent: every pixel is covered). */
  readonly covered?: Uint8Array;
}

/** One train as the graph sees it: the assembled detector image, per-pulse data and device properties. */
export interface AnalysisTrain {
  readonly trainId: number;
  /** The assembled (corrected where available) detector image of this train. */
  readonly image: ImageValue;
  readonly geometry: ImageGeometry;
  /** Nonzero where the calibration flags the pixel as bad (absent when no constants are known). */
  readonly badPixels?: Uint8Array;
  /** XGM energy of each pulse (µJ); empty when no XGM is present. */
  readonly pulseEnergy: Float64Array;
  /** A device property's value at this train (`device` is a Karabo device id), or undefined if unknown. */
  property(device: string, key: string): number | undefined;
}

/** Outputs of every node for one train: `nodeId.port` → value. A node that skipped a train is absent. */
export type TrainResults = Map<string, PortValue>;

/** Type guard: an image value. */
export function isImage(v: PortValue | undefined): v is ImageValue {
  return typeof v === "object" && v !== null && "data" in v;
}

/** Type guard: a vector value. */
export function isVector(v: PortValue | undefined): v is VectorValue {
  return typeof v === "object" && v !== null && "y" in v;
}

/** The port type of a value. */
export function portTypeOf(v: PortValue): PortType {
  return typeof v === "number" ? "scalar" : isImage(v) ? "image" : "vector";
}
