"""The response cache and the prediction log against real Redis: up, down, and back."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import redis

from modelops.serving_runtime.app import create_app
from modelops.serving_runtime.predlog import read_window
from modelops.serving_runtime.settings import RuntimeSettings

from .runtime_helpers import log_sklearn_model, serve_in_process

COLS = ["a", "b", "c"]
RNG = np.random.default_rng(11)


@pytest.fixture(scope="module")
def model_uri(mlflow_url: str) -> str:
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame(RNG.normal(size=(200, 3)), columns=COLS)
    estimator = LogisticRegression().fit(frame, frame.a > 0)
    return log_sklearn_model(estimator, frame.iloc[:5], "rt-redis", mlflow_url)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_for(model_uri: str, mlflow_url: str, **kw: Any) -> Any:
    return create_app(RuntimeSettings(model_uri=model_uri, mlflow_tracking_uri=mlflow_url, **kw))


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rows(n: int) -> list[list[float]]:
    return np.round(RNG.normal(size=(n, 3)), 6).tolist()


async def test_a_repeated_request_is_served_from_the_cache(
    model_uri: str, mlflow_url: str, redis_url: str
) -> None:
    app = app_for(model_uri, mlflow_url, cache_enabled=True, redis_url=redis_url)
    features = rows(4)
    records = [dict(zip(COLS, r, strict=True)) for r in features]
    client_redis = redis.Redis.from_url(redis_url)
    async with serve_in_process(app) as client:
        first = (await client.post("/predict", json={"features": features})).json()
        # The write is fire-and-forget, after the response: wait for it.
        await _until(lambda: bool(client_redis.keys("modelops:cache:default:rt-redis:1:*")))
        again = (await client.post("/predict", json={"features": features})).json()
        # The same rows in another protocol and shape hash alike: a hit too.
        mlflow_shape = await client.post("/invocations", json={"dataframe_records": records})
        other = (await client.post("/predict", json={"features": rows(4)})).json()
        text = (await client.get("/metrics")).text
    assert first["predictions"] == again["predictions"] == mlflow_shape.json()["predictions"]
    assert other["model_version"] == "1"
    assert metric(text, "modelops_runtime_cache_hits_total") == 2
    assert metric(text, "modelops_runtime_cache_misses_total") == 2
    await _until(lambda: len(client_redis.keys("modelops:cache:default:rt-redis:1:*")) == 2)
    keys = client_redis.keys("modelops:cache:default:rt-redis:1:*")
    assert len(keys) == 2
    assert 0 < client_redis.ttl(keys[0]) <= 300
    client_redis.close()


async def test_predictions_are_logged_to_a_capped_stream(
    model_uri: str, mlflow_url: str, redis_url: str
) -> None:
    stream = f"modelops:predictions:test:{uuid.uuid4().hex[:8]}"
    app = app_for(
        model_uri,
        mlflow_url,
        prediction_log_enabled=True,
        prediction_log_redis_url=redis_url,
        prediction_log_stream=stream,
        prediction_log_max_len=100,
    )
    client_redis = redis.Redis.from_url(redis_url)
    since = time.time()
    sent: list[list[float]] = []
    predicted: list[Any] = []
    async with serve_in_process(app) as client:
        for _ in range(3):
            batch = rows(2)
            sent += batch
            predicted += (await client.post("/predict", json={"features": batch})).json()[
                "predictions"
            ]
        await _until(lambda: client_redis.xlen(stream) == 6)
        entries = client_redis.xrange(stream)
        window = read_window(client_redis, stream, since)
        later = read_window(client_redis, stream, time.time() + 1)
        # Flood it: the stream stays near its cap (MAXLEN ~ trims whole nodes of 100).
        await asyncio.gather(
            *(client.post("/predict", json={"features": rows(20)}) for _ in range(30))
        )
        deadline = time.monotonic() + 10
        written = 0.0
        while written < 606 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            text = (await client.get("/metrics")).text
            written = metric(text, "modelops_runtime_prediction_log_written_rows_total")
        capped = client_redis.xlen(stream)
    _, fields = entries[0]
    assert list(fields) == [b"data"]
    doc = orjson.loads(fields[b"data"])
    assert set(doc) == {"ts", "id", "model_version", "features", "prediction"}
    assert doc["model_version"] == "1" and since <= doc["ts"] <= time.time()
    assert doc["features"] == dict(zip(COLS, sent[0], strict=True))
    assert list(window.columns) == [
        *COLS,
        "prediction",
        "__prediction_id",
        "__model_version",
        "__logged_at",
    ]
    assert window[COLS].to_numpy().tolist() == sent
    assert window["prediction"].tolist() == predicted
    assert later.empty and "prediction" in later.columns
    assert written == 606
    assert capped <= 300
    client_redis.close()


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def test_serving_goes_on_when_redis_is_down(model_uri: str, mlflow_url: str) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = app_for(
        model_uri,
        mlflow_url,
        cache_enabled=True,
        redis_url=dead,
        prediction_log_enabled=True,
    )
    async with serve_in_process(app) as client:
        started = time.monotonic()
        answers = [await client.post("/predict", json={"features": rows(2)}) for _ in range(40)]
        elapsed = time.monotonic() - started
        ready = await client.get("/ready")
        await asyncio.sleep(0.2)
        text = (await client.get("/metrics")).text
    assert all(a.status_code == 200 for a in answers)
    assert ready.status_code == 200
    # The breaker opens after a few failures: 40 requests take nowhere near 40 timeouts.
    assert elapsed < 3.0, elapsed
    assert metric(text, "modelops_runtime_redis_errors_total", component="cache") >= 3
    assert metric(text, "modelops_runtime_redis_errors_total", component="prediction_log") >= 1
    assert metric(text, "modelops_runtime_prediction_log_dropped_rows_total") > 0
    assert metric(text, "modelops_runtime_cache_hits_total") == 0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A redis-server this test may stop and start again on the same port."""
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        str(tmp_path),
    ]
    state: dict[str, Any] = {"url": f"redis://127.0.0.1:{port}/0", "argv": argv, "proc": None}

    def start() -> None:
        state["proc"] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=port).ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop() -> None:
        proc = state["proc"]
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)

    state["start"], state["stop"] = start, stop
    start()
    yield state
    stop()


async def test_the_cache_and_the_log_recover_when_redis_comes_back(
    model_uri: str, mlflow_url: str, own_redis: dict[str, Any]
) -> None:
    app = app_for(
        model_uri,
        mlflow_url,
        cache_enabled=True,
        redis_url=own_redis["url"],
        prediction_log_enabled=True,
    )
    features = rows(3)
    written_metric = "modelops_runtime_prediction_log_written_rows_total"
    async with serve_in_process(app) as client:
        await client.post("/predict", json={"features": features})
        before, deadline = 0.0, time.monotonic() + 10
        while before < 1:  # the first row written (in the background)
            assert time.monotonic() < deadline, "the first row was never written"
            await asyncio.sleep(0.05)
            before = metric((await client.get("/metrics")).text, written_metric)
        own_redis["stop"]()
        down = [await client.post("/predict", json={"features": features}) for _ in range(10)]
        own_redis["start"]()  # empty: the earlier entry is gone
        deadline = time.monotonic() + 15
        hits = written = 0.0
        while time.monotonic() < deadline and (hits < 1 or written <= before):
            await client.post("/predict", json={"features": features})
            text = (await client.get("/metrics")).text
            hits = metric(text, "modelops_runtime_cache_hits_total")
            written = metric(text, written_metric)
            await asyncio.sleep(0.2)
    assert all(d.status_code == 200 for d in down)
    assert hits >= 1  # the breaker closed again and the cache filled and hit
    # The log's breaker closed again too (its probe once stayed taken for good: nothing was
    # logged after an outage long enough to open it).
    assert written > before


def tenant_acl(namespace: str, password: str) -> list[str]:
    """The per-namespace Redis user of docs/security.md: its own cache keys and prediction
    stream, and the commands the runtime and the drift job send, nothing else."""
    return [
        "ACL", "SETUSER", namespace, "on", f">{password}", "resetkeys",
        f"~modelops:cache:{namespace}:*", f"~modelops:predictions:{namespace}:*",
        "resetchannels", "-@all",
        "+get", "+set", "+xadd", "+xtrim", "+xrange", "+xrevrange", "+xlen",
        "+zadd", "+zremrangebyrank", "+zremrangebyscore", "+zmscore", "+multi", "+exec",
        "+ping", "+hello",
    ]  # fmt: skip


async def test_a_namespaces_redis_user_serves_its_own_keys_and_reads_no_other(
    model_uri: str, mlflow_url: str, redis_url: str
) -> None:
    """H-6 with a shared Redis: the ACL users of docs/security.md. A runtime of namespace
    `team-a` caches and logs with its own user; that user can neither read `team-b`'s cached
    answers nor write into its stream."""
    admin = redis.Redis.from_url(redis_url)
    password = uuid.uuid4().hex
    for team in ("team-a", "team-b"):
        admin.execute_command(*tenant_acl(team, password))
    host_port = redis_url.removeprefix("redis://").split("/")[0]
    team_a_url = f"redis://team-a:{password}@{host_port}/0"
    admin.set("modelops:cache:team-b:rt-redis:1:x:n:abc", b'{"v": "secret"}')
    app = app_for(
        model_uri,
        mlflow_url,
        tenant="team-a",
        cache_enabled=True,
        redis_url=team_a_url,
        prediction_log_enabled=True,
        prediction_log_sample_rate=1.0,
    )
    features = rows(3)
    try:
        async with serve_in_process(app) as client:
            first = await client.post("/predict", json={"features": features})
            assert first.status_code == 200
            await _until(lambda: bool(admin.keys("modelops:cache:team-a:*")))
            await _until(lambda: admin.xlen("modelops:predictions:team-a:rt-redis") >= 1)
            again = await client.post("/predict", json={"features": features})
            text = (await client.get("/metrics")).text
        assert again.json()["predictions"] == first.json()["predictions"]
        assert metric(text, "modelops_runtime_cache_hits_total") >= 1
        assert metric(text, "modelops_runtime_redis_errors_total") == 0
        team_a = redis.Redis.from_url(team_a_url)
        with pytest.raises(redis.exceptions.NoPermissionError):
            team_a.get("modelops:cache:team-b:rt-redis:1:x:n:abc")
        with pytest.raises(redis.exceptions.NoPermissionError):
            team_a.xadd("modelops:predictions:team-b:rt-redis", {"data": b"{}"})
        with pytest.raises(redis.exceptions.NoPermissionError):
            team_a.keys("*")
    finally:
        for team in ("team-a", "team-b"):
            admin.execute_command("ACL", "DELUSER", team)


async def test_the_log_keeps_what_the_policy_allows_for_as_long_as_it_allows(
    model_uri: str, mlflow_url: str, redis_url: str
) -> None:
    """Privacy: an excluded column is never written, a hashed one is written as a digest, and
    entries past the age limit are trimmed (not only beyond the count cap)."""
    admin = redis.Redis.from_url(redis_url)
    stream = f"modelops:predictions:privacy:{uuid.uuid4().hex[:6]}"
    week_ago = int((time.time() - 8 * 86400) * 1000)
    admin.xadd(stream, {"data": b'{"ts": 0, "features": {"a": 1}}'}, id=f"{week_ago}-0")
    app = app_for(
        model_uri,
        mlflow_url,
        prediction_log_enabled=True,
        prediction_log_redis_url=redis_url,
        prediction_log_stream=stream,
        prediction_log_exclude_columns=["b"],
        prediction_log_hash_columns=["c"],
        prediction_log_hash_key="k",
        prediction_log_max_age_seconds=7 * 86400,
    )
    row = [0.25, 0.5, 0.75]
    async with serve_in_process(app) as client:
        assert (await client.post("/predict", json={"features": [row]})).status_code == 200
        await _until(lambda: any(i != f"{week_ago}-0".encode() for i, _ in admin.xrange(stream)))
        await _until(lambda: admin.xlen(stream) == 1)  # the week-old entry trimmed
    ((_, fields),) = admin.xrange(stream)
    features = orjson.loads(fields[b"data"])["features"]
    assert set(features) == {"a", "c"} and features["a"] == 0.25
    assert features["c"] != 0.75 and isinstance(features["c"], str)


async def test_every_answer_has_an_id_that_labels_join_to_days_later(
    model_uri: str, mlflow_url: str, redis_url: str
) -> None:
    """Ids in the body and the header (the client's own when it sends one), logged with each
    row; labels for them kept, a label for an id nobody logged counted and listed, a
    corrected label kept beside the first (the reader takes the newest)."""
    from modelops.serving_runtime.predlog import PREDICTION_ID, read_labels

    stream = f"modelops:predictions:test:{uuid.uuid4().hex[:8]}"
    app = app_for(
        model_uri,
        mlflow_url,
        prediction_log_enabled=True,
        prediction_log_redis_url=redis_url,
        prediction_log_stream=stream,
    )
    client_redis = redis.Redis.from_url(redis_url)
    since = time.time()
    async with serve_in_process(app) as client:
        one = await client.post("/predict", json={"features": rows(1)})
        own = await client.post(
            "/invocations",
            json={"dataframe_split": {"columns": COLS, "data": rows(3)}},
            headers={"X-Request-Id": "order-17"},
        )
        v2 = await client.post(
            "/v2/models/rt-redis/infer",
            json={
                "id": "v2-call-1",
                "inputs": [
                    {"name": c, "shape": [1], "datatype": "FP64", "data": [0.5]} for c in COLS
                ],
            },
        )
        replaced = await client.post(
            "/predict", json={"features": rows(1)}, headers={"X-Request-Id": "a b"}
        )
        await _until(lambda: client_redis.xlen(stream) == 6)
        generated = one.json()["prediction_id"]
        first = await client.post("/feedback", json={"id": generated, "label": True})
        batch = await client.post(
            "/feedback",
            json=[
                {"id": "order-17:0", "label": False},
                {"id": "order-17:2", "label": True},
                {"id": "order-17:2", "label": False},  # a correction
                {"id": "v2-call-1", "label": 1},
                {"id": "never-logged", "label": 0},
            ],
        )
        malformed = await client.post("/feedback", json=[{"id": "order-17:1", "label": {"x": 1}}])
        text = (await client.get("/metrics")).text
    window = read_window(client_redis, stream, since)
    labels = read_labels(client_redis, stream, since)
    client_redis.close()

    assert one.headers["x-prediction-id"] == generated and len(generated) == 32
    assert own.headers["x-prediction-id"] == "order-17"
    assert set(own.json()) == {"predictions"}  # MLflow's body, unchanged
    assert v2.json()["id"] == "v2-call-1" and v2.headers["x-prediction-id"] == "v2-call-1"
    # Not an id (a space): scored anyway, under an id of the runtime's own.
    substitute = replaced.headers["x-prediction-id"]
    assert replaced.status_code == 200 and substitute != "a b" and len(substitute) == 32
    assert sorted(window[PREDICTION_ID]) == sorted(
        [generated, substitute, "order-17:0", "order-17:1", "order-17:2", "v2-call-1"]
    )
    assert first.json() == {"received": 1, "kept": 1, "unknown": 0, "unknown_ids": []}
    assert batch.json() == {
        "received": 5,
        "kept": 4,
        "unknown": 1,
        "unknown_ids": ["never-logged"],
    }
    assert malformed.status_code == 400 and "item 0" in malformed.json()["error"]["message"]
    assert labels["id"].tolist() == [
        generated,
        "order-17:0",
        "order-17:2",
        "order-17:2",
        "v2-call-1",
    ]
    assert labels["label"].tolist() == [True, False, True, False, 1]
    assert labels["ts"].is_monotonic_increasing
    assert metric(text, "modelops_runtime_feedback_labels_total", outcome="kept") == 5
    assert metric(text, "modelops_runtime_feedback_labels_total", outcome="unknown") == 1


async def test_feedback_says_why_it_cannot_keep_labels(
    model_uri: str, mlflow_url: str, own_redis: dict[str, Any]
) -> None:
    """No prediction log: 404 naming it. Redis down: 503, nothing kept, serving goes on; and
    labels are taken again once it is back."""
    async with serve_in_process(app_for(model_uri, mlflow_url)) as client:
        disabled = await client.post("/feedback", json={"id": "a", "label": 1})
    app = app_for(
        model_uri,
        mlflow_url,
        prediction_log_enabled=True,
        prediction_log_redis_url=own_redis["url"],
    )
    async with serve_in_process(app) as client:
        answer = await client.post("/predict", json={"features": rows(1)})
        pid = answer.json()["prediction_id"]
        await _until(
            lambda: (
                redis.Redis.from_url(own_redis["url"]).zscore(
                    "modelops:predictions:default:rt-redis:ids", pid
                )
                is not None
            )
        )
        own_redis["stop"]()
        down = await client.post("/feedback", json={"id": pid, "label": 1})
        served = await client.post("/predict", json={"features": rows(1)})
        own_redis["start"]()  # empty: the index is gone with the data
        deadline = time.monotonic() + 40
        again = down
        while again.status_code != 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            again = await client.post("/feedback", json={"id": pid, "label": 1})
    assert disabled.status_code == 404
    assert disabled.json()["error"]["code"] == "feedback_disabled"
    assert down.status_code == 503 and down.json()["error"]["code"] == "feedback_unavailable"
    assert served.status_code == 200
    assert again.status_code == 200 and again.json()["unknown_ids"] == [pid]


async def test_a_label_sent_the_moment_its_answer_arrives_is_kept(
    model_uri: str, mlflow_url: str, redis_url: str
) -> None:
    """The log is written after the answer: a label racing it waits for it, not 'unknown'."""
    stream = f"modelops:predictions:test:{uuid.uuid4().hex[:8]}"
    app = app_for(
        model_uri,
        mlflow_url,
        prediction_log_enabled=True,
        prediction_log_redis_url=redis_url,
        prediction_log_stream=stream,
    )
    outcomes = []
    async with serve_in_process(app) as client:
        for _ in range(30):
            answer = await client.post("/predict", json={"features": rows(2)})
            pid = answer.json()["prediction_id"]
            sent = [{"id": f"{pid}:0", "label": 1}, {"id": f"{pid}:1", "label": 0}]
            outcomes.append((await client.post("/feedback", json=sent)).json())
    assert all(o["kept"] == 2 for o in outcomes), [o for o in outcomes if o["kept"] != 2]
