"""Which model judges: model specs, the embedded default model, and model versions in the store."""
