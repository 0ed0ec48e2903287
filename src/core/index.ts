// Public API of the core layer.
export {};
