"""Runtime helpers for tests and benchmarks: log a model to MLflow, run the app in-process."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import cloudpickle
import pandas as pd
from fastapi import FastAPI


def log_sklearn_model(
    estimator: Any,
    x_example: Any,
    name: str,
    tracking_uri: str,
    *,
    serialization_format: str = "skops",
    signature: bool = True,
    skops_trusted_types: list[str] | None = None,
) -> str:
    """Log and register an estimator the way a data scientist would; returns models:/NAME/N."""
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from modelops.serving_runtime.loader import import_mlflow

    mlflow = import_mlflow()  # first: it silences MLflow's import-time warnings
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    with warnings.catch_warnings():
        # MLflow warns about pickle formats and missing examples (the caller chose them), and
        # infer_signature quietly drops columns whose inference raised, warnings included.
        warnings.simplefilter("ignore")
        sig = infer_signature(x_example, estimator.predict(x_example)) if signature else None
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                estimator,
                name=name,
                signature=sig,
                serialization_format=serialization_format,
                skops_trusted_types=skops_trusted_types,
                registered_model_name=name,
                # Inferring requirements loads the model in a subprocess (seconds per model);
                # the runtime image has what it needs.
                pip_requirements=["scikit-learn"],
            )
    version = info.registered_model_version
    return f"models:/{name}/{version}"


@asynccontextmanager
async def serve_in_process(app: FastAPI, ready_timeout: float = 60.0) -> AsyncIterator[Any]:
    """Run the app's lifespan and yield an httpx client bound to it, once /ready says 200
    (or at once when `ready_timeout` is 0)."""
    import httpx

    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            # uvicorn copies the lifespan state into every request's scope; httpx's
            # ASGITransport runs no lifespan, so do it here.
            if scope["type"] == "http":
                scope = {**scope, "state": dict(state or {})}
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://runtime") as client:
            if ready_timeout:
                deadline = time.monotonic() + ready_timeout
                while True:
                    response = await client.get("/ready")
                    if response.status_code == 200:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"not ready: {response.text}")
                    await asyncio.sleep(0.05)
            yield client


def log_pyfunc_model(name: str, tracking_uri: str, x_example: Any) -> str:
    """Log and register `SleepyDoubler`, a model of another flavor than sklearn."""
    from modelops.serving_runtime.loader import import_mlflow

    mlflow = import_mlflow()  # first: it silences MLflow's import-time warnings
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    # The server that loads the model cannot import this test module: ship the class itself.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    model = SleepyDoubler()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sig = infer_signature(x_example, model.predict(None, x_example))
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name=name,
                python_model=model,
                signature=sig,
                registered_model_name=name,
                pip_requirements=["mlflow"],
            )
    return f"models:/{name}/{info.registered_model_version}"


def _python_model_base() -> type:
    from modelops.serving_runtime.loader import import_mlflow

    return import_mlflow().pyfunc.PythonModel  # type: ignore[no-any-return]


class SleepyDoubler(_python_model_base()):  # type: ignore[misc]
    """A python_function model: doubles column `x`, after sleeping `sleep` seconds (the
    largest value of that column) so tests can hold a request in flight."""

    # MLflow reads this hint when the class is made (and warns without one): a DataFrame in.
    def predict(self, context, model_input: pd.DataFrame, params=None):  # type: ignore[no-untyped-def]
        import numpy as np

        delay = float(np.max(model_input["sleep"])) if "sleep" in model_input else 0.0
        if delay > 0:
            time.sleep(min(delay, 10.0))
        return np.asarray(model_input["x"], dtype=float) * 2


@contextmanager
def running_server(app: FastAPI, ready_timeout: float = 60.0) -> Iterator[str]:
    """Serve the app with uvicorn in a background thread on a free loopback port; yields the
    base URL once /ready says 200."""
    import socket
    import threading

    import httpx
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                raise TimeoutError(f"{url} did not become ready")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class Threshold(_python_model_base()):  # type: ignore[misc]
    """A python_function classifier of one column `x`: 1 above `cut`, else 0; with
    `fail_above`, a request holding a larger x fails (a candidate broken on some inputs)."""

    def __init__(self, cut: float, fail_above: float | None = None) -> None:
        self.cut = cut
        self.fail_above = fail_above

    def predict(self, context, model_input: pd.DataFrame, params=None):  # type: ignore[no-untyped-def]
        import numpy as np

        x = np.asarray(model_input["x"], dtype=float)
        if self.fail_above is not None and np.any(x > self.fail_above):
            raise RuntimeError(f"cannot score x above {self.fail_above}")
        return (x > self.cut).astype(np.int64)


def log_threshold_model(
    name: str, tracking_uri: str, cut: float, fail_above: float | None = None, alias: str = ""
) -> str:
    """Register a Threshold model as a new version of `name` (under `alias` when given)."""
    from modelops.serving_runtime.loader import import_mlflow

    mlflow = import_mlflow()
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    model = Threshold(cut, fail_above)
    example = pd.DataFrame({"x": [0.1, 0.9]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=model,
                signature=infer_signature(example, Threshold(cut).predict(None, example)),
                registered_model_name=name,
                pip_requirements=["mlflow"],
            )
    version = str(info.registered_model_version)
    if alias:
        mlflow.MlflowClient(tracking_uri, tracking_uri).set_registered_model_alias(
            name, alias, version
        )
    return version
