"""The serving runtime against a real MLflow server: loading, every protocol, every client
mistake, results identical to pyfunc, micro-batching under concurrency, and a schemathesis run
over the committed OpenAPI document."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import random
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import pytest_asyncio

from modelops.serving_runtime.app import create_app
from modelops.serving_runtime.loader import import_mlflow
from modelops.serving_runtime.openapi import DOCUMENT
from modelops.serving_runtime.settings import RuntimeSettings

from .runtime_helpers import (
    log_pyfunc_model,
    log_sklearn_model,
    running_server,
    serve_in_process,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

COLS = [f"f{i}" for i in range(20)]
RNG = np.random.default_rng(7)
X = RNG.normal(size=(400, 20))
Y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)  # 3 classes


def _train() -> dict[str, Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame(X, columns=COLS)
    people = pd.DataFrame(
        {
            "age": RNG.integers(18, 90, size=200),
            "income": RNG.normal(50, 10, size=200),
            "city": RNG.choice(["oslo", "rome", "lima"], size=200),
        }
    )
    encode = ColumnTransformer(
        [("city", OneHotEncoder(handle_unknown="error"), ["city"])], remainder="passthrough"
    )
    return {
        "forest": (RandomForestClassifier(n_estimators=10, random_state=0).fit(X, Y), X[:5]),
        "linear": (LogisticRegression(max_iter=500).fit(frame, Y), frame.iloc[:5]),
        "mixed": (
            make_pipeline(encode, LogisticRegression(max_iter=500)).fit(people, people.age > 50),
            people.iloc[:5],
        ),
        "nosig": (LogisticRegression(max_iter=500).fit(X[:, :3], Y), X[:5, :3]),
    }


@pytest.fixture(scope="module")
def models(mlflow_url: str) -> dict[str, Any]:
    """Registered models: name -> (models:/ URI, estimator, example input)."""
    out: dict[str, Any] = {}
    for name, (estimator, example) in _train().items():
        uri = log_sklearn_model(
            estimator,
            example,
            f"rt-{name}",
            mlflow_url,
            # The forest in skops (MLflow's default, with the trusted type it needs), the rest
            # in cloudpickle: the runtime loads both.
            serialization_format="skops" if name == "forest" else "cloudpickle",
            skops_trusted_types=["sklearn.tree._tree.Tree"] if name == "forest" else None,
            signature=name != "nosig",
        )
        out[name] = (uri, estimator, example)
    example = pd.DataFrame({"x": [1.0, 2.0], "sleep": [0.0, 0.0]})
    out["pyfunc"] = (log_pyfunc_model("rt-pyfunc", mlflow_url, example), None, example)
    return out


def settings(mlflow_url: str, uri: str, **kw: Any) -> RuntimeSettings:
    # Most of these models are cloudpickle or python_function ones, which need the opt-in
    # (tests/unit/serving_runtime/test_loader.py shows the default refusing them).
    return RuntimeSettings(
        model_uri=uri, mlflow_tracking_uri=mlflow_url, **{"allow_pickle": True, **kw}
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def forest(models: dict[str, Any], mlflow_url: str) -> AsyncIterator[Any]:
    app = create_app(
        settings(mlflow_url, models["forest"][0], max_rows=500, max_body_bytes=1024 * 1024)
    )
    async with serve_in_process(app) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def clients(models: dict[str, Any], mlflow_url: str) -> AsyncIterator[dict[str, Any]]:
    """One in-process server per registered model."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        out = {}
        for name, (uri, _, _) in models.items():
            app = create_app(settings(mlflow_url, uri))
            out[name] = await stack.enter_async_context(serve_in_process(app))
        yield out


def pyfunc_predict(uri: str, frame: Any) -> list[Any]:
    """What `mlflow models serve` would answer: pyfunc's predictions."""
    mlflow = import_mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyfunc warns about extra columns and the like
        return np.asarray(mlflow.pyfunc.load_model(uri).predict(frame)).tolist()  # type: ignore[no-any-return]


# --- loading and health ------------------------------------------------------------------


async def test_ready_reports_the_loaded_model(forest: Any, models: dict[str, Any]) -> None:
    ready = (await forest.get("/ready")).json()
    assert ready["ready"] and ready["state"] == "ready"
    assert (ready["model_name"], ready["model_version"]) == ("rt-forest", "1")
    # `mlflow models serve`'s names for the same, for clients written against it.
    ping = await forest.get("/ping")
    assert ping.status_code == 200 and ping.json() == ready
    versions = (await forest.get("/version")).json()
    assert versions["modelops"] == importlib.metadata.version("modelops")
    assert versions["mlflow"] == importlib.metadata.version("mlflow")
    assert (versions["model_name"], versions["model_version"]) == ("rt-forest", "1")
    assert (await forest.get("/health")).json() == {"status": "alive"}
    assert (await forest.get("/v2/health/live")).json() == {"live": True}
    assert (await forest.get("/v2/health/ready")).json() == {"ready": True}
    assert (await forest.get("/v2/models/rt-forest/ready")).json()["ready"] is True
    meta = (await forest.get("/v2/models/rt-forest")).json()
    assert meta["versions"] == ["1"] and meta["platform"] == "mlflow-sklearn"
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 20]}]
    missing = await forest.get("/v2/models/other")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


async def test_an_alias_resolves_to_its_version(models: dict[str, Any], mlflow_url: str) -> None:
    mlflow = import_mlflow()
    mlflow.MlflowClient(mlflow_url).set_registered_model_alias("rt-linear", "champion", "1")
    app = create_app(settings(mlflow_url, "models:/rt-linear@champion"))
    async with serve_in_process(app) as client:
        body = (await client.post("/predict", json={"features": [X[0].tolist()]})).json()
    assert (body["model_name"], body["model_version"]) == ("rt-linear", "1")


async def test_runs_uris_and_local_paths_load_too(
    models: dict[str, Any], mlflow_url: str, tmp_path: Any
) -> None:
    mlflow = import_mlflow()
    client = mlflow.MlflowClient(mlflow_url)
    version = client.get_model_version("rt-linear", "1")
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=models["linear"][0], dst_path=str(tmp_path), tracking_uri=mlflow_url
    )
    row = X[0].tolist()
    expected = models["linear"][1].predict(pd.DataFrame([row], columns=COLS)).tolist()
    for uri in (f"runs:/{version.run_id}/rt-linear", local):
        app = create_app(settings(mlflow_url, uri, model_name="linear"))
        async with serve_in_process(app) as client_:
            body = (await client_.post("/predict", json={"features": [row]})).json()
            docs = await client_.get("/docs")
        assert body["predictions"] == expected, uri
        # No registry version to report: the model's own id stands in for it.
        assert body["model_version"] and body["model_version"] != "unknown"
        assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_a_model_that_cannot_load_keeps_the_process_alive(mlflow_url: str) -> None:
    app = create_app(
        settings(
            mlflow_url,
            "models:/no-such-model/1",
            load_retry_initial_seconds=0.05,
            load_retry_max_seconds=0.2,
        )
    )
    async with serve_in_process(app, ready_timeout=0) as client:
        # Two failed attempts take well under a second; a loaded machine may need far longer.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = await client.get("/ready")
            if ready.json()["state"] == "failed" and ready.json()["attempts"] >= 2:
                break
            await asyncio.sleep(0.05)
        assert ready.status_code == 503, ready.json()
        body = ready.json()
        assert body["ready"] is False and body["reason"] == "ModelNotFound"
        # The registry's answer (hosts, paths, maybe a credentialed URL) stays in the logs.
        assert "not found" not in json.dumps(body).lower()
        assert body["attempts"] >= 2  # retried, with backoff, in the same process
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/v2/health/ready")).status_code == 503
        assert (await client.get("/ping")).status_code == 503
        assert (await client.get("/version")).json()["model_version"] is None
        refused = await client.post("/predict", json={"features": [[1.0]]})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "model_not_ready"
        metrics = (await client.get("/metrics")).text
        assert 'modelops_runtime_model_load_state{model="no-such-model",state="failed"' in metrics


# --- every protocol, identical to pyfunc ------------------------------------------------------


@pytest.mark.parametrize("name", ["forest", "linear", "mixed", "nosig", "pyfunc"])
async def test_invocations_match_pyfunc(
    clients: dict[str, Any], models: dict[str, Any], name: str
) -> None:
    uri, _, example = models[name]
    if name == "mixed":
        frame = pd.DataFrame(
            {"age": [20, 60, 35], "income": [1.5, 80.0, 42.0], "city": ["oslo", "lima", "rome"]}
        )
    elif name == "pyfunc":
        frame = pd.DataFrame({"x": [1.5, -2.0, 3.0], "sleep": [0.0, 0.0, 0.0]})
    else:
        width = 3 if name == "nosig" else 20
        frame = pd.DataFrame(RNG.normal(size=(30, width)), columns=COLS[:width])
    expected = pyfunc_predict(uri, frame)
    split = json.loads(frame.to_json(orient="split", index=False))
    response = await clients[name].post("/invocations", json={"dataframe_split": split})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


async def test_every_protocol_gives_the_same_answer(
    clients: dict[str, Any], models: dict[str, Any]
) -> None:
    client = clients["linear"]
    estimator = models["linear"][1]
    rows = RNG.normal(size=(7, 20))
    frame = pd.DataFrame(rows, columns=COLS)
    expected = estimator.predict(frame).tolist()
    proba = estimator.predict_proba(frame).tolist()
    records = frame.to_dict(orient="records")
    csv = frame.to_csv(index=False)
    answers = {
        "predict rows": (await client.post("/predict", json={"features": rows.tolist()})),
        "predict records": await client.post("/predict/batch", json={"features": records}),
        "split": await client.post(
            "/invocations", json={"dataframe_split": {"columns": COLS, "data": rows.tolist()}}
        ),
        "records": await client.post("/invocations", json={"dataframe_records": records}),
        "instances": await client.post("/invocations", json={"instances": rows.tolist()}),
        "inputs": await client.post(
            "/invocations", json={"inputs": {c: frame[c].tolist() for c in COLS}}
        ),
        "csv": await client.post("/invocations", content=csv, headers={"content-type": "text/csv"}),
    }
    for label, response in answers.items():
        assert response.status_code == 200, (label, response.text)
        assert response.json()["predictions"] == expected, label
    with_proba = await client.post(
        "/predict", json={"features": rows.tolist(), "return_probabilities": True}
    )
    body = with_proba.json()
    assert body["probabilities"] == proba and body["classes"] == [0, 1, 2]
    assert body["model_name"] == "rt-linear" and body["latency_ms"] > 0
    v2_matrix = await client.post(
        "/v2/models/rt-linear/infer",
        json={
            "id": "r1",
            "inputs": [
                {"name": "x", "shape": [7, 20], "datatype": "FP64", "data": rows.ravel().tolist()}
            ],
            "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
        },
    )
    out = v2_matrix.json()
    assert out["id"] == "r1" and out["model_version"] == "1"
    assert out["outputs"][0] == {
        "name": "predict",
        "shape": [7],
        "datatype": "INT64",
        "data": expected,
    }
    assert out["outputs"][1]["shape"] == [7, 3]
    assert out["outputs"][1]["data"] == np.asarray(proba).ravel().tolist()
    v2_columns = await client.post(
        "/v2/models/rt-linear/infer",
        json={
            "inputs": [
                {"name": c, "shape": [7], "datatype": "FP64", "data": frame[c].tolist()}
                for c in reversed(COLS)
            ]
        },
    )
    assert v2_columns.json()["outputs"][0]["data"] == expected


# --- client mistakes: always 4xx with a message ------------------------------------------------


def row(n: int = 20) -> list[float]:
    return [0.5] * n


MISTAKES: list[tuple[str, str, Any, dict[str, str], int, str, str]] = [
    ("/predict", "json", {"features": [row(19)]}, {}, 400, "invalid_input", "20 values"),
    ("/predict", "json", {"features": [row(), row(3)]}, {}, 400, "invalid_input", "ragged"),
    ("/predict", "json", {"features": [[*row(19), "x"]]}, {}, 400, "invalid_input", "x19"),
    ("/predict", "json", {"features": [[*row(19), True]]}, {}, 400, "invalid_input", "boolean"),
    ("/predict", "json", {"features": []}, {}, 400, "invalid_input", "empty"),
    ("/predict", "json", {"features": [row()] * 501}, {}, 413, "payload_too_large", "501 > 500"),
    ("/predict", "json", {"rows": [row()]}, {}, 400, "invalid_input", "features"),
    ("/predict", "json", [row()], {}, 400, "invalid_input", "JSON object"),
    ("/predict", "raw", b'{"features": [[1,', {}, 400, "malformed_body", "malformed JSON"),
    ("/predict", "raw", b"a,b", {"content-type": "text/csv"}, 415, "unsupported_media_type",
     "text/csv"),
    ("/predict", "raw", b"x" * (1024 * 1024 + 1), {}, 413, "payload_too_large", "limit"),
    ("/invocations", "raw", b"<xml/>", {"content-type": "application/xml"}, 415,
     "unsupported_media_type", "application/xml"),
    ("/invocations", "json", {"dataframe_split": {"data": [row(2)]}}, {}, 400, "invalid_input",
     "20 values"),
    ("/invocations", "json", {"data": [row()]}, {}, 400, "invalid_input", "exactly one of"),
    ("/invocations", "raw", b"a,b\n1,2\n", {"content-type": "text/csv"}, 400, "invalid_input",
     "20 columns"),
    ("/v2/models/rt-forest/infer", "json",
     {"inputs": [{"name": "x", "shape": [1, 20], "datatype": "FP64", "data": row(19)}]}, {},
     400, "invalid_input", "needs 20"),
    ("/v2/models/rt-forest/infer", "json",
     {"inputs": [{"name": "x", "shape": [1, 20], "datatype": "INT64", "data": row()}]}, {},
     400, "invalid_input", "INT64"),
    ("/v2/models/nope/infer", "json", {"inputs": []}, {}, 404, "model_not_found", "nope"),
    ("/nowhere", "json", {}, {}, 404, "not_found", "Not Found"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "kind", "body", "headers", "status", "code", "needle"),
    MISTAKES,
    ids=[f"{m[0]}-{m[-1]}" for m in MISTAKES],
)
async def test_client_mistakes_get_a_4xx_naming_the_problem(
    forest: Any,
    path: str,
    kind: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    code: str,
    needle: str,
) -> None:
    if kind == "json":
        response = await forest.post(path, json=body, headers=headers)
    else:
        response = await forest.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert needle in error["message"]


async def test_nulls_are_refused_unless_the_model_takes_missing_values(
    clients: dict[str, Any], forest: Any
) -> None:
    features = {"features": [[*row(19), None]]}
    refused = await clients["linear"].post("/predict", json=features)
    assert refused.status_code == 400
    assert "column 'f19' (double) is required, but row 0 is null" in refused.text
    # scikit-learn's forests split on missing values: null is NaN for them.
    assert (await forest.post("/predict", json=features)).status_code == 200


async def test_wrong_column_names_are_named(clients: dict[str, Any]) -> None:
    records = [{**{c: 0.1 for c in COLS[:19]}, "f_19": 0.1}]
    response = await clients["linear"].post("/predict", json={"features": records})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "missing required columns ['f19']" in message and "'f_19'" in message


async def test_what_the_model_itself_refuses_is_a_4xx(clients: dict[str, Any]) -> None:
    # "paris" passes the signature (a string) but the encoder has never seen it.
    response = await clients["mixed"].post(
        "/invocations",
        json={"dataframe_records": [{"age": 30, "income": 1.0, "city": "paris"}]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "prediction_rejected"
    assert "paris" in response.json()["error"]["message"]


async def test_method_not_allowed_is_json(forest: Any) -> None:
    response = await forest.get("/predict")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# --- micro-batching ----------------------------------------------------------------------


async def test_concurrent_requests_are_batched_and_answered_exactly(
    forest: Any, models: dict[str, Any]
) -> None:
    estimator = models["forest"][1]
    rng = random.Random(3)
    requests = [RNG.normal(size=(rng.randint(1, 6), 20)) for _ in range(120)]
    before = _batch_count(await forest.get("/metrics"))

    async def one(rows: np.ndarray, proba: bool) -> Any:
        body = {"features": rows.tolist(), "return_probabilities": proba}
        return (await forest.post("/predict", json=body)).json()

    answers = await asyncio.gather(*(one(r, i % 2 == 0) for i, r in enumerate(requests)))
    for i, (rows, answer) in enumerate(zip(requests, answers, strict=True)):
        assert answer["predictions"] == estimator.predict(rows).tolist()
        if i % 2 == 0:
            assert answer["probabilities"] == estimator.predict_proba(rows).tolist()
        else:
            assert answer["probabilities"] is None
    calls = _batch_count(await forest.get("/metrics")) - before
    assert 0 < calls < len(requests)  # merged into fewer model calls


def _batch_count(response: Any) -> float:
    for line in response.text.splitlines():
        if line.startswith("modelops_runtime_batch_rows_count{") and 'version="1"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_errors_and_latency(forest: Any) -> None:
    await forest.post("/predict", json={"features": [row()]})
    await forest.post("/predict", json={"features": [row(3)]})
    text = (await forest.get("/metrics")).text
    assert (
        'modelops_runtime_requests_total{code="200",endpoint="/predict",model="rt-forest",'
        'version="1"}' in text
    )
    assert 'code="400",endpoint="/predict"' in text
    assert 'modelops_runtime_errors_total{code="invalid_input"' in text
    assert "modelops_runtime_request_duration_seconds_bucket" in text
    assert "modelops_runtime_model_call_duration_seconds_bucket" in text
    assert 'modelops_runtime_model_load_state{model="rt-forest",state="ready",version="1"} 1.0' in (
        text
    )


# --- the OpenAPI document, fuzzed --------------------------------------------------------------


async def test_schemathesis_finds_no_server_errors(models: dict[str, Any], mlflow_url: str) -> None:
    """Every operation of the committed document, with bodies that fit it and bodies that do
    not: no 5xx. Against a live uvicorn on a free loopback port."""
    await asyncio.to_thread(_fuzz, models["linear"][0], mlflow_url)


def _fuzz(uri: str, mlflow_url: str) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis.errors import Unsatisfiable

    app = create_app(settings(mlflow_url, uri))
    schema = schemathesis.openapi.from_path(DOCUMENT)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    failures: list[str] = []
    calls = 0
    with running_server(app) as url:
        for operation in operations:
            for mode in (
                schemathesis.GenerationMode.POSITIVE,
                schemathesis.GenerationMode.NEGATIVE,
            ):

                @hypothesis_settings(
                    max_examples=15,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def call(case: Any) -> None:
                    nonlocal calls
                    calls += 1
                    response = case.call(base_url=url, timeout=30)
                    if response.status_code >= 500:
                        failures.append(
                            f"{case.method} {case.formatted_path} -> {response.status_code}: "
                            f"{response.text[:200]}"
                        )

                try:
                    call()
                except Unsatisfiable:
                    # No invalid request exists for an operation without inputs (GET /health).
                    assert mode == schemathesis.GenerationMode.NEGATIVE
    assert calls > 100
    assert not failures, "\n".join(failures[:20])
