// Source nodes: where a graph's data come from. The detector gives the assembled image of each train
// and the XGM's per-pulse energies; a property node gives one device property (a motor position, the
// XGM's mean energy) at that train, live from the broker or offline from the run's control data.
import type { NodeKind } from "./node.ts";

export const detectorNode: NodeKind = {
  kind: "detector",
  group: "source",
  doc: "The assembled detector image of each train and the XGM's per-pulse energies",
  inputs: {},
  outputs: { image: "image", pulseEnergy: "vector" },
  params: {},
  accumulates: false,
  create: () => ({
    run: (_in, train) => {
      const e = train.pulseEnergy;
      const x = new Float64Array(e.length);
      for (let i = 0; i < x.length; i++) x[i] = i;
      return { image: train.image, pulseEnergy: { x, y: e } };
    },
  }),
};

export const propertyNode: NodeKind = {
  kind: "property",
  group: "source",
  doc: "A device property at each train (motor position, XGM mean energy, …)",
  inputs: {},
  outputs: { value: "scalar" },
  params: {
    device: { type: "string", default: "", doc: "Device id, e.g. SASE_SIM_MOTOR/MOTOR/X" },
    key: { type: "string", default: "", doc: "Property key, e.g. position" },
  },
  accumulates: false,
  create(p) {
    const device = p.device as string;
    const key = p.key as string;
    return {
      run: (_in, train) => {
        const v = train.property(device, key);
        return v === undefined || Number.isNaN(v) ? null : { value: v };
      },
    };
  },
};
