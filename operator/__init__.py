"""modelops operator: API types, pure builders, thin kopf handlers."""
