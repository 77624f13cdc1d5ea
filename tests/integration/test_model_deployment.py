"""ModelDeployment on the real control plane with a real MLflow registry and the real operator."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .conftest import POLL_SECONDS, OperatorProcess
from .helpers import admission_error, create_quota, register_model, wait_for

GROUP, VERSION, PLURAL = "modelops.dev", "v1alpha1", "modeldeployments"
pytestmark = pytest.mark.timeout(180)


def md_body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"uri": f"models:/{name}@champion"}, **spec},
    }


class Cluster:
    """Thin accessors over the real API used by these tests."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        self.ns = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)
        self.policy = client.PolicyV1Api(api_client)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, body)  # type: ignore[no-any-return]

    def md(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)  # type: ignore[no-any-return]

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.ns, PLURAL, name, {"spec": spec}
        )

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        for c in (self.md(name).get("status") or {}).get("conditions", []):
            if c["type"] == type_:
                return c  # type: ignore[no-any-return]
        return None

    def is_ready(self, name: str) -> bool:
        md = self.md(name)
        cond = self.condition(name, "Ready")
        return bool(
            cond
            and cond["status"] == "True"
            and md["status"].get("observedGeneration") == md["metadata"]["generation"]
        )

    def deployment(self, name: str) -> Any | None:
        try:
            return self.apps.read_namespaced_deployment(name, self.ns)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def model_uri(self, name: str) -> str | None:
        dep = self.deployment(name)
        if dep is None:
            return None
        env = {e.name: e.value for e in dep.spec.template.spec.containers[0].env}
        return env.get("MODEL_URI")

    def children_versions(self, name: str) -> dict[str, str]:
        """resourceVersion of each child that exists."""
        found = {}
        for kind, reader in (
            ("Deployment", self.apps.read_namespaced_deployment),
            ("Service", self.core.read_namespaced_service),
            ("HorizontalPodAutoscaler", self.autoscaling.read_namespaced_horizontal_pod_autoscaler),
            ("PodDisruptionBudget", self.policy.read_namespaced_pod_disruption_budget),
        ):
            try:
                found[kind] = reader(name, self.ns).metadata.resource_version
            except ApiException as e:
                if e.status != 404:
                    raise
        return found

    def events(self, name: str) -> list[Any]:
        return [
            e
            for e in self.core.list_namespaced_event(self.ns).items
            if e.involved_object.kind == "ModelDeployment" and e.involved_object.name == name
        ]


@pytest.fixture
def k(api_client: Any, namespace: str, operator: OperatorProcess) -> Cluster:
    return Cluster(api_client, namespace)


@pytest.fixture
def model_name() -> str:
    return f"m{uuid.uuid4().hex[:8]}"


def test_apply_creates_owned_children_and_becomes_ready(
    k: Cluster, mlflow_url: str, model_name: str
) -> None:
    version = register_model(mlflow_url, model_name)
    created = k.create(md_body(model_name, autoscaling={"minReplicas": 2, "maxReplicas": 4}))
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True")

    md = k.md(model_name)
    st = md["status"]
    assert st["model"]["resolvedUri"] == f"models:/{model_name}/{version}"
    assert st["model"]["version"] == version
    assert st["url"] == f"http://{model_name}.{k.ns}.svc.cluster.local"
    assert st["readyReplicas"] == 2 and st["replicaSummary"] == "2/2"
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds == {
        "Ready": "True",
        "ModelResolved": "True",
        "ModelCompatible": "True",
        "Available": "True",
        "Progressing": "False",
        "Degraded": "False",
    }
    dep = k.deployment(model_name)
    assert dep is not None
    assert k.model_uri(model_name) == f"models:/{model_name}/{version}"
    owner = dep.metadata.owner_references[0]
    assert (owner.kind, owner.uid, owner.controller) == (
        "ModelDeployment",
        created["metadata"]["uid"],
        True,
    )
    assert set(k.children_versions(model_name)) == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    pods = k.core.list_namespaced_pod(k.ns).items
    assert len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
    assert any(e.reason == "Deployed" for e in k.events(model_name))


def test_readiness_is_a_metric_per_resource_and_leaves_with_it(
    k: Cluster, mlflow_url: str, model_name: str, operator: OperatorProcess
) -> None:
    register_model(mlflow_url, model_name)
    series = (
        f'modelops_resource_ready{{kind="ModelDeployment",name="{model_name}",namespace="{k.ns}"}}'
    )
    k.create(md_body(model_name, replicas=1))
    wait_for(lambda: f"{series} 1.0" in operator.metrics(), 60, "the ready metric at 1")
    k.patch_spec(model_name, {"model": {"uri": f"models:/{model_name}/99"}})  # no such version
    wait_for(lambda: f"{series} 0.0" in operator.metrics(), 60, "the ready metric at 0")
    k.custom.delete_namespaced_custom_object(GROUP, VERSION, k.ns, PLURAL, model_name)
    wait_for(lambda: series not in operator.metrics(), 60, "the series gone with the object")


def test_reconcile_is_idempotent_and_survives_an_operator_restart(
    k: Cluster, mlflow_url: str, model_name: str, operator: OperatorProcess
) -> None:
    register_model(mlflow_url, model_name)
    k.create(md_body(model_name, replicas=2))
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True")
    # Several poll ticks re-resolve and re-apply: nothing may change.
    before = k.children_versions(model_name)
    status_before = k.md(model_name)["status"]
    time.sleep(POLL_SECONDS * 2 + 1)
    assert k.children_versions(model_name) == before
    assert k.md(model_name)["status"] == status_before

    operator.stop(kill=True)
    operator.start()
    wait_for(lambda: "Started the modelops operator" in operator.log(), 30, "operator start")
    time.sleep(POLL_SECONDS * 2 + 2)  # resume handler plus timer ticks
    assert k.children_versions(model_name) == before, "a restart must not rewrite children"
    assert k.md(model_name)["status"] == status_before
    deployments = k.apps.list_namespaced_deployment(k.ns).items
    assert [d.metadata.name for d in deployments] == [model_name]
    assert len(k.apps.list_namespaced_replica_set(k.ns).items) == 1


def test_spec_change_rolls_the_deployment(k: Cluster, mlflow_url: str, model_name: str) -> None:
    register_model(mlflow_url, model_name)
    k.create(md_body(model_name))
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True")
    k.patch_spec(model_name, {"batching": {"maxBatchSize": 16}})

    def rolled() -> bool:
        dep = k.deployment(model_name)
        env = {e.name: e.value for e in dep.spec.template.spec.containers[0].env}
        return env["MAX_BATCH_SIZE"] == "16"

    wait_for(rolled, 30, "the new batch size in the Deployment")
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True at generation 2")
    assert k.md(model_name)["status"]["observedGeneration"] == 2
    wait_for(lambda: len(k.apps.list_namespaced_replica_set(k.ns).items) == 2, 30, "a new RS")


def test_alias_move_rolls_out_the_new_version(k: Cluster, mlflow_url: str, model_name: str) -> None:
    v1 = register_model(mlflow_url, model_name)
    k.create(md_body(model_name))
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True")
    assert k.model_uri(model_name) == f"models:/{model_name}/{v1}"

    v2 = register_model(mlflow_url, model_name, seed=1)
    wait_for(
        lambda: k.model_uri(model_name) == f"models:/{model_name}/{v2}",
        POLL_SECONDS * 5,
        "the Deployment to run the new version",
    )
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True on the new version")
    assert k.md(model_name)["status"]["model"]["version"] == v2
    rolled = [e for e in k.events(model_name) if e.reason == "RolledOut"]
    assert rolled, "a RolledOut event"
    assert f"models:/{model_name}/{v2}" in rolled[0].message
    assert f"models:/{model_name}/{v1}" in rolled[0].message


def test_delete_garbage_collects_children(k: Cluster, mlflow_url: str, model_name: str) -> None:
    register_model(mlflow_url, model_name)
    k.create(md_body(model_name, replicas=2))
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True")
    k.custom.delete_namespaced_custom_object(GROUP, VERSION, k.ns, PLURAL, model_name)
    wait_for(lambda: k.deployment(model_name) is None, 60, "the Deployment to be collected")
    wait_for(
        lambda: not k.core.list_namespaced_service(k.ns).items, 60, "the Service to be collected"
    )
    wait_for(
        lambda: not k.policy.list_namespaced_pod_disruption_budget(k.ns).items,
        60,
        "the PDB to be collected",
    )


def test_removing_autoscaling_deletes_the_hpa(k: Cluster, mlflow_url: str, model_name: str) -> None:
    register_model(mlflow_url, model_name)
    k.create(md_body(model_name, autoscaling={"minReplicas": 1, "maxReplicas": 3}))
    wait_for(lambda: "HorizontalPodAutoscaler" in k.children_versions(model_name), 60, "an HPA")
    k.patch_spec(model_name, {"autoscaling": None})  # merge patch: null removes the field
    wait_for(
        lambda: "HorizontalPodAutoscaler" not in k.children_versions(model_name),
        30,
        "the HPA to be deleted",
    )


def test_hand_edits_and_deletions_of_children_are_undone(
    k: Cluster, mlflow_url: str, model_name: str
) -> None:
    register_model(mlflow_url, model_name)
    k.create(md_body(model_name))
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True")
    svc_uid = k.core.read_namespaced_service(model_name, k.ns).metadata.uid
    k.core.delete_namespaced_service(model_name, k.ns)

    def service_back() -> bool:
        try:
            return k.core.read_namespaced_service(model_name, k.ns).metadata.uid != svc_uid
        except ApiException:
            return False

    wait_for(service_back, 30, "the Service to be recreated")

    k.apps.patch_namespaced_deployment(
        model_name,
        k.ns,
        {"spec": {"template": {"spec": {"containers": [{"name": "runtime", "image": "evil:1"}]}}}},
    )

    def image_restored() -> bool:
        dep = k.deployment(model_name)
        return dep.spec.template.spec.containers[0].image == "ghcr.io/modelops/runtime:0.1.0"

    wait_for(image_restored, 30, "the image to be restored")


def test_kubectl_scale(
    k: Cluster, mlflow_url: str, model_name: str, cluster: dict[str, str], kubectl_bin: str
) -> None:
    register_model(mlflow_url, model_name)
    k.create(md_body(model_name))
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True")
    subprocess.run(
        [
            kubectl_bin,
            "--kubeconfig",
            cluster["kubeconfig"],
            "-n",
            k.ns,
            "scale",
            f"mdep/{model_name}",
            "--replicas=3",
        ],
        check=True,
        capture_output=True,
    )
    wait_for(lambda: k.deployment(model_name).spec.replicas == 3, 30, "3 replicas")
    wait_for(lambda: k.md(model_name)["status"].get("readyReplicas") == 3, 60, "3 ready")
    wait_for(lambda: "PodDisruptionBudget" in k.children_versions(model_name), 30, "a PDB")
    out = subprocess.run(
        [
            kubectl_bin,
            "--kubeconfig",
            cluster["kubeconfig"],
            "-n",
            k.ns,
            "get",
            "mdep",
            model_name,
            "-o",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert json.loads(out)["spec"]["replicas"] == 3


def test_registry_down_is_reported_and_nothing_is_deployed(k: Cluster, model_name: str) -> None:
    body = md_body(model_name)
    body["spec"]["model"]["trackingUri"] = "http://127.0.0.1:9"  # discard port: nothing listens
    k.create(body)
    cond = wait_for(lambda: k.condition(model_name, "ModelResolved"), 60, "ModelResolved")
    assert (cond["status"], cond["reason"]) == ("False", "RegistryUnavailable")
    ready = k.condition(model_name, "Ready")
    assert ready is not None and ready["status"] == "False"
    assert k.deployment(model_name) is None
    assert k.md(model_name)["status"]["lastFailure"]["reason"] == "RegistryUnavailable"


def test_missing_model_is_reported(k: Cluster, model_name: str) -> None:
    k.create(md_body(model_name))
    cond = wait_for(lambda: k.condition(model_name, "ModelResolved"), 60, "ModelResolved")
    assert (cond["status"], cond["reason"]) == ("False", "ModelNotFound")
    assert model_name in cond["message"]
    assert k.deployment(model_name) is None


def test_registry_outage_leaves_the_running_version_untouched(
    k: Cluster, mlflow_url: str, model_name: str
) -> None:
    register_model(mlflow_url, model_name)
    k.create(md_body(model_name))
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True")
    before = k.children_versions(model_name)
    uri = k.model_uri(model_name)
    k.patch_spec(model_name, {"model": {"trackingUri": "http://127.0.0.1:9"}})
    wait_for(
        lambda: (
            (k.condition(model_name, "ModelResolved") or {}).get("reason") == "RegistryUnavailable"
        ),
        60,
        "RegistryUnavailable",
    )
    assert k.model_uri(model_name) == uri
    avail = k.condition(model_name, "Available")
    assert avail is not None and avail["status"] == "True"
    assert k.md(model_name)["status"]["model"]["resolvedUri"] == uri
    assert k.children_versions(model_name)["Service"] == before["Service"]


def test_incompatible_model_is_caught_before_any_pod_runs(
    k: Cluster, mlflow_url: str, model_name: str
) -> None:
    register_model(mlflow_url, model_name, pip_requirements=["scikit-learn==1.2.2"])
    k.create(md_body(model_name))
    cond = wait_for(
        lambda: (
            (c := k.condition(model_name, "ModelCompatible")) and c["status"] != "Unknown" and c
        ),
        60,
        "ModelCompatible",
    )
    assert (cond["status"], cond["reason"]) == ("False", "Incompatible")
    assert "scikit-learn==1.2.2" in cond["message"]
    degraded = k.condition(model_name, "Degraded")
    assert degraded is not None and degraded["status"] == "True"
    assert k.deployment(model_name) is None


def test_a_pickled_model_needs_the_opt_in_before_any_pod_runs(
    k: Cluster, mlflow_url: str, model_name: str
) -> None:
    """H-2 at the operator: a cloudpickle version is caught by the pre-flight (the runtime
    would refuse it too), and serves once the ModelDeployment opts in."""
    register_model(mlflow_url, model_name, serialization_format="cloudpickle")
    k.create(md_body(model_name))
    cond = wait_for(
        lambda: (
            (c := k.condition(model_name, "ModelCompatible")) and c["status"] != "Unknown" and c
        ),
        60,
        "ModelCompatible",
    )
    assert (cond["status"], cond["reason"]) == ("False", "Incompatible")
    assert "serialized with cloudpickle" in cond["message"]
    assert "spec.model.allowPickle" in cond["message"]
    assert k.deployment(model_name) is None
    k.patch_spec(model_name, {"model": {"allowPickle": True}})
    wait_for(lambda: k.is_ready(model_name), 90, "Ready with the opt-in")
    assert k.model_uri(model_name) == f"models:/{model_name}/1"
    env = {e.name: e.value for e in k.deployment(model_name).spec.template.spec.containers[0].env}
    assert env["ALLOW_PICKLE"] == "true"


FEATURES = {"materializationRef": {"name": "fm"}, "entityKey": "customer_id"}
INVALID_SPECS = [
    ({}, "spec.model"),
    ({"model": {}}, "spec.model.uri"),
    (
        {"model": {"uri": "http://example.com/model"}},
        'spec.model.uri: Invalid value: "http://example.com/model": must be models:/NAME@ALIAS',
    ),
    ({"model": {"uri": "models:/a/b/c"}}, "spec.model.uri"),
    (
        {"model": {"uri": "models:/m/1", "trackingUri": "ftp://x"}},
        'spec.model.trackingUri: Invalid value: "ftp://x": must be an http://, https://',
    ),
    (
        {"model": {"uri": "models:/m/1", "credentialsSecretRef": {}}},
        "spec.model.credentialsSecretRef.name",
    ),
    (
        {"model": {"uri": "models:/m/1"}, "cache": {"redisUrl": "redis://app:s3cret@r:6379/0"}},
        'spec.cache.redisUrl: Invalid value: "redis://app:s3cret@r:6379/0": must not hold',
    ),
    (
        {"model": {"uri": "models:/m/1"}, "predictionLog": {"redisUrl": "redis://:pw@r:6379"}},
        'spec.predictionLog.redisUrl: Invalid value: "redis://:pw@r:6379": must not hold',
    ),
    ({"replicas": -1}, "spec.replicas"),
    ({"replicas": 1001}, "spec.replicas"),
    ({"replicas": 2, "autoscaling": {"maxReplicas": 3}}, "set replicas or autoscaling, not both"),
    (
        {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}},
        "minReplicas must be <= autoscaling.maxReplicas",
    ),
    ({"autoscaling": {"minReplicas": 1}}, "spec.autoscaling.maxReplicas"),
    ({"autoscaling": {"minReplicas": 0, "maxReplicas": 3}}, "spec.autoscaling.minReplicas"),
    (
        {"autoscaling": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 0}},
        "spec.autoscaling.targetCPUUtilizationPercentage",
    ),
    (
        {"autoscaling": {"maxReplicas": 3, "targetMemoryUtilizationPercentage": 101}},
        "spec.autoscaling.targetMemoryUtilizationPercentage",
    ),
    ({"runtime": {"workers": 0}}, "spec.runtime.workers"),
    ({"runtime": {"env": [{"name": "1BAD", "value": "x"}]}}, "spec.runtime.env[0].name"),
    (
        {"runtime": {"env": [{"name": "prediction_log_stream", "value": "modelops:x:y"}]}},
        "spec.runtime.env[0].name: Invalid value: is set by the operator",
    ),
    ({"runtime": {"tolerations": [{"operator": "Maybe"}]}}, "spec.runtime.tolerations[0].operator"),
    ({"batching": {"maxBatchSize": 0}}, "spec.batching.maxBatchSize"),
    ({"batching": {"maxLatencyMs": -1}}, "spec.batching.maxLatencyMs"),
    ({"cache": {"ttl": "10s"}}, "redisUrl or redisSecretRef is required"),
    (
        {"cache": {"redisUrl": "redis://r:6379", "redisSecretRef": {"name": "s", "key": "k"}}},
        "not both",
    ),
    (
        {"cache": {"redisUrl": "http://r:6379"}},
        'spec.cache.redisUrl: Invalid value: "http://r:6379": must be a redis://',
    ),
    (
        {"cache": {"redisUrl": "redis://r:6379", "ttl": "8d"}},
        'spec.cache.ttl: Invalid value: "8d": must be between 1s and 7d',
    ),
    (
        {"cache": {"redisUrl": "redis://r:6379", "ttl": "5 min"}},
        'spec.cache.ttl: Invalid value: "5 min": must be a duration: a whole number and a unit',
    ),
    (
        {"predictionLog": {"maxAge": "30s"}},
        'spec.predictionLog.maxAge: Invalid value: "30s": must be between 1m and 365d',
    ),
    ({"predictionLog": {"sampleRate": 0}}, "spec.predictionLog.sampleRate"),
    ({"predictionLog": {"sampleRate": 1.5}}, "spec.predictionLog.sampleRate"),
    ({"predictionLog": {"maxLen": 10}}, "spec.predictionLog.maxLen"),
    ({"service": {"type": "Ingress"}}, "spec.service.type"),
    ({"service": {"port": 70000}}, "spec.service.port"),
    ({"suspend": "yes"}, "spec.suspend"),
    (
        {"features": {**FEATURES, "features": ["avg_amount_30d"]}},
        "must be VIEW:FEATURE, e.g. customer_stats:avg_amount_30d",
    ),
    (
        {"features": {**FEATURES, "features": ["a:amount", "b:amount", "a:count"]}},
        "two features share a name",
    ),
    ({"replica": 2}, 'unknown field "spec.replica"'),
    ({"rollout": {"strategy": "Canary"}}, "strategy Canary needs steps"),
    ({"rollout": {"strategy": "ABTest"}}, "strategy ABTest needs abTest"),
    ({"rollout": {"strategy": "Blue"}}, "spec.rollout.strategy"),
    (
        {"rollout": {"strategy": "Canary", "steps": [{"weight": 10, "duration": "2 min"}]}},
        "must be a duration like 30s, 2m, 1h or 1d",
    ),
    (
        {"rollout": {"strategy": "Canary", "steps": [{"weight": 0, "duration": "1m"}]}},
        "spec.rollout.steps[0].weight",
    ),
    (
        {
            "model": {"uri": "models:/fraud@champion"},
            "rollout": {"candidate": "models:/other@challenger"},
        },
        "rollout.candidate must be an alias of the registered model that model.uri names",
    ),
    ({"rollout": {"candidate": "models:/m@challenger"}}, "rollout.candidate must be an alias"),
    ({"rollout": {"candidate": "models:/m/2"}}, "spec.rollout.candidate"),
    (
        {"rollout": {"strategy": "ABTest", "abTest": {"key": "cookie:id"}}},
        "spec.rollout.abTest.key",
    ),
    ({"rollout": {"analysis": {"maxErrorRate": 2}}}, "spec.rollout.analysis.maxErrorRate"),
]


@pytest.mark.parametrize(("spec", "names"), INVALID_SPECS, ids=[n for _, n in INVALID_SPECS])
def test_invalid_specs_are_rejected_at_admission_naming_the_field(
    api_client: Any, crds: None, spec: dict[str, Any], names: str
) -> None:
    full = {"model": {"uri": "models:/m/1"}, **spec} if spec else {}
    message = admission_error(api_client, "ModelDeployment", PLURAL, full)
    assert names in message, message


NAME_LIMITS = [
    ("ModelDeployment", PLURAL, {"model": {"uri": "models:/m/1"}}, "a" * 64, "at most 63"),
    ("ModelDeployment", PLURAL, {"model": {"uri": "models:/m/1"}}, "9lives", "DNS label"),
    ("ModelDeployment", PLURAL, {"model": {"uri": "models:/m/1"}}, "a.b", "DNS label"),
    (
        "DriftMonitor",
        "driftmonitors",
        {"modelDeploymentRef": {"name": "m"}, "reference": {"uri": "s3://b/r.parquet"}},
        "d" * 46 + "x",
        "at most 46",
    ),
    (
        "FeatureMaterialization",
        "featurematerializations",
        {"featureStore": {"configMapRef": {"name": "repo"}}, "featureViews": ["v"]},
        "f" * 43 + "x",
        "at most 43",
    ),
]


@pytest.mark.parametrize(
    ("kind", "plural", "spec", "name", "text"), NAME_LIMITS, ids=[n[4] for n in NAME_LIMITS]
)
def test_a_name_its_children_could_not_carry_is_rejected_at_admission(
    api_client: Any, crds: None, kind: str, plural: str, spec: dict[str, Any], name: str, text: str
) -> None:
    """A name too long (or not a DNS label) for a child's name would fail only when the child
    is applied: the apiserver refuses the resource itself, naming the limit."""
    message = admission_error(api_client, kind, plural, spec, name=name)
    assert "metadata.name must be" in message and text in message, message


def test_a_child_the_apiserver_refuses_is_reported_once_and_clears(
    k: Cluster, mlflow_url: str, model_name: str
) -> None:
    """A quota that allows no Service: Ready=False with the apiserver's words, one Warning
    Event however often the pass is retried, and Ready once the quota is gone."""
    create_quota(k.core.api_client, k.ns, "no-services", {"services": "0"})
    register_model(mlflow_url, model_name)
    k.create(md_body(model_name))

    def refused() -> bool:
        ready = k.condition(model_name, "Ready")
        return bool(ready and ready["reason"] == "ApplyFailed")

    wait_for(refused, 60, "Ready=False ApplyFailed")
    ready = k.condition(model_name, "Ready")
    assert ready is not None and ready["status"] == "False"
    assert f"Could not apply Service {model_name}" in ready["message"]
    assert "exceeded quota" in ready["message"]  # the apiserver's own explanation
    md = k.md(model_name)
    assert md["status"]["observedGeneration"] == md["metadata"]["generation"]
    time.sleep(POLL_SECONDS * 3 + 1)  # several retries of the same failure
    warnings = [e for e in k.events(model_name) if e.reason == "ApplyFailed"]
    assert len(warnings) == 1 and warnings[0].type == "Warning"
    assert sum(e.count or 1 for e in warnings) == 1

    k.core.delete_namespaced_resource_quota("no-services", k.ns)
    wait_for(lambda: k.is_ready(model_name), 60, "Ready=True once the quota is gone")
    assert k.condition(model_name, "Ready")["reason"] == "ModelServing"  # type: ignore[index]


def test_an_existing_service_of_the_same_name_is_not_taken_over(
    k: Cluster, mlflow_url: str, model_name: str
) -> None:
    """H-1: a tenant's own Service named like the ModelDeployment stays theirs: not patched,
    not adopted (so not garbage-collected with the ModelDeployment), and status says why."""
    victim = client.V1Service(
        metadata=client.V1ObjectMeta(name=model_name, labels={"team": "theirs"}),
        spec=client.V1ServiceSpec(
            selector={"app": "theirs"}, ports=[client.V1ServicePort(port=5432)]
        ),
    )
    before = k.core.create_namespaced_service(k.ns, victim)
    register_model(mlflow_url, model_name)
    k.create(md_body(model_name))

    def not_owned() -> bool:
        ready = k.condition(model_name, "Ready")
        return bool(ready and ready["reason"] == "ResourceNotOwned")

    wait_for(not_owned, 60, "Ready=False ResourceNotOwned")
    ready = k.condition(model_name, "Ready")
    assert ready is not None and ready["status"] == "False"
    assert f"Service {model_name} already exists" in ready["message"]
    time.sleep(POLL_SECONDS * 2 + 1)
    after = k.core.read_namespaced_service(model_name, k.ns)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert not after.metadata.owner_references and after.spec.ports[0].port == 5432
    events = [e for e in k.events(model_name) if e.reason == "ResourceNotOwned"]
    assert len(events) == 1 and events[0].type == "Warning"

    k.custom.delete_namespaced_custom_object(GROUP, VERSION, k.ns, PLURAL, model_name)
    wait_for(lambda: k.deployment(model_name) is None, 60, "the Deployment collected")
    assert k.core.read_namespaced_service(model_name, k.ns).spec.ports[0].port == 5432


def test_pass_through_fields_outside_the_allowlists_are_refused(
    k: Cluster, mlflow_url: str, model_name: str
) -> None:
    """A tenant asks for a cloud load balancer and for pods on every tainted node (a toleration
    of every taint): with the operator's default policy nothing is created, status and one
    Event name both fields; a spec within the policy then deploys."""
    register_model(mlflow_url, model_name)
    k.create(
        md_body(
            model_name,
            service={"type": "LoadBalancer"},
            runtime={"tolerations": [{"operator": "Exists"}], "serviceAccountName": "admin"},
        )
    )

    def refused() -> dict[str, Any] | None:
        ready = k.condition(model_name, "Ready")
        return ready if ready and ready["reason"] == "PolicyViolation" else None

    ready = wait_for(refused, 60, "Ready=False PolicyViolation")
    assert ready["status"] == "False"
    assert "spec.service.type LoadBalancer is not allowed" in ready["message"]
    assert "spec.runtime.tolerations[0] (key='', operator='Exists'" in ready["message"]
    # A ServiceAccount may carry rights (an IAM role, RBAC) its author lacks.
    assert "spec.runtime.serviceAccountName admin is not allowed" in ready["message"]
    time.sleep(POLL_SECONDS + 1)  # a resync pass does not create anything either
    assert k.children_versions(model_name) == {}
    events = [e for e in k.events(model_name) if e.reason == "PolicyViolation"]
    assert len(events) == 1 and events[0].type == "Warning"

    k.patch_spec(
        model_name,
        {
            "service": {"type": "ClusterIP"},
            "runtime": {"tolerations": None, "serviceAccountName": None},
        },
    )
    wait_for(lambda: k.is_ready(model_name), 90, "Ready once the spec is within the policy")
    assert k.core.read_namespaced_service(model_name, k.ns).spec.type == "ClusterIP"


def test_the_operator_calls_no_registry_outside_its_allowlist(k: Cluster, model_name: str) -> None:
    """H-3: a tenant points spec.model.trackingUri at an address of their choosing (here a
    listener on the operator's own host, as an internal service would be): the operator
    refuses the spec by name and never connects."""
    import http.server
    import threading

    hits: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = f"http://127.0.0.1:{server.server_address[1]}"
        k.create(md_body(model_name, model={"uri": "models:/x@champion", "trackingUri": target}))
        ready = wait_for(
            lambda: (
                (c := k.condition(model_name, "Ready")) and c["reason"] == "PolicyViolation" and c
            ),
            60,
            "Ready=False PolicyViolation",
        )
        assert f"spec.model.trackingUri {target} is not allowed" in ready["message"]
        time.sleep(POLL_SECONDS + 1)  # nor does a resync pass call it
        assert hits == []
        assert k.children_versions(model_name) == {}
    finally:
        server.shutdown()
        server.server_close()


def test_the_pre_flight_downloads_nothing_over_its_size_limit(
    k: Cluster, mlflow_url: str, model_name: str
) -> None:
    """A tenant's model version with a requirements.txt over the operator's pre-flight limit
    (the test operator's: 16 KiB) is not downloaded: ModelCompatible stays Unknown and says
    why; the runtime, in the tenant's pod, still decides whether it loads."""
    padding = [f"modelops-padding-{i:05d}==1.0" for i in range(800)]
    register_model(mlflow_url, model_name, pip_requirements=padding)
    k.create(md_body(model_name))
    cond = wait_for(
        lambda: (c := k.condition(model_name, "ModelCompatible")) and "limit" in c["message"] and c,
        60,
        "ModelCompatible naming the size limit",
    )
    assert cond["status"] == "Unknown"
    assert "requirements.txt is" in cond["message"]
    assert "over the 16384-byte pre-flight limit" in cond["message"]
