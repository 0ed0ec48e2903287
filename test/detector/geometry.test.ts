import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AGIPD_1M,
  AGIPD_1M_DETECTOR,
  DetectorGeometry,
  GeometryError,
  geometryForDetector,
  LPD_1M_DETECTOR,
  radialProfile,
  readCrystfelGeom,
  writeCrystfelGeom,
} from "../../src/detector/index.ts";

const PX = 2e-4;

describe("AGIPD-1M geometry from quadrant positions", () => {
  const geom = DetectorGeometry.agipd1mFromQuadPositions();

  it("assembles into the 1256 × 1092 image the facility's tools produce, centre at (631, 550)", () => {
    const snapped = geom.snapped();
    assert.deepEqual(snapped.shape, [1256, 1092]);
    assert.deepEqual(snapped.centre, [631, 550]);
  });

  it("places module 0 tile 1 at (-459, 625) px and returns the quadrant positions it was built from", () => {
    const c = geom.modules[0]![1]!.corner;
    assert.ok(Math.abs(c[0] / PX + 459) < 1e-9 && Math.abs(c[1] / PX - 625) < 1e-9);
    const quads = geom.quadPositions();
    const expected = [
      [-525, 625],
      [-550, -10],
      [520, -160],
      [542.5, 475],
    ];
    quads.forEach((q, i) => {
      assert.ok(Math.abs(q[0] - expected[i]![0]!) < 1e-9 && Math.abs(q[1] - expected[i]![1]!) < 1e-9);
    });
  });

  it("puts every pixel in the grid cell that contains its centre, each cell used at most once", () => {
    const snapped = geom.snapped();
    const positions = geom.pixelPositions(true);
    const [height, width] = snapped.shape;
    const [cy, cx] = snapped.centre;
    const used = new Uint8Array(height * width);
    // Half-pixel quadrant positions (542.5) make one quadrant's centres fall on cell borders; those
    // pixels are snapped by rounding the tile corner, so allow their centre to sit on either side.
    for (let i = 0; i < snapped.destination.length; i++) {
      const d = snapped.destination[i]!;
      assert.ok(d >= 0 && d < used.length, `pixel ${i} outside the image`);
      assert.equal(used[d], 0, `cell ${d} used twice`);
      used[d] = 1;
      const x = positions[i * 3]! / PX + cx;
      const y = positions[i * 3 + 1]! / PX + cy;
      const [dy, dx] = [Math.floor(d / width), d % width];
      assert.ok(Math.abs(dy + 0.5 - y) <= 0.5 + 1e-9 && Math.abs(dx + 0.5 - x) <= 0.5 + 1e-9, `pixel ${i}`);
    }
    assert.equal(
      used.reduce((a, b) => a + b, 0),
      16 * 512 * 128,
    );
  });

  it("assembles module data with NaN gaps and reuses an output buffer", () => {
    const data = new Float32Array(16 * 512 * 128);
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(i / (512 * 128)) + 1; // module number + 1
    const image = geom.assemble(data);
    assert.equal(image.length, 1256 * 1092);
    const finite = image.filter((v) => !Number.isNaN(v));
    assert.equal(finite.length, data.length);
    // Module 0's first pixel: corner (-525, 625) px, fs steps down (-y), so it fills the cell below y=625.
    const [cy, cx] = geom.snapped().centre;
    assert.equal(image[(625 - 1 + cy) * 1092 + (-525 + cx)], 1);
    const again = geom.assemble(
      data.map((v) => v * 2),
      image,
    );
    assert.equal(again, image);
    assert.equal(image[(625 - 1 + cy) * 1092 + (-525 + cx)], 2);
  });

  it("the stack assembler (SIMD tile transposes) places every pixel as the per-pixel map does", () => {
    const fast = geom.snapped().createStackAssembler();
    assert.ok(fast.usesSimd, "WebAssembly SIMD runs on Node 20");
    // Distinct values (exact in float32), so any misplaced pixel shows.
    for (let i = 0; i < fast.stack.length; i++) fast.stack[i] = i;
    const expected = geom.assemble(fast.stack.slice());
    const image = fast.assemble();
    assert.equal(image.length, expected.length);
    for (let i = 0; i < image.length; i++) {
      if (!Object.is(image[i], expected[i]))
        assert.fail(`pixel ${i}: ${image[i]}, per-pixel map ${expected[i]}`);
    }
  });

  it("refuses data of the wrong size and geometries with the wrong module count", () => {
    assert.throws(() => geom.assemble(new Float32Array(10)), GeometryError);
    assert.throws(() => new DetectorGeometry(AGIPD_1M, geom.modules.slice(0, 15)), /16 modules/);
    assert.throws(() => DetectorGeometry.agipd1mFromQuadPositions([[0, 0]]), /4 quadrant positions/);
  });
});

describe("CrystFEL .geom files", () => {
  const geom = DetectorGeometry.agipd1mFromQuadPositions();

  it("round-trips a geometry through write and read", () => {
    const text = writeCrystfelGeom(geom, { clen: 0.12, photonEnergy: 9300 });
    assert.match(text, /^res = 5000 /m);
    assert.match(text, /^p0a1\/corner_x = -459$/m);
    assert.match(text, /^rigid_group_q3 = p12a0,/m);
    const back = readCrystfelGeom(text, AGIPD_1M);
    assert.deepEqual(back.snapped().shape, [1256, 1092]);
    assert.deepEqual(back.snapped().destination, geom.snapped().destination);
    back.modules.forEach((tiles, m) => {
      tiles.forEach((t, a) => {
        const o = geom.modules[m]![a]!;
        for (let k = 0; k < 3; k++) {
          assert.ok(Math.abs(t.corner[k]! - o.corner[k]!) < 1e-12);
          assert.ok(Math.abs(t.ssVec[k]! - o.ssVec[k]!) < 1e-12);
          assert.ok(Math.abs(t.fsVec[k]! - o.fsVec[k]!) < 1e-12);
        }
      });
    });
  });

  it("reads the 2D layout (modules stacked along slow scan) with vectors like -x and +1.0y", () => {
    const lines = ["res = 5000", "coffset = 0.001"];
    geom.modules.forEach((tiles, p) => {
      tiles.forEach((t, a) => {
        const n = `p${p}a${a}`;
        const sx = t.ssVec[0] / PX;
        const fy = t.fsVec[1] / PX;
        lines.push(
          `${n}/min_ss = ${p * 512 + a * 64}`,
          `${n}/max_ss = ${p * 512 + a * 64 + 63}`,
          `${n}/min_fs = 0`,
          `${n}/max_fs = 127`,
          `${n}/ss = ${sx > 0 ? "x" : "-x"}`,
          `${n}/fs = ${fy > 0 ? "+1.0y" : "-1.0y"}`,
          `${n}/corner_x = ${t.corner[0] / PX}`,
          `${n}/corner_y = ${t.corner[1] / PX} ; trailing comment`,
        );
      });
    });
    const back = readCrystfelGeom(lines.join("\n"), AGIPD_1M);
    assert.deepEqual(back.snapped().destination, geom.snapped().destination);
    assert.equal(back.modules[3]![2]!.corner[2], 0.001);
  });

  it("names the panel and field of a broken file", () => {
    assert.throws(
      () => readCrystfelGeom("res = 5000\np0a0/min_ss = 0\np0a0/min_fs = 0\n", AGIPD_1M, "x.geom"),
      /x.geom: panel p0a0/,
    );
    assert.throws(() => readCrystfelGeom("res = 5000\n", AGIPD_1M, "y.geom"), /y.geom: no panels/);
    const text = writeCrystfelGeom(geom).replace("p5a3/fs = +0x -1y", "p5a3/fs = sideways");
    assert.throws(
      () => readCrystfelGeom(text, AGIPD_1M, "z.geom"),
      /panel p5a3 fs: cannot read vector "sideways"/,
    );
    const missing = writeCrystfelGeom(geom).replace(/^p7a7\/.*$/gm, "");
    assert.throws(() => readCrystfelGeom(missing, AGIPD_1M, "w.geom"), /no panel places module 7 tile 7/);
  });
});

describe("radial profile", () => {
  it("recovers a ring pattern's radius and skips NaN gaps", () => {
    const [h, w] = [201, 201];
    const image = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const r = Math.hypot(y + 0.5 - 100.5, x + 0.5 - 100.5);
        image[y * w + x] = Math.abs(r - 40) < 2 ? 100 : 1;
        if (x === 10) image[y * w + x] = Number.NaN;
      }
    }
    const p = radialProfile(image, [h, w], [100.5, 100.5], 1);
    let best = 0;
    for (let b = 0; b < p.mean.length; b++) if (p.mean[b]! > p.mean[best]!) best = b;
    assert.ok(Math.abs(p.radius[best]! - 40) <= 1.5, `peak at ${p.radius[best]}`);
    const total = p.count.reduce((a, b) => a + b, 0);
    assert.equal(total, h * w - h);
    assert.throws(() => radialProfile(image, [10, 10], [0, 0]), /shape 10×10/);
  });
});

describe("geometry of a described detector", () => {
  it("builds AGIPD-1M from its description and refuses layouts without a quadrant model", () => {
    assert.deepEqual(geometryForDetector(AGIPD_1M_DETECTOR).assembledShape, [1256, 1092]);
    assert.throws(() => geometryForDetector(LPD_1M_DETECTOR), /LPD.*\.geom file/);
  });
});
