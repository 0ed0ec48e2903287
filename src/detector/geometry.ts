import { type ErrorDetails, SaseError } from "../core/index.ts";
// Detector geometry: where every pixel of every module sits in space, and how to assemble the modules
// into one 2D image. Coordinates follow the facility's convention (as EXtra-geom and CrystFEL use it):
// metres, origin at the detector centre, x to the LEFT and y UP when looking along the beam.
import { StackAssembler, type TileBlock } from "./assemble-simd.ts";

/** A point or a vector in metres, (x, y, z). */
export type Vec3 = readonly [number, number, number];

/** The part of a module's (ss, fs) data array that one tile covers. */
export interface TileSlice {
  readonly ssStart: number;
  readonly ssStop: number;
  readonly fsStart: number;
  readonly fsStop: number;
}

/** What a detector looks like as data: modules, their pixel array and how it splits into tiles. */
export interface DetectorLayout {
  readonly name: string;
  readonly nModules: number;
  /** Pixels per module, (slow scan, fast scan). */
  readonly moduleShape: readonly [number, number];
  /** Tiles of one module, in data order. */
  readonly tiles: readonly TileSlice[];
  /** Square pixel side in metres. */
  readonly pixelSize: number;
  /** Modules per quadrant (for CrystFEL rigid groups); 0 if the detector has no quadrants. */
  readonly modulesPerQuadrant: number;
}

/** AGIPD-1M: 16 modules of 512 × 128 pixels, 8 tiles (ASIC pairs) of 64 × 128 each, 200 µm pixels. */
export const AGIPD_1M: DetectorLayout = {
  name: "AGIPD-1M",
  nModules: 16,
  moduleShape: [512, 128],
  tiles: Array.from({ length: 8 }, (_, t) => ({
    ssStart: 64 * t,
    ssStop: 64 * t + 64,
    fsStart: 0,
    fsStop: 128,
  })),
  pixelSize: 2e-4,
  modulesPerQuadrant: 4,
};

/** The quadrant positions used in the facility's documentation and tests, in pixels. */
export const AGIPD_1M_EXAMPLE_QUADRANTS: readonly (readonly [number, number])[] = [
  [-525, 625],
  [-550, -10],
  [520, -160],
  [542.5, 475],
];

/** Position and orientation of one tile: the corner where its first stored pixel sits, and steps. */
export interface Tile {
  /** Corner of the first stored pixel, metres. */
  readonly corner: Vec3;
  /** One step along the slow-scan axis, metres. */
  readonly ssVec: Vec3;
  /** One step along the fast-scan axis, metres. */
  readonly fsVec: Vec3;
}

/** Error raised for a geometry that cannot be built or read; names the file/panel where known. */
export class GeometryError extends SaseError {
  override readonly name = "GeometryError";
  constructor(message: string, details?: ErrorDetails) {
    super("BAD_GEOMETRY", message, details);
  }
}

/** Round half to even, as numpy's `around` does, so snapped positions agree with EXtra-geom. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A detector's full geometry: one tile list per module. */
export class DetectorGeometry {
  #snapped: SnappedGeometry | undefined;

  /** A geometry of `layout` with `modules[m][t]` placing tile t of module m. */
  constructor(
    readonly layout: DetectorLayout,
    readonly modules: readonly (readonly Tile[])[],
  ) {
    if (modules.length !== layout.nModules) {
      throw new GeometryError(
        `${layout.name} has ${layout.nModules} modules, the geometry places ${modules.length}`,
      );
    }
    modules.forEach((tiles, m) => {
      if (tiles.length !== layout.tiles.length) {
        throw new GeometryError(`module ${m}: ${layout.tiles.length} tiles expected, got ${tiles.length}`);
      }
    });
  }

  /**
   * The idealised AGIPD-1M layout from the positions (x, y) of the first pixel of modules 0, 4, 8 and
   * 12, with `asicGap` and `panelGap` between tiles and modules; all in `unit` (default: pixels).
   */
  static agipd1mFromQuadPositions(
    quadPositions: readonly (readonly [number, number])[] = AGIPD_1M_EXAMPLE_QUADRANTS,
    options: { asicGap?: number; panelGap?: number; unit?: number } = {},
  ): DetectorGeometry {
    if (quadPositions.length !== 4) {
      throw new GeometryError(`AGIPD-1M needs 4 quadrant positions, got ${quadPositions.length}`);
    }
    const layout = AGIPD_1M;
    const px = layout.pixelSize;
    const unit = options.unit ?? px;
    const asicGapPx = ((options.asicGap ?? 2) * unit) / px;
    const panelGapPx = ((options.panelGap ?? 29) * unit) / px;
    const [tileSs, tileFs] = [64, 128];
    // The arithmetic below follows the same order of floating-point operations as the facility's
    // reference, so that half-pixel positions snap to the same grid.
    const moduleHeight = (tileFs + panelGapPx) * px;
    const tileWidth = (tileSs + asicGapPx) * px;
    const xOrientation = [1, 1, -1, -1];
    const yOrientation = [-1, -1, 1, 1];
    const modules: Tile[][] = [];
    for (let p = 0; p < 16; p++) {
      const q = Math.floor(p / 4);
      const [qx, qy] = quadPositions[q]!;
      const cornerY = qy * unit - (p % 4) * moduleHeight;
      const tiles: Tile[] = [];
      for (let a = 0; a < 8; a++) {
        const cornerX = qx * unit + xOrientation[q]! * tileWidth * a;
        tiles.push({
          corner: [cornerX, cornerY, 0],
          ssVec: [xOrientation[q]! * unit, 0, 0],
          fsVec: [0, yOrientation[q]! * unit, 0],
        });
      }
      modules.push(tiles);
    }
    return new DetectorGeometry(layout, modules);
  }

  /** The first-pixel positions of modules 0, 4, 8, 12 in pixels (inverse of agipd1mFromQuadPositions). */
  quadPositions(): [number, number][] {
    const px = this.layout.pixelSize;
    return [0, 1, 2, 3].map((q) => {
      const c = this.modules[q * 4]![0]!.corner;
      return [c[0] / px, c[1] / px];
    });
  }

  /**
   * Centre of every pixel in metres, shaped (modules, ss, fs, 3) as x, y, z. With `centre` false,
   * the first corner of each pixel instead.
   */
  pixelPositions(centre = true): Float64Array {
    const { nModules, moduleShape, tiles } = this.layout;
    const [nss, nfs] = moduleShape;
    const out = new Float64Array(nModules * nss * nfs * 3);
    const half = centre ? 0.5 : 0;
    this.modules.forEach((moduleTiles, m) => {
      moduleTiles.forEach((tile, t) => {
        const slice = tiles[t]!;
        for (let ss = slice.ssStart; ss < slice.ssStop; ss++) {
          const s = ss - slice.ssStart + half;
          for (let fs = slice.fsStart; fs < slice.fsStop; fs++) {
            const f = fs - slice.fsStart + half;
            const i = ((m * nss + ss) * nfs + fs) * 3;
            for (let k = 0; k < 3; k++)
              out[i + k] = tile.corner[k]! + s * tile.ssVec[k]! + f * tile.fsVec[k]!;
          }
        }
      });
    });
    return out;
  }

  /** Distance of each pixel centre of module `m` from the beam, in pixels, shaped (ss, fs). */
  moduleRadius(m: number): Float32Array {
    const { moduleShape, tiles, pixelSize } = this.layout;
    const [nss, nfs] = moduleShape;
    const moduleTiles = this.modules[m];
    if (!moduleTiles) throw new GeometryError(`module ${m} is not in this ${this.layout.name} geometry`);
    const out = new Float32Array(nss * nfs);
    moduleTiles.forEach((tile, t) => {
      const slice = tiles[t]!;
      for (let ss = slice.ssStart; ss < slice.ssStop; ss++) {
        const s = ss - slice.ssStart + 0.5;
        for (let fs = slice.fsStart; fs < slice.fsStop; fs++) {
          const f = fs - slice.fsStart + 0.5;
          const x = tile.corner[0] + s * tile.ssVec[0] + f * tile.fsVec[0];
          const y = tile.corner[1] + s * tile.ssVec[1] + f * tile.fsVec[1];
          out[ss * nfs + fs] = Math.hypot(x, y) / pixelSize;
        }
      }
    });
    return out;
  }

  /** The geometry snapped to a pixel grid, for fast assembly (computed once). */
  snapped(): SnappedGeometry {
    this.#snapped ??= new SnappedGeometry(this);
    return this.#snapped;
  }

  /** Shape (height, width) of the assembled image. */
  get assembledShape(): [number, number] {
    return this.snapped().shape;
  }

  /**
   * Assembles a (modules, ss, fs) stack into the 2D image (y up, x left as seen along the beam,
   * row 0 at the bottom); gaps are NaN. Pass `out` to reuse an image buffer between trains.
   */
  assemble(modules: ArrayLike<number>, out?: Float32Array): Float32Array {
    return this.snapped().assemble(modules, out);
  }
}

/**
 * A geometry with every tile placed on whole pixels. Assembly is then a plain gather through an index
 * map computed once: one pass over the data per image, no interpolation.
 */
export class SnappedGeometry {
  /** (height, width) of the assembled image. */
  readonly shape: [number, number];
  /** (y, x) index of the detector centre (the coordinate origin) in the assembled image. */
  readonly centre: [number, number];
  /** For each module pixel (m, ss, fs) in C order, its index in the assembled image. */
  readonly destination: Int32Array;
  /** Each tile as a strided block copy (what assemble runs; `destination` is the same map pixel by pixel). */
  readonly #blocks: TileBlock[] = [];

  constructor(geometry: DetectorGeometry) {
    const { nModules, moduleShape, tiles: slices, pixelSize } = geometry.layout;
    const [nss, nfs] = moduleShape;
    // Each tile's first-pixel corner and unit steps on the integer (y, x) grid.
    const snapped = geometry.modules.map((moduleTiles) =>
      moduleTiles.map((tile, t) => {
        const cy = roundHalfEven(tile.corner[1] / pixelSize);
        const cx = roundHalfEven(tile.corner[0] / pixelSize);
        const ss = [
          roundHalfEven(tile.ssVec[1] / pixelSize),
          roundHalfEven(tile.ssVec[0] / pixelSize),
        ] as const;
        const fs = [
          roundHalfEven(tile.fsVec[1] / pixelSize),
          roundHalfEven(tile.fsVec[0] / pixelSize),
        ] as const;
        const unit = (v: readonly [number, number]) => Math.abs(v[0]) + Math.abs(v[1]) === 1;
        if (!unit(ss) || !unit(fs) || ss[0] * fs[0] + ss[1] * fs[1] !== 0) {
          throw new GeometryError(`tile ${t} is not aligned with the pixel grid; it cannot be snapped`);
        }
        return { cy, cx, ss, fs, slice: slices[t]! };
      }),
    );
    // A pixel stepped in a negative direction occupies the grid cell below its corner.
    const cell = (corner: number, step: number, i: number) => corner + step * i + (step < 0 ? -1 : 0);
    let minY = Number.POSITIVE_INFINITY;
    let minX = Number.POSITIVE_INFINITY;
    let maxY = Number.NEGATIVE_INFINITY;
    let maxX = Number.NEGATIVE_INFINITY;
    for (const moduleTiles of snapped) {
      for (const { cy, cx, ss, fs, slice } of moduleTiles) {
        const lastS = slice.ssStop - slice.ssStart - 1;
        const lastF = slice.fsStop - slice.fsStart - 1;
        for (const [s, f] of [
          [0, 0],
          [lastS, lastF],
        ] as const) {
          const y = cell(cy, ss[0], s) + (ss[0] === 0 ? cell(0, fs[0], f) : 0);
          const x = cell(cx, ss[1], s) + (ss[1] === 0 ? cell(0, fs[1], f) : 0);
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
        }
      }
    }
    this.centre = [-minY, -minX];
    this.shape = [maxY - minY + 1, maxX - minX + 1];
    const width = this.shape[1];
    this.destination = new Int32Array(nModules * nss * nfs).fill(-1);
    snapped.forEach((moduleTiles, m) => {
      for (const { cy, cx, ss, fs, slice } of moduleTiles) {
        for (let s = slice.ssStart; s < slice.ssStop; s++) {
          const i = s - slice.ssStart;
          for (let f = slice.fsStart; f < slice.fsStop; f++) {
            const j = f - slice.fsStart;
            const y = (ss[0] === 0 ? cy : cell(cy, ss[0], i)) + (fs[0] === 0 ? 0 : cell(0, fs[0], j));
            const x = (ss[1] === 0 ? cx : cell(cx, ss[1], i)) + (fs[1] === 0 ? 0 : cell(0, fs[1], j));
            this.destination[(m * nss + s) * nfs + f] = (y - minY) * width + (x - minX);
          }
        }
        const src = (m * nss + slice.ssStart) * nfs + slice.fsStart;
        const dst = this.destination[src]!;
        const rows = slice.ssStop - slice.ssStart;
        const cols = slice.fsStop - slice.fsStart;
        const step = (a: number, b: number) => (a === b ? 0 : this.destination[b]! - this.destination[a]!);
        this.#blocks.push({
          src,
          srcStride: nfs,
          dst,
          rows,
          cols,
          rowStep: rows > 1 ? step(src, src + nfs) : 0,
          colStep: cols > 1 ? step(src, src + 1) : 1,
        });
      }
    });
  }

  /** Assembles a (modules, ss, fs) stack into a 2D image; pixels no tile covers are NaN. */
  assemble(modules: ArrayLike<number>, out?: Float32Array): Float32Array {
    const dest = this.destination;
    if (modules.length !== dest.length) {
      throw new GeometryError(`assemble: expected ${dest.length} module pixels, got ${modules.length}`);
    }
    const size = this.shape[0] * this.shape[1];
    const image = out ?? new Float32Array(size);
    if (image.length !== size) throw new GeometryError(`assemble: output must hold ${size} pixels`);
    if (!out) image.fill(Number.NaN);
    for (let i = 0; i < dest.length; i++) image[dest[i]!] = modules[i]!;
    return image;
  }

  /**
   * A fast assembler of its own (module stack and image in WebAssembly memory, SIMD transpose of each
   * tile): for code that assembles every train. Each call gives a new one.
   */
  createStackAssembler(): StackAssembler {
    return new StackAssembler(
      this.destination.length,
      this.shape[0] * this.shape[1],
      this.#blocks,
      this.destination,
    );
  }
}

/** What `geometryForDetector` needs of a detector description (see src/detector). */
export interface DescribedDetector {
  readonly name: string;
  readonly nModules: number;
  readonly moduleShape: readonly [number, number];
  readonly geometry: {
    readonly pixelSize: number;
    readonly quadrantPositions: readonly (readonly [number, number])[] | null;
  };
}

/**
 * The geometry of a described detector from its quadrant positions. Only the AGIPD-1M module layout
 * (16 modules of 512 × 128 pixels) has a quadrant model so far; any other detector needs a `.geom`.
 */
export function geometryForDetector(detector: DescribedDetector): DetectorGeometry {
  if (detector.nModules !== AGIPD_1M.nModules) {
    throw new GeometryError(
      `${detector.name}: ${detector.nModules} modules; the AGIPD-1M quadrant model places 16`,
    );
  }
  return agipdQuadrantGeometry(detector);
}

/**
 * The AGIPD-1M quadrant geometry for a description with AGIPD modules, also for one that keeps only
 * the first few modules (a reduced test or demo detector keeps the facility's module numbers).
 */
export function agipdQuadrantGeometry(detector: DescribedDetector): DetectorGeometry {
  const isAgipd1m =
    detector.nModules <= AGIPD_1M.nModules &&
    detector.moduleShape[0] === AGIPD_1M.moduleShape[0] &&
    detector.moduleShape[1] === AGIPD_1M.moduleShape[1] &&
    detector.geometry.pixelSize === AGIPD_1M.pixelSize;
  if (!isAgipd1m) {
    throw new GeometryError(
      `${detector.name}: no quadrant model for this layout; read its geometry from a .geom file`,
    );
  }
  const quads = detector.geometry.quadrantPositions;
  if (!quads) throw new GeometryError(`${detector.name}: the description has no quadrant positions`);
  return DetectorGeometry.agipd1mFromQuadPositions(quads);
}
