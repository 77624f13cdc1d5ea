"""Pure builders: a ModelDeployment and its resolved model -> Deployment, Service, HPA, PDB."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from modelops.operator.api.v1alpha1.feature_materialization import FeatureStoreRef
from modelops.operator.api.v1alpha1.model_deployment import (
    RESERVED_ENV,
    ModelDeployment,
    ResolvedModel,
)
from modelops.operator.api.v1alpha1.schedule import duration_seconds
from modelops.operator.resources.common import (
    RUNTIME_PORT,
    child_metadata,
    common_labels,
    container_security_context,
    pod_options,
    pod_security_context,
    selector_labels,
    tmp_volume,
)
from modelops.operator.resources.traffic import (
    TRAFFIC_KEY,
    TRAFFIC_MOUNT,
    build_traffic_config_map,
    config_map_name,
    target,
)
from modelops.operator.settings import OperatorSettings

COMPONENT = "predictor"
DEFAULT_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "2Gi"},
}
DEFAULT_CPU_TARGET = 80


@dataclass(frozen=True)
class RolloutPods:
    """What the pods of a ModelDeployment with a rollout strategy carry besides the stable
    version: the candidate (during a rollout), the key that verifies pushes, the split."""

    public_key: str
    candidate: ResolvedModel | None = None
    traffic: dict[str, Any] = field(default_factory=dict)


def takes_rollouts(md: ModelDeployment) -> bool:
    return md.spec.rollout.strategy != "Direct" or md.spec.rollout.candidate is not None


def _rollout_env(md: ModelDeployment, rollout: RolloutPods) -> list[dict[str, Any]]:
    env = [
        {"name": "TRAFFIC_FILE", "value": f"{TRAFFIC_MOUNT}/{TRAFFIC_KEY}"},
        {"name": "ROLLOUT_PUBLIC_KEY", "value": rollout.public_key},
        {
            "name": "ROLLOUT_TARGET",
            "value": target(str(md.metadata["namespace"]), _name(md)),
        },
    ]
    cand = rollout.candidate
    if cand is not None:
        env += [
            {"name": "CANDIDATE_MODEL_URI", "value": cand.resolved_uri or ""},
            {"name": "CANDIDATE_MODEL_VERSION", "value": cand.version or ""},
        ]
    return env


def _owner(md: ModelDeployment) -> dict[str, Any]:
    return {"apiVersion": md.api_version, "kind": md.kind, "metadata": md.metadata}


def _name(md: ModelDeployment) -> str:
    return str(md.metadata["name"])


def desired_replicas(md: ModelDeployment) -> int | None:
    """The replica count the operator sets, or None when an HPA owns it."""
    spec = md.spec
    if spec.suspend:
        return 0
    if spec.autoscaling is not None:
        return None
    return 1 if spec.replicas is None else spec.replicas


def prediction_stream(namespace: str, name: str) -> str:
    """The Redis stream a deployment's prediction log goes to (DriftMonitors read it)."""
    return f"modelops:predictions:{namespace}:{name}"


def runtime_env(
    md: ModelDeployment, resolved: ResolvedModel, settings: OperatorSettings
) -> list[dict[str, Any]]:
    """The serving runtime's configuration; every name is a RuntimeSettings field."""
    spec = md.spec
    env: list[dict[str, Any]] = [
        {"name": "MODEL_URI", "value": resolved.resolved_uri or spec.model.uri},
        {"name": "MODEL_NAME", "value": resolved.name or _name(md)},
        {"name": "MODEL_VERSION", "value": resolved.version or ""},
        {
            "name": "MLFLOW_TRACKING_URI",
            "value": spec.model.tracking_uri or settings.mlflow_tracking_uri,
        },
        {"name": "TENANT", "value": str(md.metadata["namespace"])},
        {"name": "ALLOW_PICKLE", "value": str(spec.model.allow_pickle).lower()},
        {"name": "PORT", "value": str(RUNTIME_PORT)},
        {"name": "WORKERS", "value": str(spec.runtime.workers)},
        {"name": "BATCHING_ENABLED", "value": str(spec.batching.enabled).lower()},
        {"name": "MAX_BATCH_SIZE", "value": str(spec.batching.max_batch_size)},
        {"name": "MAX_LATENCY_MS", "value": str(spec.batching.max_latency_ms)},
    ]
    cache = spec.cache
    if cache is not None:
        env.append({"name": "CACHE_ENABLED", "value": "true"})
        env.append({"name": "CACHE_TTL_SECONDS", "value": str(duration_seconds(cache.ttl))})
        if cache.redis_secret_ref is not None:
            ref = cache.redis_secret_ref
            env.append(
                {
                    "name": "REDIS_URL",
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
        elif cache.redis_url:
            env.append({"name": "REDIS_URL", "value": cache.redis_url})
    log = spec.prediction_log
    if log.enabled:
        log_redis = prediction_log_redis_env(md, settings)
        env += [
            {"name": "PREDICTION_LOG_ENABLED", "value": "true"},
            {"name": "PREDICTION_LOG_SAMPLE_RATE", "value": str(log.sample_rate)},
            {"name": "PREDICTION_LOG_MAX_LEN", "value": str(log.max_len)},
            {
                "name": "PREDICTION_LOG_STREAM",
                "value": prediction_stream(str(md.metadata["namespace"]), _name(md)),
            },
        ]
        if log_redis is not None:
            env.append(log_redis)
        env += [
            {"name": "PREDICTION_LOG_MAX_AGE_SECONDS", "value": str(duration_seconds(log.max_age))},
            {"name": "PREDICTION_LOG_MAX_ROWS_PER_SECOND", "value": str(log.max_rows_per_second)},
        ]
        if log.columns is not None:
            lists = {
                "PREDICTION_LOG_INCLUDE_COLUMNS": log.columns.include,
                "PREDICTION_LOG_EXCLUDE_COLUMNS": log.columns.exclude or None,
                "PREDICTION_LOG_HASH_COLUMNS": log.columns.hash or None,
            }
            env += [{"name": n, "value": json.dumps(v)} for n, v in lists.items() if v is not None]
        if log.hash_key_secret_ref is not None:
            ref = log.hash_key_secret_ref
            env.append(
                {
                    "name": "PREDICTION_LOG_HASH_KEY",
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
    # User variables last, so they can override a default deliberately; never one that says
    # whose data this is (admission refuses them too: this is the second line).
    seen = {e["name"] for e in env}
    for var in spec.runtime.env or []:
        if var.name.upper() in RESERVED_ENV:
            continue
        if var.name in seen:
            env = [e for e in env if e["name"] != var.name]
        env.append({"name": var.name, "value": var.value})
    return env


def prediction_log_redis_env(
    md: ModelDeployment, settings: OperatorSettings
) -> dict[str, Any] | None:
    """PREDICTION_LOG_REDIS_URL as an env entry (a value or a Secret reference): the log's own
    Redis, else the cache's, else the operator default. The runtime writes the log where the
    drift job reads it because both take it from here."""
    log, cache = md.spec.prediction_log, md.spec.cache
    name = "PREDICTION_LOG_REDIS_URL"
    if log.redis_url:
        return {"name": name, "value": log.redis_url}
    if log.redis_secret_ref is not None:
        ref = log.redis_secret_ref
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
    if cache is not None and cache.redis_url:
        return {"name": name, "value": cache.redis_url}
    if cache is not None and cache.redis_secret_ref is not None:
        ref = cache.redis_secret_ref
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
    if settings.redis_url:
        return {"name": name, "value": settings.redis_url}
    return None


FEATURE_REPO_MOUNT = "/feature-repo"
PRE_STOP_SECONDS = 5
# The runtime's GRACEFUL_SHUTDOWN_SECONDS default: how long SIGTERM waits for in-flight requests.
DRAIN_SECONDS = 25


def _feature_env(md: ModelDeployment, store: FeatureStoreRef | None) -> list[dict[str, Any]]:
    features = md.spec.features
    if features is None or store is None:
        return []
    return [
        {"name": "FEATURE_REPO", "value": store.path or FEATURE_REPO_MOUNT},
        {"name": "FEATURE_ENTITY_KEY", "value": features.entity_key},
        {"name": "FEATURE_REFS", "value": ",".join(features.features)},
    ]


def build_deployment(
    md: ModelDeployment,
    resolved: ResolvedModel,
    settings: OperatorSettings,
    feature_store: FeatureStoreRef | None = None,
    rollout: RolloutPods | None = None,
) -> dict[str, Any]:
    name = _name(md)
    spec = md.spec
    labels = common_labels(name, COMPONENT, resolved.version)
    volume, mount = tmp_volume()
    resources = (
        spec.runtime.resources.wire() if spec.runtime.resources is not None else DEFAULT_RESOURCES
    )
    container: dict[str, Any] = {
        "name": "runtime",
        "image": spec.runtime.image or settings.runtime_image,
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": RUNTIME_PORT, "protocol": "TCP"}],
        "env": runtime_env(md, resolved, settings) + _feature_env(md, feature_store),
        "resources": resources,
        # A busy worker may take a moment to answer: 1 s (the default) would restart a pod
        # for being loaded, dropping everything in flight.
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        # Not ready until the model is loaded; a load failure keeps the pod alive, not ready.
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 2,
        },
        # Endpoints are withdrawn asynchronously: the pod keeps serving this long after it is
        # marked terminating, so kube-proxy and clients stop routing to it before SIGTERM.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        "securityContext": container_security_context(),
        "volumeMounts": [mount],
    }
    env_from = []
    if spec.model.credentials_secret_ref is not None:
        env_from.append({"secretRef": {"name": spec.model.credentials_secret_ref.name}})
    volumes = [volume]
    if spec.features is not None and feature_store is not None:
        if feature_store.secret_ref is not None:
            env_from.append({"secretRef": {"name": feature_store.secret_ref.name}})
        if feature_store.config_map_ref is not None:
            volumes.append(
                {"name": "feature-repo", "configMap": {"name": feature_store.config_map_ref.name}}
            )
            container["volumeMounts"].append(
                {"name": "feature-repo", "mountPath": FEATURE_REPO_MOUNT, "readOnly": True}
            )
    if env_from:
        container["envFrom"] = env_from
    if rollout is not None:
        container["env"] += _rollout_env(md, rollout)
        volumes.append(
            {
                "name": "traffic",
                "configMap": {"name": config_map_name(name), "optional": True},
            }
        )
        container["volumeMounts"].append(
            {"name": "traffic", "mountPath": TRAFFIC_MOUNT, "readOnly": True}
        )
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        # The preStop delay, then the runtime's drain of in-flight requests after SIGTERM.
        "terminationGracePeriodSeconds": PRE_STOP_SECONDS + DRAIN_SECONDS + 5,
        "containers": [container],
        "volumes": volumes,
    }
    pod_spec.update(pod_options(spec.runtime, selector_labels(name, COMPONENT)))
    if spec.runtime.node_selector:
        pod_spec["nodeSelector"] = dict(spec.runtime.node_selector)
    if spec.runtime.tolerations:
        pod_spec["tolerations"] = [t.wire() for t in spec.runtime.tolerations]
    deploy_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(name, COMPONENT)},
        "strategy": {
            "type": "RollingUpdate",
            # Never below the ready count during a model rollout.
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
        },
        "revisionHistoryLimit": 5,
        "template": {
            "metadata": {
                "labels": labels,
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(RUNTIME_PORT),
                    "prometheus.io/path": "/metrics",
                    "modelops.dev/model-uri": resolved.resolved_uri or spec.model.uri,
                },
            },
            "spec": pod_spec,
        },
    }
    replicas = desired_replicas(md)
    if replicas is not None:
        deploy_spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(_owner(md), name, labels),
        "spec": deploy_spec,
    }


def build_service(md: ModelDeployment, resolved: ResolvedModel) -> dict[str, Any]:
    name = _name(md)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(_owner(md), name, common_labels(name, COMPONENT)),
        "spec": {
            "type": md.spec.service.type,
            "selector": selector_labels(name, COMPONENT),
            "ports": [
                {
                    "name": "http",
                    "port": md.spec.service.port,
                    "targetPort": "http",
                    "protocol": "TCP",
                }
            ],
        },
    }


def build_hpa(md: ModelDeployment) -> dict[str, Any] | None:
    scaling = md.spec.autoscaling
    if scaling is None or md.spec.suspend:
        return None
    name = _name(md)
    metrics = []
    cpu = scaling.target_cpu_utilization_percentage
    mem = scaling.target_memory_utilization_percentage
    if cpu is not None or mem is None:
        metrics.append(_utilization("cpu", cpu or DEFAULT_CPU_TARGET))
    if mem is not None:
        metrics.append(_utilization("memory", mem))
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": child_metadata(_owner(md), name, common_labels(name, COMPONENT)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": metrics,
        },
    }


def _utilization(resource: str, percent: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": resource,
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }


def build_pdb(md: ModelDeployment) -> dict[str, Any] | None:
    """Only with 2 or more replicas: a PDB on a single replica would block node drains."""
    if md.spec.suspend:
        return None
    scaling = md.spec.autoscaling
    floor = scaling.min_replicas if scaling is not None else (desired_replicas(md) or 0)
    if floor < 2:
        return None
    name = _name(md)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": child_metadata(_owner(md), name, common_labels(name, COMPONENT)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(name, COMPONENT)},
        },
    }


def desired_children(
    md: ModelDeployment,
    resolved: ResolvedModel,
    settings: OperatorSettings,
    feature_store: FeatureStoreRef | None = None,
    rollout: RolloutPods | None = None,
) -> list[dict[str, Any]]:
    children = []
    if rollout is not None:
        # Before the Deployment: a pod it starts mounts the split in force, not the last one.
        children.append(build_traffic_config_map(_owner(md), _name(md), COMPONENT, rollout.traffic))
    children += [
        build_deployment(md, resolved, settings, feature_store, rollout),
        build_service(md, resolved),
    ]
    for optional in (build_hpa(md), build_pdb(md)):
        if optional is not None:
            children.append(optional)
    return children


def service_url(md: ModelDeployment, settings: OperatorSettings) -> str:
    port = md.spec.service.port
    host = f"{_name(md)}.{md.metadata['namespace']}.svc.{settings.cluster_domain}"
    return f"http://{host}" if port == 80 else f"http://{host}:{port}"
