"""FeatureMaterialization on the real control plane: a run's result and freshness in status,
FeaturesFresh on a ModelDeployment, and admission."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from kubernetes import client
from mlflow import MlflowClient

from .conftest import OperatorProcess, devenv
from .helpers import (
    admission_error,
    create_quota,
    ready_condition,
    s3_client,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
REPO = ROOT / "examples" / "feature_repo"
GROUP, VERSION, PLURAL = "modelops.dev", "v1alpha1", "featurematerializations"
pytestmark = pytest.mark.timeout(240)


def feast_redis(redis_url: str) -> str:
    hostport, _, db = redis_url.removeprefix("redis://").partition("/")
    return f"{hostport},db={db or 0}"


def status_of(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return obj.get("status") or {}


def conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


@pytest.mark.timeout(600)
def test_a_scheduled_run_reaches_status_and_a_pod_serves_the_features(
    api_client: Any,
    real_namespace: str,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    operator: OperatorProcess,
    mlflow_url: str,
    s3: dict[str, str],
    tmp_path: Path,
) -> None:
    """The CronJob's own scheduled run materializes the example repo (mounted from its
    ConfigMap, data in the object store) into Redis as a container on the real node; its
    termination message becomes status; a ModelDeployment's pod mounts the same ConfigMap and
    scores entities on the features it reads from Redis."""
    namespace = real_namespace
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)

    # The example repo as the ConfigMap users create; the data in the bucket; the online
    # store and the bucket's keys in a Secret.
    files = {
        p.name: p.read_text()
        for p in REPO.iterdir()
        if p.name in ("feature_store.yaml", "features.py")
    }
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="feature-repo"), data=files)
    )
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    sys.path.insert(0, str(REPO))
    try:
        from make_data import make_data  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(REPO))
    data = tmp_path / "customers.parquet"
    make_data(data, 500, end)
    key = f"feast/{namespace}/customers.parquet"
    s3_client(s3).upload_file(str(data), s3["bucket"], key)
    redis_host = pod_services["redis"].removeprefix("redis://").split("/")[0]
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="feast-online"),
            string_data={
                "REDIS_CONNECTION_STRING": f"{redis_host},db=3",
                "FEAST_DATA_PATH": f"s3://{s3['bucket']}/{key}",
                # The AWS SDK's own variable, which pyarrow's S3 filesystem reads too.
                "AWS_ENDPOINT_URL": pod_services["s3"],
                **{k: v for k, v in devenv.s3_env(s3).items() if k.startswith("AWS_")},
            },
        ),
    )
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "FeatureMaterialization",
            "metadata": {"name": "customers"},
            "spec": {
                "featureStore": {
                    "configMapRef": {"name": "feature-repo"},
                    "secretRef": {"name": "feast-online"},
                },
                "featureViews": ["customer_stats"],
                "schedule": "* * * * *",
                "mode": "window",
                "window": {
                    "start": (end - timedelta(days=5)).isoformat().replace("+00:00", "Z"),
                    "end": end.isoformat().replace("+00:00", "Z"),
                },
                "maxStaleness": "1h",
            },
        },
    )
    status = wait_for(
        lambda: (s := status_of(custom, namespace, "customers")).get("lastRun") and s,
        200,
        "lastRun of a scheduled run",
        interval=2,
    )
    assert status["lastRun"].get("error") is None, status["lastRun"]
    job = client.BatchV1Api(api_client).read_namespaced_job(status["lastRun"]["jobName"], namespace)
    assert job.metadata.owner_references[0].kind == "CronJob"
    until = datetime.fromisoformat(status["materializedUntil"].replace("Z", "+00:00"))
    assert abs((until - end).total_seconds()) <= 1
    assert status["featureViews"][0]["name"] == "customer_stats"
    assert conditions(status) == {"Ready": "True", "LastRunSucceeded": "True", "Stale": "False"}

    # A deployment scoring on these features, in a pod that mounts the repo's ConfigMap.
    from sklearn.linear_model import LogisticRegression

    from .runtime_helpers import log_sklearn_model

    columns = ["txn_count_7d", "avg_amount_30d", "account_age_days"]
    frame = pd.read_parquet(data)[columns].astype({"avg_amount_30d": "float32"})
    estimator = LogisticRegression(max_iter=1000).fit(frame, frame.txn_count_7d > 10)
    name = f"m{uuid.uuid4().hex[:8]}"
    uri = log_sklearn_model(estimator, frame.iloc[:5], name, mlflow_url)
    MlflowClient(mlflow_url).set_registered_model_alias(name, "champion", uri.rsplit("/", 1)[1])
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
                },
                "runtime": {"image": real_node["runtime"]},
                "features": {
                    "materializationRef": {"name": "customers"},
                    "entityKey": "customer_id",
                    "features": [f"customer_stats:{c}" for c in columns],
                },
            },
        },
    )

    def md_conditions() -> dict[str, str]:
        md = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "modeldeployments", name
        )
        return conditions(md.get("status") or {})

    wait_for(lambda: md_conditions().get("Ready") == "True", 240, "the deployment Ready", 2)
    assert md_conditions()["FeaturesFresh"] == "True"
    svc = core.read_namespaced_service(name, namespace)
    url = f"http://{svc.spec.cluster_ip}:{svc.spec.ports[0].port}/predict"
    answer = httpx.post(url, json={"entities": [1, 2, 3]}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 3
    unknown = httpx.post(url, json={"entities": [10**9]}, timeout=10)
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["details"]["unknown_entities"] == [10**9]


FM_INVALID = [
    ({}, "spec.featureStore"),
    ({"featureStore": {}}, "set exactly one of configMapRef or path"),
    ({"featureStore": {"path": "/r", "configMapRef": {"name": "x"}}}, "set exactly one"),
    (
        {"featureStore": {"path": "relative/repo"}},
        'spec.featureStore.path: Invalid value: "relative/repo": must be an absolute path',
    ),
    ({"featureStore": {"path": "/r"}, "mode": "window"}, "mode window needs a window"),
    ({"featureStore": {"path": "/r"}, "mode": "sometimes"}, "spec.mode"),
    (
        {
            "featureStore": {"path": "/r"},
            "mode": "window",
            "window": {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        },
        "window.start must be before window.end",
    ),
    ({"featureStore": {"path": "/r"}, "maxStaleness": "soon"}, "maxStaleness must be a duration"),
    ({"featureStore": {"path": "/r"}, "schedule": "@sometimes"}, "cron expression"),
    ({"featureStore": {"path": "/r"}, "timeZone": "Paris time"}, "must be an IANA time zone"),
    (
        {"featureStore": {"path": "/r"}, "successfulJobsHistoryLimit": -1},
        "spec.successfulJobsHistoryLimit",
    ),
]


def test_a_cronjob_the_apiserver_refuses_is_reported_once_and_clears(
    api_client: Any, namespace: str, operator: OperatorProcess
) -> None:
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    create_quota(api_client, namespace, "no-cronjobs", {"count/cronjobs.batch": "0"})
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "FeatureMaterialization",
            "metadata": {"name": "refused"},
            "spec": {
                "featureStore": {"configMapRef": {"name": "feature-repo"}},
                "featureViews": ["customer_stats"],
            },
        },
    )

    def ready() -> dict[str, Any] | None:
        return ready_condition(api_client, namespace, PLURAL, "refused")

    failed = wait_for(
        lambda: (r := ready()) is not None and r["reason"] == "ApplyFailed" and r, 60, "ApplyFailed"
    )
    assert failed["status"] == "False"
    assert "Could not apply CronJob refused-features" in failed["message"]
    assert "exceeded quota" in failed["message"]
    events = [
        e
        for e in core.list_namespaced_event(namespace).items
        if e.involved_object.name == "refused" and e.reason == "ApplyFailed"
    ]
    assert len(events) == 1 and events[0].type == "Warning"

    core.delete_namespaced_resource_quota("no-cronjobs", namespace)
    # The staleness timer (30 s) retries the pass.
    wait_for(
        lambda: (r := ready()) is not None and r["reason"] != "ApplyFailed", 60, "failure cleared"
    )
    assert client.BatchV1Api(api_client).read_namespaced_cron_job("refused-features", namespace)


@pytest.mark.parametrize(("spec", "text"), FM_INVALID, ids=[t for _, t in FM_INVALID])
def test_invalid_feature_materializations_are_rejected(
    api_client: Any, crds: None, spec: dict[str, Any], text: str
) -> None:
    message = admission_error(api_client, "FeatureMaterialization", PLURAL, spec)
    assert text in message, message
