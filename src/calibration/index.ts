// Public API of the calibration layer.
export {};
