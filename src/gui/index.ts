// Public API of the gui layer.
export {};
