"""Online features in the serving runtime, with real Feast, a real Redis online store and a
model in a real MLflow: the example repo (examples/feature_repo) is materialized by the
materialize job, then /predict requests carrying `entities` must score exactly what the model
gives on the values Feast's own get_online_features returns."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import statistics
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
import pytest_asyncio
import redis

from modelops.serving_runtime.app import create_app
from modelops.serving_runtime.jobs import materialize
from modelops.serving_runtime.loader import import_mlflow
from modelops.serving_runtime.settings import RuntimeSettings

from .runtime_helpers import log_sklearn_model, serve_in_process

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "feature_repo"
VIEW = "customer_stats"
FEATURES = ["avg_amount_30d", "txn_count_7d", "account_age_days"]
REFS = ",".join(f"{VIEW}:{f}" for f in FEATURES)
ENTITIES, ROWS = 50, 500
DB = 7  # a Redis db of its own: other modules share the session's Redis


def _load_make_data() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_make_data", EXAMPLE / "make_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feast_connection_string(url: str, db: int) -> str:
    """redis://HOST:PORT/N -> Feast's HOST:PORT,db=N."""
    parts = redis.connection.parse_url(url)
    return f"{parts.get('host', '127.0.0.1')}:{parts.get('port', 6379)},db={db}"


def configmap_repo(target: Path) -> Path:
    """The example repo as the kubelet mounts its ConfigMap, read-only (the mode; the test may
    run as root, so the runtime's copy is what keeps the mount untouched)."""
    files = target / "..2025_01_31_00_00_00.000000000"
    files.mkdir(parents=True)
    for item in EXAMPLE.iterdir():
        if item.is_file():
            shutil.copyfile(item, files / item.name)
            (target / item.name).symlink_to(Path("..data") / item.name)
    (target / "..data").symlink_to(files.name)
    for folder in (files, target):
        folder.chmod(0o555)
    return target


@pytest.fixture(scope="module")
def feature_env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Data generated, materialized into Redis db DB by the materialize job; the environment
    the runtime pod gets (REDIS_CONNECTION_STRING, FEAST_DATA_PATH); a job repo whose registry
    outlives the job (for Feast's own reads) and a read-only ConfigMap-like repo."""
    tmp = tmp_path_factory.mktemp("online-features")
    end = datetime.now(UTC) - timedelta(minutes=1)
    data = tmp / "customers.parquet"
    _load_make_data().make_data(data, ROWS, end, entities=ENTITIES, span=timedelta(days=2))
    parts = redis.connection.parse_url(redis_url)
    client = redis.Redis(host=parts.get("host", "127.0.0.1"), port=parts.get("port", 6379), db=DB)
    client.flushdb()
    saved = {k: os.environ.get(k) for k in ("REDIS_CONNECTION_STRING", "FEAST_DATA_PATH")}
    os.environ["REDIS_CONNECTION_STRING"] = feast_connection_string(redis_url, DB)
    os.environ["FEAST_DATA_PATH"] = str(data)
    job_repo = tmp / "job-repo"
    job_repo.mkdir()
    for item in EXAMPLE.iterdir():
        if item.is_file():
            shutil.copyfile(item, job_repo / item.name)
    config = job_repo / "feature_store.yaml"
    config.write_text(
        config.read_text().replace("registry: data/registry.db", f"registry: {tmp / 'reg.db'}")
    )
    try:
        assert materialize.main(["--repo", str(job_repo)]) == 0
        assert client.dbsize() == ENTITIES
        mounted = configmap_repo(tmp / "mounted")
        yield {
            "job_repo": job_repo,
            "mounted": mounted,
            "listing": {str(p.relative_to(mounted)) for p in mounted.rglob("*")},
            "redis": client,
        }
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        client.flushdb()
        client.close()
        for folder in (tmp / "mounted", tmp / "mounted" / "..2025_01_31_00_00_00.000000000"):
            if folder.exists():
                folder.chmod(0o755)


def feast_values(repo: Path, customers: list[int]) -> dict[str, list[Any]]:
    """What Feast's own get_online_features returns."""
    import feast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = feast.FeatureStore(repo_path=str(repo))
        values = store.get_online_features(
            features=REFS.split(","), entity_rows=[{"customer_id": c} for c in customers]
        ).to_dict()
    return {name: values[name] for name in FEATURES}


def feature_frame(values: dict[str, list[Any]], columns: list[str], **extra: Any) -> pd.DataFrame:
    """Feast's values as the model's training frame typed them (Float32 values are exact in
    float32)."""
    frame = pd.DataFrame({**values, **extra})[columns]
    return frame.astype({"avg_amount_30d": "float32"})


def _train(columns: list[str], seed: int) -> tuple[Any, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    n = 300
    frame = pd.DataFrame(
        {
            "avg_amount_30d": rng.gamma(2.0, 40.0, n).astype("float32"),
            "txn_count_7d": rng.poisson(12, n).astype("int64"),
            "account_age_days": rng.integers(1, 400, n).astype("int64"),
            "amount": rng.gamma(2.0, 60.0, n),
        }
    )[columns]
    score = frame["avg_amount_30d"] / 80 + frame["txn_count_7d"] / 12
    if "amount" in columns:
        score = score + frame["amount"] / 120
    y = (score > score.median()).astype(int)
    return LogisticRegression(max_iter=1000).fit(frame, y), frame


@pytest.fixture(scope="module")
def models(mlflow_url: str) -> dict[str, str]:
    """`features`: takes only feature columns; `mixed`: three features and a raw `amount`,
    in a signature order that interleaves them."""
    out = {}
    for name, columns in {
        "features": ["txn_count_7d", "avg_amount_30d", "account_age_days"],
        "mixed": ["avg_amount_30d", "amount", "txn_count_7d", "account_age_days"],
    }.items():
        estimator, frame = _train(columns, seed=len(out))
        out[name] = log_sklearn_model(estimator, frame.iloc[:5], f"rt-feat-{name}", mlflow_url)
    return out


def pyfunc_scores(uri: str, frame: pd.DataFrame) -> tuple[list[Any], list[list[float]]]:
    mlflow = import_mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mlflow.pyfunc.load_model(uri)
        predictions = np.asarray(model.predict(frame)).tolist()
        # As the runtime calls the estimator: one C-ordered float64 array (a DataFrame's
        # F-ordered copy sums in another order, a last-bit difference).
        x = np.ascontiguousarray(frame.to_numpy(dtype=np.float64))
        proba = model.get_raw_model().predict_proba(x).tolist()
    return predictions, proba


def runtime_settings(mlflow_url: str, uri: str, repo: Path | None, **kw: Any) -> RuntimeSettings:
    features = (
        {"feature_repo": str(repo), "feature_entity_key": "customer_id", "feature_refs": REFS}
        if repo is not None
        else {}
    )
    return RuntimeSettings(model_uri=uri, mlflow_tracking_uri=mlflow_url, **features, **kw)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def clients(
    feature_env: dict[str, Any], models: dict[str, str], mlflow_url: str
) -> AsyncIterator[dict[str, Any]]:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        out = {}
        for name, uri in models.items():
            app = create_app(runtime_settings(mlflow_url, uri, feature_env["mounted"]))
            out[name] = await stack.enter_async_context(serve_in_process(app))
        plain = create_app(runtime_settings(mlflow_url, models["mixed"], None))
        out["plain"] = await stack.enter_async_context(serve_in_process(plain))
        yield out


async def test_ready_includes_the_feature_store(
    clients: dict[str, Any], feature_env: dict[str, Any]
) -> None:
    ready = (await clients["features"].get("/ready")).json()
    assert ready["ready"] is True and ready["state"] == "ready"
    store = ready["feature_store"]
    assert store["ready"] is True and store["state"] == "ready"
    assert store["repo"] == str(feature_env["mounted"])
    assert store["features"] == REFS.split(",") and store["entity_key"] == "customer_id"
    assert "feature_store" not in (await clients["plain"].get("/ready")).json()
    # The read-only mount is untouched: the registry went to the runtime's own copy.
    mounted = feature_env["mounted"]
    assert {str(p.relative_to(mounted)) for p in mounted.rglob("*")} == feature_env["listing"]


async def test_entities_alone_score_like_the_model_on_feasts_values(
    clients: dict[str, Any], feature_env: dict[str, Any], models: dict[str, str]
) -> None:
    customers = [3, 1, 17, 3, ENTITIES]
    response = await clients["features"].post(
        "/predict", json={"entities": customers, "return_probabilities": True}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    values = feast_values(feature_env["job_repo"], customers)
    frame = feature_frame(values, ["txn_count_7d", "avg_amount_30d", "account_age_days"])
    assert frame.notna().all().all()
    predictions, proba = pyfunc_scores(models["features"], frame)
    assert body["predictions"] == predictions
    assert body["probabilities"] == proba
    batch = await clients["features"].post("/predict/batch", json={"entities": customers})
    assert batch.json()["predictions"] == predictions


async def test_entities_with_raw_features_as_records_and_as_lists(
    clients: dict[str, Any], feature_env: dict[str, Any], models: dict[str, str]
) -> None:
    customers = [5, 9, 12]
    amounts = [12.5, 310.0, 87.25]
    values = feast_values(feature_env["job_repo"], customers)
    frame = feature_frame(
        values, ["avg_amount_30d", "amount", "txn_count_7d", "account_age_days"], amount=amounts
    )
    predictions, proba = pyfunc_scores(models["mixed"], frame)
    records = [{"amount": a, "customer_id": c} for a, c in zip(amounts, customers, strict=True)]
    for features in (records, [[a] for a in amounts], amounts):
        response = await clients["mixed"].post(
            "/predict",
            json={"entities": customers, "features": features, "return_probabilities": True},
        )
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == predictions, features
        assert response.json()["probabilities"] == proba
    # Features alone still work, and give the same scores for the same values.
    full = frame.to_dict(orient="records")
    plain = await clients["mixed"].post("/predict", json={"features": full})
    assert plain.json()["predictions"] == predictions


async def test_unknown_entities_and_missing_columns_are_named(clients: dict[str, Any]) -> None:
    response = await clients["features"].post("/predict", json={"entities": [2, 99999, 424242]})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "features_not_found"
    assert "no online features for customer_id 99999, 424242" in error["message"]
    assert error["details"]["unknown_entities"] == [99999, 424242]

    missing = await clients["mixed"].post("/predict", json={"entities": [2]})
    assert missing.status_code == 400
    assert (
        "model column 'amount' come neither from the feature store"
        in (missing.json()["error"]["message"])
    )
    rows = await clients["mixed"].post(
        "/predict", json={"entities": [2, 3], "features": [{"amount": 1.0}]}
    )
    assert rows.status_code == 400
    assert '"features" has 1 rows but "entities" has 2' in rows.json()["error"]["message"]
    typed = await clients["mixed"].post("/predict", json={"entities": ["2"], "features": [[1.0]]})
    assert typed.status_code == 400 and "integers" in typed.json()["error"]["message"]

    metrics = (await clients["features"].get("/metrics")).text
    assert 'modelops_runtime_feature_lookup_errors_total{model="rt-feat-features"' in metrics
    assert "modelops_runtime_feature_lookup_duration_seconds_count" in metrics


async def test_entities_without_feature_repo_are_a_400(clients: dict[str, Any]) -> None:
    response = await clients["plain"].post(
        "/predict", json={"entities": [1], "features": [{"amount": 1.0}]}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "FEATURE_REPO is not set" in error["message"]
    assert "modelops_runtime_feature_lookup" not in (await clients["plain"].get("/metrics")).text


async def test_an_unreachable_online_store_is_a_503_and_plain_requests_still_work(
    feature_env: dict[str, Any], models: dict[str, str], mlflow_url: str
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    saved = os.environ["REDIS_CONNECTION_STRING"]
    os.environ["REDIS_CONNECTION_STRING"] = f"127.0.0.1:{port},db={DB}"
    try:
        app = create_app(runtime_settings(mlflow_url, models["mixed"], feature_env["mounted"]))
        async with serve_in_process(app) as client:
            # Ready: the store is initialised, Redis is only needed by lookups.
            response = await client.post("/predict", json={"entities": [1], "features": [[1.0]]})
            assert response.status_code == 503
            error = response.json()["error"]
            assert error["code"] == "feature_store_unavailable"
            assert (
                f"the feature store's online store (redis at 127.0.0.1:{port})"
                in (error["message"])
            )
            row = {"avg_amount_30d": 1.0, "amount": 2.0, "txn_count_7d": 3, "account_age_days": 4}
            plain = await client.post("/predict", json={"features": [row]})
            assert plain.status_code == 200
    finally:
        os.environ["REDIS_CONNECTION_STRING"] = saved


async def test_latency_added_by_an_online_feature_lookup(
    clients: dict[str, Any], feature_env: dict[str, Any]
) -> None:
    """p50 of 200 sequential in-process requests, one row, with and without `entities`
    (printed; run with -s to see it)."""
    client = clients["features"]
    values = feast_values(feature_env["job_repo"], [7])
    row = {name: values[name][0] for name in FEATURES}
    with_entities = {"entities": [7]}
    without = {"features": [row]}
    for body in (with_entities, without):  # warm up
        for _ in range(20):
            assert (await client.post("/predict", json=body)).status_code == 200
    timings: dict[str, list[float]] = {"entities": [], "features": []}
    for _ in range(200):
        for name, body in (("entities", with_entities), ("features", without)):
            started = time.perf_counter()
            response = await client.post("/predict", json=body)
            timings[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    p50 = {name: statistics.median(t) for name, t in timings.items()}
    p99 = {name: float(np.percentile(t, 99)) for name, t in timings.items()}
    print(
        f"\nonline features, 1 entity, 200 sequential in-process requests: "
        f"p50 with entities {p50['entities']:.2f} ms, without {p50['features']:.2f} ms, "
        f"added {p50['entities'] - p50['features']:.2f} ms; "
        f"p99 {p99['entities']:.2f} / {p99['features']:.2f} ms"
    )
    assert p50["entities"] < p50["features"] + 50
    metrics = (await client.get("/metrics")).text
    count = next(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("modelops_runtime_feature_lookup_duration_seconds_count")
    )
    assert count >= 220  # every request with entities read the store
