"""Builders for a ModelDeployment's children: pure input -> manifest."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.operator.api.v1alpha1.model_deployment import ResolvedModel
from modelops.operator.resources import model_deployment as b
from modelops.operator.settings import OperatorSettings

from ..conftest import make_md


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_deployment_pins_the_resolved_version(
    settings: OperatorSettings, resolved: ResolvedModel
) -> None:
    dep = b.build_deployment(make_md(), resolved, settings)
    env = env_of(dep)
    assert env["MODEL_URI"] == "models:/fraud/7"
    assert env["MODEL_NAME"] == "fraud" and env["MODEL_VERSION"] == "7"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.test:5000"
    assert dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "7"
    assert dep["spec"]["replicas"] == 1


def test_children_are_named_after_and_owned_by_the_cr(
    settings: OperatorSettings, resolved: ResolvedModel
) -> None:
    children = b.desired_children(
        make_md({"model": {"uri": "models:/fraud@champion"}, "replicas": 3}), resolved, settings
    )
    assert [c["kind"] for c in children] == ["Deployment", "Service", "PodDisruptionBudget"]
    for child in children:
        meta = child["metadata"]
        assert (meta["name"], meta["namespace"]) == ("fraud", "risk")
        (ref,) = meta["ownerReferences"]
        assert ref == {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "ModelDeployment",
            "name": "fraud",
            "uid": "0000-1111",
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "modelops"
        assert meta["labels"]["app.kubernetes.io/instance"] == "fraud"


def test_pod_is_hardened(settings: OperatorSettings, resolved: ResolvedModel) -> None:
    pod = b.build_deployment(make_md(), resolved, settings)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["resources"] == b.DEFAULT_RESOURCES
    assert c["image"] == "registry.test/runtime:1"


def test_identity_and_placement_pass_through(
    settings: OperatorSettings, resolved: ResolvedModel
) -> None:
    zone_affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "topology.kubernetes.io/zone",
                                "operator": "In",
                                "values": ["a"],
                            }
                        ]
                    }
                ]
            }
        }
    }
    md = make_md(
        {
            "model": {"uri": "models:/fraud@champion"},
            "runtime": {
                "serviceAccountName": "model-runtime",
                "imagePullSecrets": [{"name": "registry"}],
                "affinity": zone_affinity,
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule",
                    },
                    {
                        "maxSkew": 2,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": {"team": "risk"}},
                    },
                ],
            },
        }
    )
    deployment = b.build_deployment(md, resolved, settings)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "model-runtime"
    assert pod["automountServiceAccountToken"] is False  # the runtime never calls the API
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert pod["affinity"] == zone_affinity
    by_host, by_zone = pod["topologySpreadConstraints"]
    # Without a selector a spread counts this deployment's own pods.
    assert by_host["labelSelector"] == {
        "matchLabels": deployment["spec"]["selector"]["matchLabels"]
    }
    assert by_zone["labelSelector"] == {"matchLabels": {"team": "risk"}}
    # None of it unless asked.
    plain = b.build_deployment(make_md(), resolved, settings)["spec"]["template"]["spec"]
    assert not {"serviceAccountName", "imagePullSecrets", "affinity"} & set(plain)


def test_autoscaling_leaves_replicas_to_the_hpa(
    settings: OperatorSettings, resolved: ResolvedModel
) -> None:
    md = make_md(
        {
            "model": {"uri": "models:/fraud@champion"},
            "autoscaling": {
                "minReplicas": 2,
                "maxReplicas": 10,
                "targetMemoryUtilizationPercentage": 60,
            },
        }
    )
    dep = b.build_deployment(md, resolved, settings)
    assert "replicas" not in dep["spec"]
    hpa = b.build_hpa(md)
    assert hpa is not None
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fraud",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    # Memory alone was asked for: no implicit CPU target.
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["memory"]
    assert b.build_pdb(md) is not None


def test_cpu_target_defaults_when_no_target_given() -> None:
    md = make_md({"model": {"uri": "models:/m/1"}, "autoscaling": {"maxReplicas": 3}})
    hpa = b.build_hpa(md)
    assert hpa is not None
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": b.DEFAULT_CPU_TARGET},
    }


@pytest.mark.parametrize(
    ("spec", "replicas", "hpa", "pdb"),
    [
        ({}, 1, False, False),
        ({"replicas": 0}, 0, False, False),
        ({"replicas": 2}, 2, False, True),
        ({"replicas": 5, "suspend": True}, 0, False, False),
        ({"autoscaling": {"maxReplicas": 4}}, None, True, False),
        ({"autoscaling": {"minReplicas": 3, "maxReplicas": 4}, "suspend": True}, 0, False, False),
    ],
)
def test_replica_ownership_table(
    settings: OperatorSettings,
    resolved: ResolvedModel,
    spec: dict[str, Any],
    replicas: int | None,
    hpa: bool,
    pdb: bool,
) -> None:
    md = make_md({"model": {"uri": "models:/fraud@champion"}, **spec})
    assert b.build_deployment(md, resolved, settings)["spec"].get("replicas") == replicas
    assert (b.build_hpa(md) is not None) == hpa
    assert (b.build_pdb(md) is not None) == pdb


def test_cache_from_secret_and_prediction_log_env(
    settings: OperatorSettings, resolved: ResolvedModel
) -> None:
    md = make_md(
        {
            "model": {"uri": "models:/fraud@champion", "credentialsSecretRef": {"name": "creds"}},
            "cache": {"redisSecretRef": {"name": "redis", "key": "url"}, "ttl": "1m"},
            "predictionLog": {
                "enabled": True,
                "sampleRate": 0.25,
                "redisUrl": "redis://r:6379/1",
            },
            "runtime": {"env": [{"name": "MAX_BATCH_SIZE", "value": "8"}]},
        }
    )
    dep = b.build_deployment(md, resolved, settings)
    env = env_of(dep)
    assert env["REDIS_URL"] == {"secretKeyRef": {"name": "redis", "key": "url"}}
    assert env["CACHE_TTL_SECONDS"] == "60"
    assert env["PREDICTION_LOG_SAMPLE_RATE"] == "0.25"
    assert env["PREDICTION_LOG_REDIS_URL"] == "redis://r:6379/1"
    assert env["PREDICTION_LOG_STREAM"] == "modelops:predictions:risk:fraud"
    assert env["MAX_BATCH_SIZE"] == "8", "a user variable overrides the default"
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "creds"}}]
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names))


def test_a_user_variable_cannot_say_whose_data_a_pod_serves(
    settings: OperatorSettings, resolved: ResolvedModel
) -> None:
    """H-6, second line (admission refuses these first): the tenant, stream and Redis stay the
    operator's whatever spec.runtime.env says, in any letter case."""
    md = make_md(
        {
            "model": {"uri": "models:/fraud@champion"},
            "predictionLog": {"enabled": True, "redisUrl": "redis://r:6379/1"},
            "runtime": {
                "env": [
                    {"name": "prediction_log_stream", "value": "modelops:predictions:other:x"},
                    {"name": "TENANT", "value": "other"},
                    {"name": "Redis_Url", "value": "redis://theirs:6379"},
                    # H-2: a pickle model's opt-in is spec.model.allowPickle, under policy.
                    {"name": "allow_pickle", "value": "true"},
                    {"name": "SKOPS_TRUSTED_TYPES", "value": '["builtins.eval"]'},
                ]
            },
        }
    )
    env = env_of(b.build_deployment(md, resolved, settings))
    assert env["TENANT"] == "risk"
    assert env["PREDICTION_LOG_STREAM"] == "modelops:predictions:risk:fraud"
    assert "prediction_log_stream" not in env and "Redis_Url" not in env
    assert env["ALLOW_PICKLE"] == "false" and "allow_pickle" not in env
    assert "SKOPS_TRUSTED_TYPES" not in env


def test_service_and_url(settings: OperatorSettings, resolved: ResolvedModel) -> None:
    md = make_md({"model": {"uri": "models:/m/1"}, "service": {"type": "NodePort", "port": 8000}})
    svc = b.build_service(md, resolved)
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0] == {
        "name": "http",
        "port": 8000,
        "targetPort": "http",
        "protocol": "TCP",
    }
    assert svc["spec"]["selector"] == {
        "app.kubernetes.io/name": "modelops-predictor",
        "app.kubernetes.io/instance": "fraud",
    }
    assert b.service_url(md, settings) == "http://fraud.risk.svc.cluster.local:8000"
    assert b.service_url(make_md(), settings) == "http://fraud.risk.svc.cluster.local"


def test_selector_does_not_change_with_the_model_version(settings: OperatorSettings) -> None:
    v1 = ResolvedModel(resolved_uri="models:/m/1", name="m", version="1")
    v2 = ResolvedModel(resolved_uri="models:/m/2", name="m", version="2")
    d1 = b.build_deployment(make_md(), v1, settings)
    d2 = b.build_deployment(make_md(), v2, settings)
    assert d1["spec"]["selector"] == d2["spec"]["selector"]
    assert d1["spec"]["template"] != d2["spec"]["template"]


def test_builders_are_deterministic(settings: OperatorSettings, resolved: ResolvedModel) -> None:
    md = make_md({"model": {"uri": "models:/fraud@champion"}, "replicas": 2})
    assert b.desired_children(md, resolved, settings) == b.desired_children(md, resolved, settings)


def test_online_features_mount_the_repo_and_pass_the_secret(
    settings: OperatorSettings, resolved: ResolvedModel
) -> None:
    from modelops.operator.api.v1alpha1.feature_materialization import FeatureStoreRef

    md = make_md(
        {
            "model": {"uri": "models:/fraud@champion"},
            "features": {
                "materializationRef": {"name": "customer-features"},
                "entityKey": "customer_id",
                "features": ["customer_stats:avg_amount_30d", "customer_stats:txn_count_7d"],
            },
        }
    )
    store = FeatureStoreRef.model_validate(
        {"configMapRef": {"name": "feature-repo"}, "secretRef": {"name": "feast-online"}}
    )
    dep = b.build_deployment(md, resolved, settings, store)
    env = env_of(dep)
    assert env["FEATURE_REPO"] == "/feature-repo"
    assert env["FEATURE_ENTITY_KEY"] == "customer_id"
    assert env["FEATURE_REFS"] == "customer_stats:avg_amount_30d,customer_stats:txn_count_7d"
    pod = dep["spec"]["template"]["spec"]
    assert {"name": "feature-repo", "configMap": {"name": "feature-repo"}} in pod["volumes"]
    assert {"secretRef": {"name": "feast-online"}} in pod["containers"][0]["envFrom"]
    # Without a resolved feature store (materialization missing) nothing is mounted.
    bare = b.build_deployment(md, resolved, settings, None)
    assert "FEATURE_REPO" not in env_of(bare)


def test_the_prediction_log_policy_reaches_the_runtime(
    settings: OperatorSettings, resolved: ResolvedModel
) -> None:
    md = make_md(
        {
            "model": {"uri": "models:/fraud@champion"},
            "predictionLog": {
                "enabled": True,
                "redisUrl": "redis://r:6379/1",
                "columns": {"exclude": ["ssn"], "hash": ["zip"]},
                "hashKeySecretRef": {"name": "log-key", "key": "k"},
                "maxAge": "1d",
            },
        }
    )
    env = {
        e["name"]: e
        for e in b.build_deployment(md, resolved, settings)["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
    }
    assert env["PREDICTION_LOG_EXCLUDE_COLUMNS"]["value"] == '["ssn"]'
    assert env["PREDICTION_LOG_HASH_COLUMNS"]["value"] == '["zip"]'
    assert "PREDICTION_LOG_INCLUDE_COLUMNS" not in env
    assert env["PREDICTION_LOG_HASH_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "log-key", "key": "k"}
    }
    assert env["PREDICTION_LOG_MAX_AGE_SECONDS"]["value"] == "86400"
    assert env["PREDICTION_LOG_MAX_ROWS_PER_SECOND"]["value"] == "1000"
