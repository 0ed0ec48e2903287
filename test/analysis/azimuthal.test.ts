// Azimuthal integration against an independent numpy implementation (np.histogram over q computed per
// pixel, Debian's python3-numpy) on the assembled AGIPD-1M image with a masked region: the same q axis
// and the same I(q), bin for bin, from the WebAssembly SIMD kernel and from the scalar path.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AzimuthalIntegrator, assembleImage, imageGeometry, rasterise } from "../../src/analysis/index.ts";
import { DetectorGeometry } from "../../src/detector/index.ts";

function numpyIq(
  image: Float32Array,
  covered: Uint8Array,
  setup: { width: number; height: number; centre: readonly [number, number]; pixel: number },
  dist: number,
  energy: number,
  bins: number,
  range: [number, number],
): { q: number[]; iq: (number | null)[] } {
  const dir = mkdtempSync(join(tmpdir(), "sase-azimuthal-"));
  try {
    const path = join(dir, "image.f32");
    writeFileSync(path, Buffer.from(image.buffer, image.byteOffset, image.byteLength));
    writeFileSync(`${path}.covered`, covered);
    const args = [
      setup.width,
      setup.height,
      setup.centre[0],
      setup.centre[1],
      setup.pixel,
      dist,
      energy,
      bins,
      ...range,
    ];
    const r = spawnSync(
      "/usr/bin/python3",
      [join(import.meta.dirname, "azimuthal_reference.py"), path, `${path}.covered`, ...args.map(String)],
      {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("I(q) of the assembled AGIPD-1M matches numpy's histogram, with a mask, for auto and fixed q ranges", () => {
  const geometry = DetectorGeometry.agipd1mFromQuadPositions();
  const pos = geometry.pixelPositions();
  const stack = new Float32Array(16 * 512 * 128);
  for (let i = 0; i < stack.length; i++) {
    const r = Math.hypot(pos[3 * i]!, pos[3 * i + 1]!) / 2e-4;
    stack[i] = 1000 * Math.exp(-r / 300) + 20 * Math.cos(r / 5) + ((i * 7919) % 101) / 10;
  }
  const image = assembleImage(geometry, stack);
  // A drawn mask (polygon) as the mask node applies it: NaN pixels.
  const drawn = new Uint8Array(image.data.length);
  rasterise(
    {
      type: "polygon",
      points: [
        [500, 500],
        [700, 520],
        [620, 760],
      ],
    },
    image.width,
    image.height,
    drawn,
  );
  drawn.forEach((m, i) => {
    if (m) image.data[i] = Number.NaN;
  });
  const geo = imageGeometry(geometry);
  const setup = { width: image.width, height: image.height, centre: geo.centre, pixel: geo.pixelSize };
  for (const [bins, range, energy, dist] of [
    [512, [0, 0], 9.3, 0.2],
    [100, [0.5, 2.5], 12, 0.5],
  ] as const) {
    const integ = new AzimuthalIntegrator({
      width: image.width,
      height: image.height,
      geometry: geo,
      distance: dist,
      energy,
      bins,
      qMin: range[0],
      qMax: range[1],
    });
    assert.ok(integ.simd, "Node runs the WebAssembly SIMD kernel");
    const scalar = new AzimuthalIntegrator({ ...integ.setup, simd: false });
    const ref = numpyIq(image.data, geo.covered!, setup, dist, energy, bins, [...range]);
    for (const ours of [integ.integrate(image.data), scalar.integrate(image.data)]) {
      assert.equal(ours.length, bins);
      for (let b = 0; b < bins; b++) {
        assert.ok(
          Math.abs(integ.q[b]! - ref.q[b]!) < 1e-12,
          `q of bin ${b}: ${integ.q[b]} vs numpy ${ref.q[b]}`,
        );
        const r = ref.iq[b];
        if (r === null) assert.ok(Number.isNaN(ours[b]!), `bin ${b}: numpy has no pixels, sase ${ours[b]}`);
        else assert.ok(Math.abs(ours[b]! - r) <= 1e-9 * Math.abs(r), `bin ${b}: ${ours[b]} vs numpy ${r}`);
      }
      assert.ok(ours.some((v) => Number.isFinite(v) && v > 0));
    }
  }
});

test("integration refuses a frame of the wrong size and nonsense set-ups", () => {
  const geometry = { centre: [10, 10] as const, pixelSize: 2e-4 };
  const integ = new AzimuthalIntegrator({
    width: 20,
    height: 20,
    geometry,
    distance: 0.1,
    energy: 9,
    bins: 8,
  });
  assert.throws(() => integ.integrate(new Float32Array(10)), /image of 10 pixels, set up for 20×20/);
  assert.throws(
    () => new AzimuthalIntegrator({ width: 20, height: 20, geometry, distance: 0, energy: 9, bins: 8 }),
    /distance must be > 0/,
  );
});
