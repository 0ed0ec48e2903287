// Public API of the pipeline layer.
export {};
