"""Smoke tests: the control plane behaves like a cluster (scheduling, GC, CronJobs)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .helpers import wait_for


def test_server_is_v1_37_with_two_ready_kwok_nodes(
    cluster: dict[str, str], kubectl_bin: str, api_client: Any
) -> None:
    out = subprocess.run(
        [kubectl_bin, "--kubeconfig", cluster["kubeconfig"], "version", "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    server = json.loads(out)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "37")
    assert server["gitVersion"].startswith("v1.37.")

    nodes = client.CoreV1Api(api_client).list_node(label_selector="type=kwok").items
    ready = {
        n.metadata.name
        for n in nodes
        if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
    }
    assert ready == {"kwok-node-0", "kwok-node-1"}


def test_rbac_is_enforced(cluster: dict[str, str], kubectl_bin: str, namespace: str) -> None:
    def can_i(*args: str) -> str:
        r = subprocess.run(
            [kubectl_bin, "--kubeconfig", cluster["kubeconfig"], "auth", "can-i", *args],
            capture_output=True,
            text=True,
        )
        return r.stdout.strip()

    assert can_i("create", "deployments", "-n", namespace) == "yes"
    # A ServiceAccount with no bindings may do nothing: authorization is really RBAC.
    sa = f"system:serviceaccount:{namespace}:default"
    assert can_i("list", "secrets", "-n", namespace, "--as", sa) == "no"


def test_deployment_pods_become_ready_on_kwok_nodes(api_client: Any, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    labels = {"app": "smoke"}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="smoke"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="c", image="example.invalid/x:1")]
                    ),
                ),
            ),
        ),
    )

    def ready() -> bool:
        d = apps.read_namespaced_deployment("smoke", namespace)
        return (d.status.ready_replicas or 0) == 2

    wait_for(ready, 60, "2 ready replicas")
    pods = client.CoreV1Api(api_client).list_namespaced_pod(namespace, label_selector="app=smoke")
    assert len(pods.items) == 2
    for pod in pods.items:
        assert pod.spec.node_name in {"kwok-node-0", "kwok-node-1"}
        assert pod.status.phase == "Running"
        assert pod.status.pod_ip


def test_owned_object_is_garbage_collected(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    ref = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid, controller=True
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="child", owner_references=[ref])),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def child_gone() -> bool:
        try:
            core.read_namespaced_config_map("child", namespace)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(child_gone, 60, "the garbage collector to delete the owned ConfigMap")


@pytest.mark.timeout(180)
def test_cronjob_produces_a_job_that_completes(api_client: Any, namespace: str) -> None:
    batch = client.BatchV1Api(api_client)
    batch.create_namespaced_cron_job(
        namespace,
        client.V1CronJob(
            metadata=client.V1ObjectMeta(name="tick"),
            spec=client.V1CronJobSpec(
                schedule="* * * * *",
                job_template=client.V1JobTemplateSpec(
                    spec=client.V1JobSpec(
                        template=client.V1PodTemplateSpec(
                            spec=client.V1PodSpec(
                                restart_policy="Never",
                                containers=[
                                    client.V1Container(name="c", image="example.invalid/x:1")
                                ],
                            )
                        )
                    )
                ),
            ),
        ),
    )
    # The CronJob controller acts on minute boundaries: up to 60 s plus its sync delay.
    jobs = wait_for(
        lambda: batch.list_namespaced_job(namespace).items, 130, "the CronJob to create a Job"
    )
    job = jobs[0]
    assert job.metadata.owner_references[0].kind == "CronJob"

    # kwok's pod-complete stage finishes the Job's pod, so the Job controller sees success.
    def succeeded() -> bool:
        j = batch.read_namespaced_job(job.metadata.name, namespace)
        return (j.status.succeeded or 0) >= 1

    wait_for(succeeded, 60, "the Job to succeed")


def test_the_state_with_the_admin_token_is_private(cluster: dict[str, str]) -> None:
    """The admin token (system:masters) and signing keys are readable by their owner only."""
    state = Path(cluster["kubeconfig"]).parent
    assert state.stat().st_mode & 0o777 == 0o700
    for secret in ("kubeconfig", "cluster.json", "pki/tokens.csv"):
        assert (state / secret).stat().st_mode & 0o777 == 0o600, secret
