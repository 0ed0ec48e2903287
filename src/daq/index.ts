// Public API of the daq layer.
export {};
