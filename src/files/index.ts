// Public API of the files layer.
export {};
