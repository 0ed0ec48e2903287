// CrystFEL `.geom` files: the text format the facility's crystallography tools exchange geometries in.
// Panels are named `p{module}a{tile}`; positions in pixels, `res` pixels per metre, `coffset` in metres.
import { type DetectorLayout, DetectorGeometry, GeometryError, type Tile, type Vec3 } from "./geometry.ts";

interface PanelFields {
  [key: string]: string;
}

/** Parses a CrystFEL vector such as `+0.0x -1.0y` or `-x` into pixel steps (x, y, z). */
function parseVector(text: string, where: string): Vec3 {
  const v: [number, number, number] = [0, 0, 0];
  const terms = text.replace(/\s+/g, "").match(/[+-]?[0-9.eE]*[xyz]/g);
  if (!terms || terms.join("") !== text.replace(/\s+/g, "")) {
    throw new GeometryError(`${where}: cannot read vector "${text}"`);
  }
  for (const term of terms) {
    const axis = "xyz".indexOf(term.at(-1)!);
    const coeff = term.slice(0, -1);
    const n = coeff === "" || coeff === "+" ? 1 : coeff === "-" ? -1 : Number(coeff);
    if (!Number.isFinite(n)) throw new GeometryError(`${where}: bad coefficient in vector "${text}"`);
    v[axis] = n;
  }
  return v;
}

function numberField(fields: PanelFields, key: string, where: string): number {
  const raw = fields[key];
  if (raw === undefined) throw new GeometryError(`${where}: missing ${key}`);
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new GeometryError(`${where}: ${key} = "${raw}" is not a number`);
  return n;
}

/**
 * Reads a CrystFEL geometry for a detector of `layout`. Modules come from each panel's `dimN = <int>`
 * when the file has a module dimension, otherwise from its slow-scan range (modules stacked along ss).
 */
export function readCrystfelGeom(
  text: string,
  layout: DetectorLayout,
  source = "geometry file",
): DetectorGeometry {
  const globals: PanelFields = {};
  const panels = new Map<string, PanelFields>();
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, n) => {
    const line = rawLine.replace(/;.*$/, "").trim();
    if (line === "") return;
    const eq = line.indexOf("=");
    if (eq < 0) throw new GeometryError(`${source}:${n + 1}: expected "key = value", got "${line}"`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const slash = key.indexOf("/");
    if (slash < 0) {
      globals[key] = value;
      return;
    }
    const name = key.slice(0, slash);
    if (name.startsWith("bad") || name.startsWith("rigid_group")) return; // masks and groups: not placement
    const fields = panels.get(name) ?? {};
    fields[key.slice(slash + 1)] = value;
    panels.set(name, fields);
  });
  if (panels.size === 0) throw new GeometryError(`${source}: no panels defined`);

  const [moduleSs] = layout.moduleShape;
  const placed: (Tile | undefined)[][] = Array.from({ length: layout.nModules }, () =>
    new Array<Tile | undefined>(layout.tiles.length).fill(undefined),
  );
  for (const [name, own] of panels) {
    const where = `${source}: panel ${name}`;
    const fields = { ...globals, ...own };
    const res = numberField(fields, "res", where);
    let minSs = numberField(fields, "min_ss", where);
    const minFs = numberField(fields, "min_fs", where);
    const moduleDim = Object.entries(own).find(([k, v]) => /^dim\d+$/.test(k) && /^\d+$/.test(v));
    let module: number;
    if (moduleDim) {
      module = Number(moduleDim[1]);
    } else {
      module = Math.floor(minSs / moduleSs);
      minSs -= module * moduleSs;
    }
    const tile = layout.tiles.findIndex((t) => t.ssStart === minSs && t.fsStart === minFs);
    if (module >= layout.nModules || tile < 0) {
      throw new GeometryError(
        `${where}: covers no ${layout.name} tile (module ${module}, ss ${minSs}, fs ${minFs})`,
      );
    }
    if (placed[module]![tile])
      throw new GeometryError(`${where}: module ${module} tile ${tile} placed twice`);
    const fs = parseVector(fields.fs ?? "", `${where} fs`);
    const ss = parseVector(fields.ss ?? "", `${where} ss`);
    placed[module]![tile] = {
      corner: [
        numberField(fields, "corner_x", where) / res,
        numberField(fields, "corner_y", where) / res,
        fields.coffset === undefined ? 0 : numberField(fields, "coffset", where),
      ],
      ssVec: [ss[0] / res, ss[1] / res, ss[2] / res],
      fsVec: [fs[0] / res, fs[1] / res, fs[2] / res],
    };
  }
  const modules = placed.map((tiles, m) =>
    tiles.map((t, a) => {
      if (!t) throw new GeometryError(`${source}: no panel places module ${m} tile ${a}`);
      return t;
    }),
  );
  return new DetectorGeometry(layout, modules);
}

function formatVector(v: Vec3, pixelSize: number): string {
  const parts = [`${signed(v[0] / pixelSize)}x`, `${signed(v[1] / pixelSize)}y`];
  if (v[2] !== 0) parts.push(`${signed(v[2] / pixelSize)}z`);
  return parts.join(" ");
}

function signed(n: number): string {
  const text = Number(n.toPrecision(12)).toString();
  return n < 0 || Object.is(n, -0) ? (text.startsWith("-") ? text : `-${text}`) : `+${text}`;
}

/** Options for writing a `.geom` file. */
export interface CrystfelWriteOptions {
  /** HDF5 path of the data in the files CrystFEL reads. */
  dataPath?: string;
  /** Detector distance in metres (written as `clen`). */
  clen?: number;
  /** Photon energy in eV. */
  photonEnergy?: number;
  /** ADU per eV of the detector. */
  aduPerEv?: number;
}

/** Writes a geometry as a CrystFEL `.geom` text (frame, module, ss, fs data layout). */
export function writeCrystfelGeom(geometry: DetectorGeometry, options: CrystfelWriteOptions = {}): string {
  const { layout } = geometry;
  const px = layout.pixelSize;
  const header = [
    `; ${layout.name} geometry file written by sase`,
    `data = ${options.dataPath ?? "/entry_1/instrument_1/detector_1/data"} ;`,
    "dim0 = %",
    `res = ${1 / px} ; pixels per metre`,
    options.photonEnergy === undefined
      ? "; photon_energy = SET ME"
      : `photon_energy = ${options.photonEnergy}`,
    options.clen === undefined ? "; clen = SET ME" : `clen = ${options.clen}`,
    options.aduPerEv === undefined ? "; adu_per_eV = SET ME" : `adu_per_eV = ${options.aduPerEv}`,
    "",
  ];
  const groups: string[] = [];
  const moduleGroups = geometry.modules.map((_, p) => `p${p}`);
  geometry.modules.forEach((tiles, p) => {
    groups.push(`rigid_group_p${p} = ${tiles.map((_, a) => `p${p}a${a}`).join(",")}`);
  });
  groups.push(`rigid_group_collection_modules = ${moduleGroups.join(",")}`, "");
  if (layout.modulesPerQuadrant > 0) {
    const nQuads = Math.ceil(layout.nModules / layout.modulesPerQuadrant);
    const quads: string[] = [];
    for (let q = 0; q < nQuads; q++) {
      const names: string[] = [];
      for (
        let p = q * layout.modulesPerQuadrant;
        p < Math.min((q + 1) * layout.modulesPerQuadrant, layout.nModules);
        p++
      ) {
        names.push(...layout.tiles.map((_, a) => `p${p}a${a}`));
      }
      groups.push(`rigid_group_q${q} = ${names.join(",")}`);
      quads.push(`q${q}`);
    }
    groups.push(`rigid_group_collection_quads = ${quads.join(",")}`, "");
  }
  const panels: string[] = [];
  geometry.modules.forEach((tiles, p) => {
    tiles.forEach((tile, a) => {
      const s = layout.tiles[a]!;
      const name = `p${p}a${a}`;
      panels.push(
        `${name}/dim1 = ${p}`,
        `${name}/dim2 = ss`,
        `${name}/dim3 = fs`,
        `${name}/min_fs = ${s.fsStart}`,
        `${name}/min_ss = ${s.ssStart}`,
        `${name}/max_fs = ${s.fsStop - 1}`,
        `${name}/max_ss = ${s.ssStop - 1}`,
        `${name}/fs = ${formatVector(tile.fsVec, px)}`,
        `${name}/ss = ${formatVector(tile.ssVec, px)}`,
        `${name}/corner_x = ${tile.corner[0] / px}`,
        `${name}/corner_y = ${tile.corner[1] / px}`,
        `${name}/coffset = ${tile.corner[2]}`,
        "",
      );
    });
  });
  return [...header, ...groups, ...panels].join("\n");
}
