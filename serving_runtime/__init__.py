"""modelops serving runtime: FastAPI model server plus the drift and materialize jobs."""
