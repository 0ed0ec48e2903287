// Public API of the detector layer.
export {};
