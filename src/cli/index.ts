// Public API of the cli layer.
export {};
