// Public API of the devices layer.
export {};
