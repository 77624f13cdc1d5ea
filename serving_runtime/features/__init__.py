"""Online features: `entities` in a /predict request become model columns read from Feast."""
