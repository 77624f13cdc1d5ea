"""FeatureMaterialization on the real control plane: a run's result and freshness in status,
FeaturesFresh on a ModelDeployment, and admission."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from .conftest import OperatorProcess, devenv
from .helpers import (
    admission_error,
    create_quota,
    cron_controller_ref,
    read_or_none,
    ready_condition,
    register_model,
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


def test_a_finished_backfill_reaches_status_and_staleness_shows_on_the_deployment(
    api_client: Any,
    namespace: str,
    operator: OperatorProcess,
    redis_url: str,
    mlflow_url: str,
    tmp_path: Path,
) -> None:
    custom = client.CustomObjectsApi(api_client)
    batch = client.BatchV1Api(api_client)
    core = client.CoreV1Api(api_client)

    # The example repo as the ConfigMap users create, and the online store's Secret.
    files = {
        p.name: p.read_text()
        for p in REPO.iterdir()
        if p.name in ("feature_store.yaml", "features.py")
    }
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="feature-repo"), data=files)
    )
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="feast-online"),
            string_data={"REDIS_CONNECTION_STRING": feast_redis(redis_url)},
        ),
    )
    # A backfill of data that ended two days ago: materialized, and stale against 1h.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    sys.path.insert(0, str(REPO))
    try:
        from make_data import make_data  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(REPO))
    data = tmp_path / "customers.parquet"
    make_data(data, 500, end)
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
                "mode": "window",
                "window": {
                    "start": (end - timedelta(days=5)).isoformat().replace("+00:00", "Z"),
                    "end": end.isoformat().replace("+00:00", "Z"),
                },
                "maxStaleness": "1h",
            },
        },
    )
    cron = wait_for(
        lambda: read_or_none(batch.read_namespaced_cron_job, "customers", namespace), 60, "CronJob"
    )
    pod_spec = cron.spec.job_template.spec.template.spec
    assert pod_spec.containers[0].args[:3] == ["materialize", "--repo", "/feature-repo"]
    assert pod_spec.volumes[-1].config_map.name == "feature-repo"

    batch.create_namespaced_job(
        namespace,
        client.V1Job(
            # What the CronJob controller does on schedule (simulated nodes: no schedule wait).
            metadata=client.V1ObjectMeta(
                name="customers-manual",
                labels=cron.spec.job_template.metadata.labels,
                owner_references=[cron_controller_ref(cron)],
            ),
            spec=cron.spec.job_template.spec,
        ),
    )
    pod = wait_for(
        lambda: (
            core.list_namespaced_pod(namespace, label_selector="job-name=customers-manual").items
        ),
        30,
        "the Job's pod",
    )[0]
    repo_copy = tmp_path / "repo"
    shutil.copytree(REPO, repo_copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    code, message = devenv.run_cronjob_locally(
        api_client.sanitize_for_serialization(cron),
        tmp_path / "run",
        extra_env={"REDIS_CONNECTION_STRING": feast_redis(redis_url), "FEAST_DATA_PATH": str(data)},
        paths={"/feature-repo": str(repo_copy)},
    )
    assert code == 0, message
    assert json.loads(message)["featureViews"] == ["customer_stats"]
    core.patch_namespaced_pod_status(
        pod.metadata.name,
        namespace,
        devenv.pod_result_patch("feature-materialization", code, message),
    )

    status = wait_for(
        lambda: (s := status_of(custom, namespace, "customers")).get("lastRun") and s, 30, "lastRun"
    )
    assert status["lastRun"]["jobName"] == "customers-manual"
    until = datetime.fromisoformat(status["materializedUntil"].replace("Z", "+00:00"))
    assert abs((until - end).total_seconds()) <= 1
    assert status["featureViews"][0]["name"] == "customer_stats"
    assert conditions(status) == {"Ready": "False", "LastRunSucceeded": "True", "Stale": "True"}

    # A deployment using these features says they are stale.
    name = f"m{uuid.uuid4().hex[:8]}"
    register_model(mlflow_url, name)
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
                "model": {"uri": f"models:/{name}@champion"},
                "features": {
                    "materializationRef": {"name": "customers"},
                    "entityKey": "customer_id",
                    "features": ["customer_stats:avg_amount_30d"],
                },
            },
        },
    )

    def features_fresh() -> dict[str, Any] | None:
        md = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "modeldeployments", name
        )
        for c in (md.get("status") or {}).get("conditions") or []:
            if c["type"] == "FeaturesFresh":
                return c  # type: ignore[no-any-return]
        return None

    fresh = wait_for(features_fresh, 60, "FeaturesFresh")
    assert (fresh["status"], fresh["reason"]) == ("False", "FeaturesStale")
    dep = client.AppsV1Api(api_client).read_namespaced_deployment(name, namespace)
    env = {e.name: e.value for e in dep.spec.template.spec.containers[0].env}
    assert env["FEATURE_REFS"] == "customer_stats:avg_amount_30d"
    assert env["FEATURE_REPO"] == "/feature-repo"


FM_INVALID = [
    ({}, "spec.featureStore"),
    ({"featureStore": {}}, "set exactly one of configMapRef or path"),
    ({"featureStore": {"path": "/r", "configMapRef": {"name": "x"}}}, "set exactly one"),
    ({"featureStore": {"path": "relative/repo"}}, "spec.featureStore.path"),
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
    assert "Could not apply CronJob refused" in failed["message"]
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
    assert client.BatchV1Api(api_client).read_namespaced_cron_job("refused", namespace)


@pytest.mark.parametrize(("spec", "text"), FM_INVALID, ids=[t for _, t in FM_INVALID])
def test_invalid_feature_materializations_are_rejected(
    api_client: Any, crds: None, spec: dict[str, Any], text: str
) -> None:
    message = admission_error(api_client, "FeatureMaterialization", PLURAL, spec)
    assert text in message, message
