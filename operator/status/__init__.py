"""Pure status policy: what the operator observed -> conditions and facts, one module per kind."""
