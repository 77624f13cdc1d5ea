"""modelops serving runtime: FastAPI model server plus the drift and materialize jobs."""

from importlib.metadata import PackageNotFoundError, version


def package_version(name: str = "modelops") -> str:
    """An installed distribution's version ("unknown" when it is not installed as one)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
