"""DriftMonitor: the drift job with real Evidently and MLflow, and the operator on the real
control plane turning a finished run into status."""

from __future__ import annotations

import http.server
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import redis
from kubernetes import client

from modelops.serving_runtime.jobs.common import EXIT_BAD_INPUT

from .conftest import OperatorProcess, devenv
from .helpers import (
    admission_error,
    create_quota,
    cron_controller_ref,
    pod_report,
    read_or_none,
    register_model,
    s3_client,
    wait_for,
)

GROUP, VERSION = "modelops.dev", "v1alpha1"
COLUMNS = ["a", "b", "c", "d"]
BUSYBOX = "localhost/modelops/busybox:1"  # made and imported by the real node
pytestmark = pytest.mark.timeout(240)


def run_drift(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "modelops-runtime"), "drift", *args],
        capture_output=True,
        text=True,
        env=env,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(42)
    d = tmp_path_factory.mktemp("drift-data")
    reference = pd.DataFrame(rng.normal(size=(2000, 4)), columns=COLUMNS)
    same = pd.DataFrame(rng.normal(size=(2000, 4)), columns=COLUMNS)
    shifted = same.copy()
    shifted["b"] += 1.5  # a shifted mean
    shifted["d"] *= 4  # a wider spread
    paths = {
        "reference": d / "reference.parquet",
        "same": d / "same.csv",
        "shifted": d / "shifted.parquet",
    }
    reference.to_parquet(paths["reference"])
    same.to_csv(paths["same"], index=False)
    shifted.to_parquet(paths["shifted"])
    return paths


def test_known_drift_is_found_in_exactly_the_shifted_columns(
    datasets: dict[str, Path], tmp_path: Path
) -> None:
    code, result = run_drift(
        "--reference",
        str(datasets["reference"]),
        "--current",
        str(datasets["shifted"]),
        "--report-dir",
        str(tmp_path),
    )
    assert code == 0 and result["error"] is None
    assert result["driftedColumns"] == ["b", "d"]
    assert result["driftShare"] == 0.5 and result["datasetDrift"] is True
    assert (result["rowsReference"], result["rowsCurrent"]) == (2000, 2000)
    assert Path(result["reportUri"]).exists()
    assert Path(result["reportUri"]).with_suffix(".json").exists()


def test_no_drift_is_not_detected(datasets: dict[str, Path]) -> None:
    code, result = run_drift(
        "--reference", str(datasets["reference"]), "--current", str(datasets["same"])
    )
    assert code == 0
    assert result["datasetDrift"] is False and result["driftedColumns"] == []


@pytest.mark.parametrize(
    ("columns", "methods"),
    [(None, {}), (["b", "c"], {}), (COLUMNS, {"a": "psi", "b": "wasserstein", "d": "ks"})],
)
def test_agrees_with_evidently_run_directly(
    datasets: dict[str, Path], columns: list[str] | None, methods: dict[str, str]
) -> None:
    args = ["--reference", str(datasets["reference"]), "--current", str(datasets["shifted"])]
    if columns:
        args += ["--columns", ",".join(columns)]
    for column, method in methods.items():
        args += ["--method", f"{column}={method}"]
    code, result = run_drift(*args, "--threshold", "0.3")
    assert code == 0

    reference = pd.read_parquet(datasets["reference"])
    current = pd.read_parquet(datasets["shifted"])
    cols = columns or COLUMNS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Evidently's own deprecation noise, import included
        from evidently import Report
        from evidently.presets import DataDriftPreset

        snapshot = Report(
            [DataDriftPreset(columns=cols, drift_share=0.3, per_column_method=methods or None)],
            include_tests=True,
        ).run(current_data=current[cols], reference_data=reference[cols])
        doc = snapshot.dict()
    share = next(m for m in doc["metrics"] if "DriftedColumnsCount" in m["config"]["type"])
    failed = {t["metric_config"]["metric_id"] for t in doc["tests"] if t["status"].value == "FAIL"}
    drifted = sorted(
        m["config"]["column"]
        for m in doc["metrics"]
        if "ValueDrift" in m["config"]["type"] and m["id"] in failed
    )
    assert result["driftShare"] == round(share["value"]["share"], 6)
    assert result["driftedColumns"] == drifted
    assert result["datasetDrift"] == (share["value"]["share"] >= 0.3)
    direct_methods = {
        m["config"]["column"]: m["config"]["method"]
        for m in doc["metrics"]
        if "ValueDrift" in m["config"]["type"]
    }
    assert {c: s["method"] for c, s in result["columnScores"].items()} == direct_methods


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--current", "{same}", "--reference", "/nonexistent.parquet"], "does not exist"),
        (["--current", "{same}", "--reference", "{reference}", "--columns", "a,zz"], "zz"),
        (
            ["--current", "{same}", "--reference", "{reference}", "--min-rows", "5000"],
            "too few current rows",
        ),
        (["--current", "{bad}", "--reference", "{reference}"], "could not read"),
        (
            ["--current", "{same}", "--reference", "{reference}", "--threshold", "0"],
            "must be in (0, 1]",
        ),
        (["--window", "1h", "--reference", "{reference}"], "needs --redis-url and --stream"),
    ],
)
def test_bad_input_fails_with_a_clear_error_and_no_traceback(
    datasets: dict[str, Path], tmp_path: Path, args: list[str], error: str
) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_text("garbage")
    paths = {**{k: str(v) for k, v in datasets.items()}, "bad": str(bad)}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTION_LOG")}
    code, result = run_drift(*[a.format(**paths) for a in args], env=env)
    assert code == EXIT_BAD_INPUT
    assert error in result["error"]


def drift_on_logged_rows(
    mlflow_url: str, redis_url: str, name: str, version: str, rows: list[dict[str, float]]
) -> tuple[int, dict[str, Any]]:
    """`rows` logged as the served model's predictions over the last minute, then a drift run
    of that window against the training data the version logged."""
    stream = f"modelops:predictions:test:{name}"
    r = redis.Redis.from_url(redis_url)
    now = time.time()
    for i, row in enumerate(rows):
        doc = {"ts": now - 60 + i * 0.1, "model_version": version, "features": row, "prediction": 1}
        r.xadd(stream, {"data": orjson.dumps(doc)})
    return run_drift(
        "--reference-model",
        f"models:/{name}/{version}",
        "--window",
        "10m",
        "--tracking-uri",
        mlflow_url,
        "--redis-url",
        redis_url,
        "--stream",
        stream,
    )


def test_reference_found_through_log_input_and_current_from_the_prediction_log(
    mlflow_url: str, redis_url: str, tmp_path: Path
) -> None:
    name = f"m{uuid.uuid4().hex[:8]}"
    version = register_model(mlflow_url, name, training_data=tmp_path / "train.parquet")
    train = pd.read_parquet(tmp_path / "train.parquet")
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(300):
        row = {c: float(v) for c, v in zip(["a", "b", "c", "d"], rng.normal(size=4), strict=True)}
        row["a"] += 3.0  # what the model saw drifted in `a`
        rows.append(row)
    code, result = drift_on_logged_rows(mlflow_url, redis_url, name, version, rows)
    assert code == 0, result
    assert result["rowsReference"] == len(train) and result["rowsCurrent"] == 300
    assert "a" in result["driftedColumns"]


def test_a_feature_vanishing_from_the_current_data_fails_the_run(tmp_path: Path) -> None:
    """The reported defect: c9 dropped from the current data was "no drift" over 10 columns."""
    rng = np.random.default_rng(7)
    columns = [f"c{i}" for i in range(11)]
    reference = pd.DataFrame(rng.normal(size=(500, 11)), columns=columns)
    current = pd.DataFrame(rng.normal(size=(500, 11)), columns=columns)
    reference.to_parquet(tmp_path / "ref.parquet")
    current.drop(columns=["c9"]).to_parquet(tmp_path / "missing.parquet")
    current.assign(c4=current["c4"].astype(str)).to_parquet(tmp_path / "strings.parquet")
    current.assign(extra=1.0).to_parquet(tmp_path / "extra.parquet")
    ref = ["--reference", str(tmp_path / "ref.parquet")]

    code, result = run_drift(*ref, "--current", str(tmp_path / "missing.parquet"))
    assert code == EXIT_BAD_INPUT and "missing from the current data: c9" in result["error"]
    code, result = run_drift(*ref, "--current", str(tmp_path / "strings.parquet"))
    assert code == EXIT_BAD_INPUT and "c4 (numeric in the reference, text now)" in result["error"]
    code, result = run_drift(*ref, "--current", str(tmp_path / "extra.parquet"))
    assert code == 0, result
    assert result["ignoredColumns"] == ["extra"] and len(result["columnScores"]) == 11


def test_a_feature_vanishing_from_the_prediction_stream_fails_the_run(
    mlflow_url: str, redis_url: str, tmp_path: Path
) -> None:
    name = f"m{uuid.uuid4().hex[:8]}"
    version = register_model(mlflow_url, name, training_data=tmp_path / "train.parquet")
    rng = np.random.default_rng(2)
    # An upstream change stopped sending `c`: the model's input, not just a column.
    rows = [
        dict(zip(["a", "b", "d"], map(float, rng.normal(size=3)), strict=True)) for _ in range(300)
    ]
    code, result = drift_on_logged_rows(mlflow_url, redis_url, name, version, rows)
    assert code == EXIT_BAD_INPUT
    assert "missing from the current data: c" in result["error"], result
    assert "target" not in result["error"]  # the training label is not a served feature


def log_predictions(
    r: Any,
    stream: str,
    version: str,
    rows: list[dict[str, float]],
    predictions: list[Any],
    prefix: str = "p",
) -> list[str]:
    """`rows` logged over the last minute as the runtime logs them, one prediction id each."""
    now, ids = time.time(), []
    for i, (row, prediction) in enumerate(zip(rows, predictions, strict=True)):
        pid = f"{prefix}{i}"
        doc = {
            "ts": now - 60 + i * 0.1,
            "id": pid,
            "model_version": version,
            "features": row,
            "prediction": prediction,
        }
        r.xadd(stream, {"data": orjson.dumps(doc)})
        ids.append(pid)
    return ids


def send_labels(r: Any, stream: str, labels: list[tuple[str, Any]]) -> None:
    for pid, label in labels:
        doc = {"id": pid, "label": label, "ts": time.time()}
        r.xadd(f"{stream}:feedback", {"data": orjson.dumps(doc)})


def test_performance_joins_late_corrected_and_missing_labels_and_judges_the_window(
    mlflow_url: str, redis_url: str, tmp_path: Path
) -> None:
    """300 logged predictions, 250 labelled (50 never): 200 right at first, 25 more corrected
    to right by a later label, 25 wrong. Accuracy is 225/250 = 0.9: within 0.85, a breach of
    0.95; with minLabels 300 it is no verdict at all. A label for an id nobody logged is
    left out."""
    name = f"m{uuid.uuid4().hex[:8]}"
    version = register_model(mlflow_url, name, training_data=tmp_path / "train.parquet")
    stream = f"modelops:predictions:test:{name}"
    r = redis.Redis.from_url(redis_url)
    rng = np.random.default_rng(3)
    rows = [dict(zip(COLUMNS, map(float, rng.normal(size=4)), strict=True)) for _ in range(300)]
    predictions = [i % 2 for i in range(300)]
    ids = log_predictions(r, stream, version, rows, predictions)
    truth = [(pid, p) for pid, p in zip(ids[:200], predictions[:200], strict=True)]
    wrong_then_fixed = [
        (pid, 1 - p) for pid, p in zip(ids[200:225], predictions[200:225], strict=True)
    ]
    send_labels(r, stream, truth + wrong_then_fixed)
    send_labels(r, stream, [(pid, 1 - label) for pid, label in wrong_then_fixed])  # corrections
    send_labels(
        r, stream, [(pid, 1 - p) for pid, p in zip(ids[225:250], predictions[225:250], strict=True)]
    )
    send_labels(r, stream, [("nobody-logged-this", 1)])
    # A canary's candidate, answering wrong: not the quality of the version served.
    other = log_predictions(r, stream, "999", rows[:20], [1] * 20, prefix="candidate-")
    send_labels(r, stream, [(pid, 0) for pid in other])

    def check(rules: list[dict[str, Any]], min_labels: int) -> dict[str, Any]:
        code, result = run_drift(
            "--reference-model", f"models:/{name}/{version}", "--window", "10m",
            "--tracking-uri", mlflow_url, "--redis-url", redis_url, "--stream", stream,
            "--performance", json.dumps(rules), "--min-labels", str(min_labels),
        )  # fmt: skip
        assert code == 0, result
        return dict(result["performance"])

    within = check([{"name": "accuracy", "min": 0.85}], 50)
    breach = check([{"name": "accuracy", "min": 0.95}, {"name": "f1", "min": 0.5}], 50)
    few = check([{"name": "accuracy", "min": 0.85}], 300)
    assert (within["predictions"], within["labelled"], within["joinRate"]) == (300, 250, 0.833333)
    # The unlogged id's label and the candidate's 20: none of them for the version judged.
    assert within["orphanLabels"] == 21
    assert within["reason"] == "WithinThresholds" and within["modelVersion"] == version
    assert within["metrics"][0]["value"] == pytest.approx(0.9)
    assert within["metrics"][0]["passed"] is True
    assert breach["reason"] == "Breached" and "accuracy 0.9" in breach["message"]
    assert [m["passed"] for m in breach["metrics"]] == [False, True]
    assert few["reason"] == "TooFewLabels" and few["metrics"] == []


DM_INVALID = [
    ({}, "spec.modelDeploymentRef"),
    ({"modelDeploymentRef": {"name": "m"}, "schedule": "every hour"}, "cron expression"),
    ({"modelDeploymentRef": {"name": "m"}, "schedule": "* * * *"}, "cron expression"),
    ({"modelDeploymentRef": {"name": "m"}, "schedule": "99 * * * *"}, "minute (0-59)"),
    (
        {"modelDeploymentRef": {"name": "m"}, "threshold": {"driftShare": 0}},
        "spec.threshold.driftShare",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "threshold": {"driftShare": 1.5}},
        "spec.threshold.driftShare",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "current": {"window": "1 hour"}},
        "window must be a duration",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "current": {"window": "1h", "uri": "/x.csv"}},
        "not both",
    ),
    ({"modelDeploymentRef": {"name": "m"}, "methods": {"a": "magic"}}, "spec.methods.a"),
    ({"modelDeploymentRef": {"name": "m"}, "reference": {"uri": "ftp://x"}}, "spec.reference.uri"),
    (
        {"modelDeploymentRef": {"name": "m"}, "concurrencyPolicy": "Sometimes"},
        "spec.concurrencyPolicy",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "performance": {"metrics": [{"name": "accuracy"}]}},
        "needs min or max",
    ),
    (
        {
            "modelDeploymentRef": {"name": "m"},
            "performance": {"metrics": [{"name": "accuracy", "min": 0.9, "max": 0.5}]},
        },
        "min must not exceed max",
    ),
    (
        {
            "modelDeploymentRef": {"name": "m"},
            "performance": {
                "metrics": [{"name": "accuracy", "min": 0.9}, {"name": "rmse", "max": 1}]
            },
        },
        "all classification metrics",
    ),
    (
        {
            "modelDeploymentRef": {"name": "m"},
            "performance": {"metrics": [{"name": "mape", "max": 1}]},
        },
        "spec.performance.metrics[0].name",
    ),
    (
        {
            "modelDeploymentRef": {"name": "m"},
            "current": {"uri": "/x.csv"},
            "performance": {"metrics": [{"name": "accuracy", "min": 0.9}]},
        },
        "cannot be used with current.uri",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "onDrift": {"retrain": True}},
        "need spec.retrain",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "onPerformanceBreach": {"retrain": False}},
        "onPerformanceBreach needs spec.performance",
    ),
    (
        {
            "modelDeploymentRef": {"name": "m"},
            "retrain": {"env": [{"name": "MODELOPS_RETRAIN_ID", "value": "forged"}]},
        },
        "is set by the operator",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "retrain": {"cooldown": "soon"}},
        "cooldown must be a duration",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "retrain": {"alias": "champion@1"}},
        "spec.retrain.alias",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "report": {"uri": "/reports"}},
        "a path in the job's pod would go with the pod",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "report": {}},
        "set exactly one of uri and modelRun: true",
    ),
    (
        {"modelDeploymentRef": {"name": "m"}, "report": {"uri": "s3://b/r", "modelRun": True}},
        "set exactly one of uri and modelRun: true",
    ),
]


@pytest.mark.parametrize(("spec", "text"), DM_INVALID, ids=[t for _, t in DM_INVALID])
def test_invalid_drift_monitors_are_rejected_at_admission(
    api_client: Any, crds: None, spec: dict[str, Any], text: str
) -> None:
    message = admission_error(api_client, "DriftMonitor", "driftmonitors", spec)
    assert text in message, message


def s3_secret(api_client: Any, namespace: str, s3: dict[str, str], endpoint: str) -> None:
    """The S3 keys and endpoint as pods read them (MLFLOW_S3_ENDPOINT_URL, AWS_*)."""
    client.CoreV1Api(api_client).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="s3"),
            string_data={**devenv.s3_env(s3), "MLFLOW_S3_ENDPOINT_URL": endpoint},
        ),
    )


def drifting_deployment(
    api_client: Any,
    namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
    s3: dict[str, str],
    tmp_path: Path,
) -> tuple[str, str, str]:
    """A ModelDeployment (no pods: drift runs read its prediction log) of a model whose
    training data is in the object store, with 200 served rows logged, drifted in `c`; the
    S3 keys in Secret `s3`. Returns its name, the model version and the reference's URI."""
    custom = client.CustomObjectsApi(api_client)
    name = f"m{uuid.uuid4().hex[:8]}"
    version = register_model(mlflow_url, name, training_data=tmp_path / "train.parquet")
    # The reference in the object store, where a job pod reads it with the Secret's keys.
    key = f"drift/{name}/train.parquet"
    s3_client(s3).upload_file(str(tmp_path / "train.parquet"), s3["bucket"], key)
    s3_secret(api_client, namespace, s3, pod_services["s3"])
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "modeldeployments",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ModelDeployment",
            "metadata": {"name": name},
            "spec": {
                "model": {
                    "uri": f"models:/{name}@champion",
                    "trackingUri": pod_services["mlflow_ip"],
                    "credentialsSecretRef": {"name": "s3"},
                },
                # The runs read the prediction log; no pod has to serve for that.
                "replicas": 0,
                "runtime": {"image": real_node["runtime"]},
                "predictionLog": {"enabled": True, "redisUrl": pod_services["redis_ip"]},
            },
        },
    )
    # The monitors come once the deployment has resolved its model: a CronJob rendered before
    # that lacks the model's inputs (--model), and a run at the very next minute would use it.
    wait_for(
        lambda: (
            custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "modeldeployments", name
            ).get("status")
            or {}
        ).get("model"),
        60,
        "the deployment's resolved model",
    )
    # What the deployment served: the logged rows, drifted in `c`.
    stream = f"modelops:predictions:{namespace}:{name}"
    r = redis.Redis.from_url(pod_services["redis_ip"])
    train = pd.read_parquet(tmp_path / "train.parquet")
    served = train[["a", "b", "c", "d"]].sample(200, replace=True, random_state=3)
    for i, row in enumerate(served.to_dict(orient="records")):
        row["c"] = row["c"] * 5 + 4
        doc = {
            "ts": time.time() - 30 + i * 0.01,
            "model_version": version,
            "features": row,
            "prediction": 0,
        }
        r.xadd(stream, {"data": orjson.dumps(doc)})
    return name, version, f"s3://{s3['bucket']}/{key}"


def last_run(api_client: Any, namespace: str, monitor: str) -> dict[str, Any] | None:
    dm = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "driftmonitors", monitor
    )
    return (dm.get("status") or {}).get("lastRun")


@pytest.mark.timeout(480)
def test_scheduled_runs_reach_the_monitors_status(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    operator: OperatorProcess,
    mlflow_url: str,
    s3: dict[str, str],
    tmp_path: Path,
) -> None:
    """The CronJob's own scheduled runs, as containers of the runtime image on the real node:
    one finds drift in what the deployment served and its termination message becomes status,
    Events, an MLflow tag and a webhook call; one whose reference URI is unreachable fails,
    and its error reaches status."""
    namespace = real_namespace
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    name, version, reference = drifting_deployment(
        api_client, namespace, real_node, pod_services, mlflow_url, s3, tmp_path
    )
    hook = Webhook()
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="drift-hook"), string_data={"url": hook.url}
        ),
    )
    every_minute = {"modelDeploymentRef": {"name": name}, "schedule": "* * * * *"}
    for monitor, spec in (
        (
            "watch",
            {
                "reference": {"uri": reference},
                "current": {"window": "10m", "minRows": 50},
                "onDrift": {
                    "tagModelVersion": True,
                    "webhookSecretRef": {"name": "drift-hook", "key": "url"},
                },
            },
        ),
        ("broken", {"reference": {"uri": "http://nowhere.modelops-dev:9/ref.parquet"}}),
        # Bad input: a column the data lacks. Running it again cannot help.
        (
            "misnamed",
            {
                "reference": {"uri": reference},
                "current": {"window": "10m", "minRows": 50},
                "columns": ["a", "no_such_column"],
            },
        ),
    ):
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "driftmonitors",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "DriftMonitor",
                "metadata": {"name": monitor},
                "spec": {**every_minute, **spec},
            },
        )

    # The CronJob controller starts the runs at the next minute; each pod starts Python,
    # Evidently and pandas on a shared 2-core machine.
    try:
        run = wait_for(
            lambda: last_run(api_client, namespace, "watch"),
            200,
            "lastRun of a scheduled run",
            interval=2,
        )
    except AssertionError:
        print(pod_report(api_client, namespace))
        raise
    job = client.BatchV1Api(api_client).read_namespaced_job(run["jobName"], namespace)
    assert job.metadata.owner_references[0].kind == "CronJob"
    assert run.get("error") is None, run
    assert run["datasetDrift"] is True and run["driftedColumns"] == ["c"]
    assert run["rowsCurrent"] == 200
    dm = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "driftmonitors", "watch")
    conds = {c["type"]: c["status"] for c in dm["status"]["conditions"]}
    assert conds == {"Ready": "True", "LastRunSucceeded": "True", "DriftDetected": "True"}
    assert dm["status"]["history"][0]["jobName"] == run["jobName"]
    events = [
        e.reason
        for e in core.list_namespaced_event(namespace).items
        if e.involved_object.kind == "DriftMonitor"
    ]
    assert "DriftDetected" in events

    # The onDrift actions: the served version tagged in MLflow, the webhook called.
    from mlflow import MlflowClient

    tags = wait_for(
        lambda: (
            MlflowClient(mlflow_url).get_model_version(name, version).tags.get("modelops.drift")
        ),
        30,
        "the model version tag",
    )
    assert tags == "true"
    payload = wait_for(lambda: hook.received, 30, "the webhook call")[0]
    assert payload["driftMonitor"] == "watch" and payload["datasetDrift"] is True
    assert payload["driftedColumns"] == ["c"] and payload["namespace"] == namespace
    assert payload["modelVersion"] == version and payload["modelDeployment"] == name
    # H-3: posted by the job's pod (an address of the pod network), not by the operator: the
    # operator reads no Secret and calls no address a tenant chose.
    assert ipaddress.ip_address(hook.clients[0]) in ipaddress.ip_network("10.245.0.0/24")
    assert hook.clients[0] != devenv.NODE_IP
    hook.close()
    reasons = [
        e.reason
        for e in core.list_namespaced_event(namespace).items
        if e.involved_object.kind == "DriftMonitor" and e.involved_object.name == "watch"
    ]
    assert {"WebhookSent", "ModelVersionTagged"} <= set(reasons), reasons
    # And the operator's metric.
    text = operator.metrics()
    line = f'modelops_drift_share{{monitor="watch",namespace="{namespace}"}}'
    assert line in text, text[-2000:]

    # Per column: c drifted, a did not.
    def drifted(col: str) -> str:
        return f'modelops_column_drifted{{column="{col}",monitor="watch",namespace="{namespace}"}}'

    assert f"{drifted('c')} 1.0" in text and f"{drifted('a')} 0.0" in text, text[-3000:]

    failed = wait_for(
        lambda: last_run(api_client, namespace, "broken"),
        120,
        "lastRun of the failing run",
        interval=2,
    )
    assert failed.get("datasetDrift") is None, failed
    assert "nowhere.modelops-dev" in failed.get("error", ""), failed
    broken = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "driftmonitors", "broken"
    )
    conds = {c["type"]: c["status"] for c in broken["status"]["conditions"]}
    assert conds["LastRunSucceeded"] == "False"

    # Bad input exits 3, and the Job's podFailurePolicy fails it at once: one pod, no retry
    # (backoffLimit is 1).
    misnamed = wait_for(
        lambda: last_run(api_client, namespace, "misnamed"),
        120,
        "lastRun of the misnamed run",
        interval=2,
    )
    assert "no_such_column" in misnamed.get("error", ""), misnamed
    bad_job = client.BatchV1Api(api_client).read_namespaced_job(misnamed["jobName"], namespace)
    failed_condition = {c.type: c for c in bad_job.status.conditions or []}["Failed"]
    assert failed_condition.reason == "PodFailurePolicy", failed_condition
    assert bad_job.status.failed == 1 and bad_job.spec.backoff_limit == 1


class Webhook:
    """An HTTP endpoint on the node's address (pods reach it; so does the host) that records
    JSON POSTs and the address each came from (the onDrift webhook's receiver)."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        clients: list[str] = []
        self.received, self.clients = received, clients

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's name
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                clients.append(self.client_address[0])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((devenv.NODE_IP, 0), Handler)
        self.url = f"http://{devenv.NODE_IP}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_cronjob_the_apiserver_refuses_is_reported_and_clears(
    api_client: Any, namespace: str, operator: OperatorProcess
) -> None:
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    create_quota(api_client, namespace, "no-cronjobs", {"count/cronjobs.batch": "0"})
    target = {"model": {"uri": "models:/absent@champion", "trackingUri": "http://127.0.0.1:9"}}
    for plural, kind, name, spec in (
        ("modeldeployments", "ModelDeployment", "target", target),
        (
            "driftmonitors",
            "DriftMonitor",
            "refused",
            {"modelDeploymentRef": {"name": "target"}, "reference": {"uri": "s3://b/r.parquet"}},
        ),
    ):
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}}
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, {**body, "spec": spec}
        )

    def ready() -> dict[str, Any] | None:
        dm = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "driftmonitors", "refused"
        )
        conds = (dm.get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "Ready"), None)

    failed = wait_for(
        lambda: (r := ready()) is not None and r["reason"] == "ApplyFailed" and r, 60, "ApplyFailed"
    )
    assert failed["status"] == "False" and "Could not apply CronJob refused" in failed["message"]
    events = [
        e
        for e in core.list_namespaced_event(namespace).items
        if e.involved_object.name == "refused" and e.reason == "ApplyFailed"
    ]
    assert len(events) == 1 and events[0].type == "Warning"

    core.delete_namespaced_resource_quota("no-cronjobs", namespace)
    cleared = wait_for(
        lambda: (r := ready()) is not None and r["reason"] != "ApplyFailed" and r, 60, "cleared"
    )
    assert cleared["reason"] == "Scheduled"


def test_a_monitor_and_a_materialization_of_one_name_keep_their_own_cronjobs(
    api_client: Any, namespace: str, operator: OperatorProcess
) -> None:
    """H-1: a FeatureMaterialization and a DriftMonitor of one name each get a CronJob of their
    own (per-kind suffixes), and a CronJob made by hand under a monitor's child name is left
    alone: the monitor reports ResourceNotOwned instead of taking it over."""
    custom = client.CustomObjectsApi(api_client)
    batch = client.BatchV1Api(api_client)
    target = {"model": {"uri": "models:/absent@champion", "trackingUri": "http://127.0.0.1:9"}}
    fm = {"featureStore": {"configMapRef": {"name": "repo"}}, "featureViews": ["v"]}
    dm = {"modelDeploymentRef": {"name": "target"}, "reference": {"uri": "s3://b/r.parquet"}}
    batch.create_namespaced_cron_job(
        namespace,
        client.V1CronJob(
            metadata=client.V1ObjectMeta(name="taken-drift"),
            spec=client.V1CronJobSpec(
                schedule="0 0 1 1 *",
                suspend=True,
                job_template=client.V1JobTemplateSpec(
                    spec=client.V1JobSpec(template=client.V1PodTemplateSpec(spec=forger("{}")))
                ),
            ),
        ),
    )
    for plural, kind, name, spec in (
        ("modeldeployments", "ModelDeployment", "target", target),
        ("featurematerializations", "FeatureMaterialization", "shared", fm),
        ("driftmonitors", "DriftMonitor", "shared", dm),
        ("driftmonitors", "DriftMonitor", "taken", dm),
    ):
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}}
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, {**body, "spec": spec}
        )
    for name, kind, command in (
        ("shared-features", "FeatureMaterialization", "materialize"),
        ("shared-drift", "DriftMonitor", "drift"),
    ):
        cron = wait_for(
            lambda n=name: read_or_none(batch.read_namespaced_cron_job, n, namespace),
            60,
            f"CronJob {name}",
        )
        assert (cron.metadata.owner_references[0].kind, cron.metadata.owner_references[0].name) == (
            kind,
            "shared",
        )
        assert cron.spec.job_template.spec.template.spec.containers[0].args[0] == command

    def ready(name: str) -> dict[str, Any] | None:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "driftmonitors", name)
        conds = (obj.get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "Ready"), None)

    refused = wait_for(
        lambda: (r := ready("taken")) is not None and r["reason"] == "ResourceNotOwned" and r,
        60,
        "refused",
    )
    assert "CronJob taken-drift" in refused["message"]
    after = batch.read_namespaced_cron_job("taken-drift", namespace)
    assert after.metadata.owner_references is None
    assert after.spec.job_template.spec.template.spec.containers[0].command[0] == "sh"
    status = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "driftmonitors", "shared"
    )["status"]
    assert status["cronJobName"] == "shared-drift"


def forger(forged: str) -> client.V1PodSpec:
    """A container named as the job's that writes a forged result as its termination message:
    what a tenant can run in their own namespace."""
    return client.V1PodSpec(
        restart_policy="Never",
        termination_grace_period_seconds=1,
        containers=[
            client.V1Container(
                name="drift-monitor",
                image=BUSYBOX,
                image_pull_policy="Never",
                command=["sh", "-c", 'printf %s "$RESULT" > /dev/termination-log'],
                env=[client.V1EnvVar(name="RESULT", value=forged)],
            )
        ],
    )


def test_only_runs_of_the_monitors_own_cronjob_reach_status(
    api_client: Any, real_namespace: str, operator: OperatorProcess
) -> None:
    """H-4: a pod or Job made by hand with the monitor's labels forges nothing; a run of the
    monitor's own CronJob that dates its result into the future is recorded at the kubelet's
    time, not its own. Every pod here is a real container writing a real termination message."""
    namespace = real_namespace
    custom = client.CustomObjectsApi(api_client)
    batch = client.BatchV1Api(api_client)
    core = client.CoreV1Api(api_client)
    target = {
        "model": {"uri": "models:/absent@champion", "trackingUri": "http://127.0.0.1:9"},
        "replicas": 0,
    }
    dm = {"modelDeploymentRef": {"name": "target"}, "reference": {"uri": "s3://b/r.parquet"}}
    for plural, kind, name, spec in (
        ("modeldeployments", "ModelDeployment", "target", target),
        ("driftmonitors", "DriftMonitor", "watch", dm),
    ):
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}}
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, {**body, "spec": spec}
        )
    cron = wait_for(
        lambda: read_or_none(batch.read_namespaced_cron_job, "watch-drift", namespace),
        60,
        "CronJob",
    )
    labels = dict(cron.spec.job_template.spec.template.metadata.labels)
    forged = json.dumps(
        {"datasetDrift": True, "driftShare": 1.0, "driftedColumns": ["x"], "error": None,
         "startTime": "2100-01-01T00:00:00Z", "completionTime": "2100-01-01T00:00:00Z"}
    )  # fmt: skip

    def last_run() -> dict[str, Any] | None:
        obj = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "driftmonitors", "watch"
        )
        return (obj.get("status") or {}).get("lastRun")

    def finished(selector: str) -> None:
        def done() -> bool:
            pods = core.list_namespaced_pod(namespace, label_selector=selector).items
            return bool(pods) and all(p.status.phase == "Succeeded" for p in pods)

        wait_for(done, 90, f"the pod of {selector} to finish", interval=1)

    def job(name: str, owner: list[Any] | None) -> client.V1Job:
        return client.V1Job(
            metadata=client.V1ObjectMeta(name=name, labels=labels, owner_references=owner),
            spec=client.V1JobSpec(
                backoff_limit=0,
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels), spec=forger(forged)
                ),
            ),
        )

    # A bare pod, and a Job nobody's CronJob made: both carry the right labels.
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="bare", labels={**labels, "job-name": "bare"}),
            spec=forger(forged),
        ),
    )
    batch.create_namespaced_job(namespace, job("by-hand", None))
    finished("job-name=bare")
    finished("job-name=by-hand")
    time.sleep(5)
    assert last_run() is None

    # A Job of the CronJob's own (a tenant can name their own CronJob as owner): recorded, at
    # the kubelet's time.
    batch.create_namespaced_job(namespace, job("scheduled", [cron_controller_ref(cron)]))
    run = wait_for(last_run, 90, "lastRun from the CronJob's own run")
    assert run["jobName"] == "scheduled"
    assert run["completionTime"] < "2100" and run["startTime"] < "2100"


def test_reports_attach_to_the_served_versions_mlflow_run(
    datasets: dict[str, Path], mlflow_url: str
) -> None:
    """report.modelRun: the HTML and JSON land on the model version's run, not in the pod."""
    from mlflow import MlflowClient

    name = f"m{uuid.uuid4().hex[:8]}"
    version = register_model(mlflow_url, name)
    run_id = MlflowClient(mlflow_url).get_model_version(name, version).run_id
    code, result = run_drift(
        "--reference",
        str(datasets["reference"]),
        "--current",
        str(datasets["shifted"]),
        "--model",
        f"models:/{name}/{version}",
        "--tracking-uri",
        mlflow_url,
        "--report-to-run",
    )
    assert code == 0 and result["error"] is None and "reportError" not in result, result
    assert result["reportUri"].startswith(f"runs:/{run_id}/modelops-drift/drift-"), result
    listed = {
        Path(a.path).suffix
        for a in MlflowClient(mlflow_url).list_artifacts(run_id, "modelops-drift")
    }
    assert listed == {".html", ".json"}
