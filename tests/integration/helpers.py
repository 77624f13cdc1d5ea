"""Small helpers shared by integration tests."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.3) -> T:
    """Poll until predicate() is truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def register_model(
    tracking_uri: str,
    name: str,
    *,
    alias: str | None = "champion",
    pip_requirements: list[str] | None = None,
    seed: int = 0,
    training_data: Path | None = None,
    serialization_format: str = "skops",
) -> str:
    """Train a small logistic regression, register it as a new version of `name`."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(
        n_samples=200, n_features=4, n_informative=3, n_redundant=0, random_state=seed
    )
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    model = LogisticRegression(max_iter=200).fit(frame, y)
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with warnings.catch_warnings():
        # MLflow warns about integer outputs in the inferred signature and about its own
        # deprecations; neither is what these tests examine.
        warnings.simplefilter("ignore")
        with mlflow.start_run():
            if training_data is not None:
                # The drift monitor's default reference: the dataset logged on the run.
                frame.assign(target=y).to_parquet(training_data)
                dataset = mlflow.data.from_pandas(
                    frame.assign(target=y), source=str(training_data), name="train"
                )
                mlflow.log_input(dataset, context="training")
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=name,
                signature=infer_signature(frame, model.predict(frame)),
                pip_requirements=pip_requirements,
                serialization_format=serialization_format,
            )
    version = str(info.registered_model_version)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


def read_or_none(reader: Callable[..., Any], name: str, namespace: str) -> Any:
    """A read through the Kubernetes client, None when the object does not exist."""
    from kubernetes.client.exceptions import ApiException

    try:
        return reader(name, namespace)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def admission_error(
    api_client: Any, kind: str, plural: str, spec: dict[str, Any], name: str = "invalid"
) -> str:
    """The apiserver's message when it refuses a custom object at admission (a server dry run,
    strict field validation); fails the test when the object is accepted."""
    import json

    import pytest
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    body = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    with pytest.raises(ApiException) as err:
        client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            "modelops.dev",
            "v1alpha1",
            "default",
            plural,
            body,
            dry_run="All",
            field_validation="Strict",
        )
    assert err.value.status in (400, 422), err.value.body
    return str(json.loads(err.value.body)["message"])


def create_quota(api_client: Any, namespace: str, name: str, hard: dict[str, str]) -> None:
    """A ResourceQuota, returned once its controller has counted usage: before that the quota
    admission refuses everything with "status unknown", not with "exceeded quota"."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    core.create_namespaced_resource_quota(
        namespace,
        client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name=name), spec=client.V1ResourceQuotaSpec(hard=hard)
        ),
    )
    wait_for(
        lambda: core.read_namespaced_resource_quota(name, namespace).status.used or None,
        30,
        f"ResourceQuota {name} counted",
    )


def cron_controller_ref(cron: Any) -> Any:
    """The controller reference the CronJob controller puts on the Jobs it creates."""
    from kubernetes import client

    return client.V1OwnerReference(
        api_version="batch/v1",
        kind="CronJob",
        name=cron.metadata.name,
        uid=cron.metadata.uid,
        controller=True,
        block_owner_deletion=True,
    )


def ready_condition(
    api_client: Any, namespace: str, plural: str, name: str
) -> dict[str, Any] | None:
    """The Ready condition of one of our objects, None until status has one."""
    from kubernetes import client

    obj = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        "modelops.dev", "v1alpha1", namespace, plural, name
    )
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c["type"] == "Ready"), None)


def pod_report(api_client: Any, namespace: str) -> str:
    """The pods' phases, container states and events: what a failed wait needs to be read."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    lines = []
    for pod in core.list_namespaced_pod(namespace).items:
        states = [
            (s.name, s.ready, s.state, s.last_state) for s in pod.status.container_statuses or []
        ]
        lines.append(f"{pod.metadata.name} {pod.spec.node_name} {pod.status.phase} {states}")
        for status in pod.status.container_statuses or []:
            if status.state.running or status.state.terminated:
                log = core.read_namespaced_pod_log(pod.metadata.name, namespace, tail_lines=20)
                lines += [f"  | {line}" for line in log.splitlines()]
    for ev in core.list_namespaced_event(namespace).items[-20:]:
        lines.append(f"event {ev.involved_object.name}: {ev.reason} {ev.message}")
    return "\n".join(lines)


def s3_client(s3: dict[str, str]) -> Any:
    """A boto3 client of the local S3 store (the `s3` fixture's endpoint and keys)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3["endpoint"],
        aws_access_key_id=s3["access_key"],
        aws_secret_access_key=s3["secret_key"],
        region_name=s3["region"],
    )


# The runtime's prediction-log row counters.
WRITTEN = "modelops_runtime_prediction_log_written_rows_total"
DROPPED = "modelops_runtime_prediction_log_dropped_rows_total"


def pod_pids(uid: str, container: str = "") -> list[int]:
    """The processes of a pod (of one of its containers, by id), from its cgroup on this node
    (cgroup v1, the kubelet's cgroupfs driver: kubepods/[qos/]pod<uid>/<container id>)."""
    root = Path("/sys/fs/cgroup/memory/kubepods")
    found = [*root.glob(f"pod{uid}"), *root.glob(f"*/pod{uid}")]
    assert found, f"no cgroup for pod {uid}"
    top = found[0] / container if container else found[0]
    return [
        int(pid)
        for dirpath, _, files in os.walk(top)
        if "cgroup.procs" in files
        for pid in (Path(dirpath) / "cgroup.procs").read_text().split()
    ]
