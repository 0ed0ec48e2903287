// Public API of the bridge layer.
export {};
