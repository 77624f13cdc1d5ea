"""kopf adapters for ModelDeployment: parse, resolve, build, apply, record status."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from modelops.operator import mlflow_registry, status
from modelops.operator.api.base import GROUP, VERSION
from modelops.operator.api.v1alpha1.feature_materialization import FeatureStoreRef
from modelops.operator.api.v1alpha1.model_deployment import (
    ModelDeployment,
    ResolvedModel,
)
from modelops.operator.handlers import parsing, scaffold
from modelops.operator.k8s import apply as k8s
from modelops.operator.planning import plan
from modelops.operator.resources.common import selector_labels
from modelops.operator.resources.model_deployment import (
    COMPONENT,
    desired_children,
    service_url,
)
from modelops.operator.settings import get_settings

PLURAL = "modeldeployments"
KIND = "ModelDeployment"
CHILD_KINDS = ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
CHILD_SELECTOR = f"app.kubernetes.io/managed-by=modelops,app.kubernetes.io/component={COMPONENT}"
SKIP_PREFLIGHT = "modelops.dev/skip-compatibility-check"

# Pre-flight results per pinned version: a version's files never change once registered.
_preflight_cache: dict[tuple[str, str], status.Compatibility] = {}


def _parse(body: dict[str, Any]) -> ModelDeployment:
    return parsing.parse(ModelDeployment, body)


async def _resolve(md: ModelDeployment) -> tuple[status.Resolution, status.Compatibility]:
    settings = get_settings()
    tracking = md.spec.model.tracking_uri or settings.mlflow_tracking_uri
    resolution = await asyncio.to_thread(
        mlflow_registry.resolve, md.spec.model.uri, tracking, settings
    )
    model = resolution.model
    if model is None or model.resolved_uri is None:
        return resolution, _previous_compatibility(md)
    if md.metadata.get("annotations", {}).get(SKIP_PREFLIGHT) == "true":
        return resolution, status.Compatibility(None, f"Skipped by the {SKIP_PREFLIGHT} annotation")
    key = (tracking, model.resolved_uri)
    compat = _preflight_cache.get(key)
    if compat is None:
        compat = await asyncio.to_thread(
            mlflow_registry.check_compatibility, model, tracking, settings
        )
        if compat.compatible is not None:
            _preflight_cache[key] = compat
    return resolution, compat


def _previous_compatibility(md: ModelDeployment) -> status.Compatibility:
    prev = status.condition(md.status, status.MODEL_COMPATIBLE)
    if prev is None or prev.status == "Unknown":
        return status.Compatibility(None, prev.message if prev else "")
    return status.Compatibility(prev.status == "True", prev.message)


def _pinned(md: ModelDeployment) -> ResolvedModel | None:
    """The version already rolled out, which a failed resolution must leave running."""
    return md.status.model if md.status and md.status.model else None


async def _features(
    md: ModelDeployment,
) -> tuple[FeatureStoreRef | None, tuple[bool | None, str, str] | None]:
    """The feature repo the runtime reads from, and FeaturesFresh from the materialization."""
    features = md.spec.features
    if features is None:
        return None, None
    ref = features.materialization_ref.name
    fm = await asyncio.to_thread(k8s.get, "FeatureMaterialization", md.metadata["namespace"], ref)
    if fm is None:
        return None, (False, "MaterializationNotFound", f"FeatureMaterialization {ref} not found")
    store = FeatureStoreRef.model_validate(fm.get("spec", {}).get("featureStore") or {})
    stale = next(
        (c for c in (fm.get("status") or {}).get("conditions") or [] if c["type"] == "Stale"),
        None,
    )
    if stale is None or stale["status"] == "Unknown":
        return store, (None, "NotMaterializedYet", f"{ref} has not materialized anything yet")
    if stale["status"] == "True":
        return store, (False, "FeaturesStale", f"{ref}: {stale.get('message', '')}")
    return store, (True, "Fresh", f"{ref}: {stale.get('message', '')}")


def _previous_resolution(md: ModelDeployment) -> status.Resolution:
    """Without asking the registry (child events), the last resolution still stands."""
    prev = status.condition(md.status, status.MODEL_RESOLVED)
    if prev is not None and prev.status == "False":
        return status.Resolution(None, prev.reason, prev.message)
    return status.Resolution(_pinned(md))


async def reconcile(namespace: str, name: str, logger: logging.Logger | Any, resolve: bool) -> None:
    """One idempotent pass: create, update, resume, the poll timer and child events all land
    here and converge to the same children and status."""

    async def work(body: dict[str, Any]) -> None:
        await _reconcile(body, logger, resolve)

    await scaffold.reconcile(KIND, namespace, name, work)


async def _reconcile(body: dict[str, Any], logger: logging.Logger | Any, resolve: bool) -> None:
    md = _parse(body)
    settings = get_settings()
    ns, name = md.metadata["namespace"], md.metadata["name"]
    pinned = _pinned(md)
    if not resolve and pinned is None:
        return  # nothing rolled out yet: the ModelDeployment's own handler is on it
    if resolve:
        resolution, compat = await _resolve(md)
    else:
        resolution, compat = _previous_resolution(md), _previous_compatibility(md)

    # What to serve: the resolved version, unless it cannot be resolved or loaded, in which
    # case whatever already runs stays untouched.
    served = resolution.model if resolution.model and compat.compatible is not False else pinned

    feature_store, features_fresh = await _features(md)
    deployment: dict[str, Any] | None = None
    if served is not None:
        desired = desired_children(md, served, settings, feature_store)
        observed = await asyncio.to_thread(
            k8s.list_owned, CHILD_KINDS, ns, md.metadata["uid"], CHILD_SELECTOR
        )
        actions = plan(desired, observed)
        for obj in actions.apply:
            applied = await asyncio.to_thread(k8s.apply, obj)
            if obj["kind"] == "Deployment":
                deployment = applied
        for key in actions.delete:
            await asyncio.to_thread(k8s.delete, key, ns)
            logger.info(f"Deleted {key[1]} {key[2]}, no longer desired")
        if pinned is None:
            kopf.info(body, reason="Deployed", message=f"Deploying {served.resolved_uri}")
        elif pinned.resolved_uri != served.resolved_uri:
            kopf.info(
                body,
                reason="RolledOut",
                message=f"Rolling out {served.resolved_uri} (was {pinned.resolved_uri})",
            )
    else:
        deployment = await asyncio.to_thread(k8s.get, "Deployment", ns, name)

    new_status = status.compute_status(
        md,
        status.Observed(resolution, compat, deployment, served, features_fresh),
        scaffold.now(),
        url=service_url(md, settings),
        selector=",".join(f"{k}={v}" for k, v in selector_labels(name, COMPONENT).items()),
    )
    old = md.status.wire() if md.status else {}
    await scaffold.write_status(KIND, md.metadata, old, new_status.wire())
    if not resolve:
        return
    if compat.compatible is False:
        kopf.warn(body, reason=status.INCOMPATIBLE, message=compat.message)
    if resolution.model is None:
        kopf.warn(body, reason=resolution.reason, message=resolution.message)
        raise kopf.TemporaryError(resolution.message, delay=30)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
@kopf.on.update(GROUP, VERSION, PLURAL, field="metadata.annotations")
async def on_model_deployment_change(
    meta: kopf.Meta, logger: kopf.Logger, retry: int, **_: Any
) -> None:
    try:
        await reconcile(meta["namespace"], meta["name"], logger, resolve=True)
    except kopf.TemporaryError as e:
        # Exponential backoff while the registry is down, capped at five minutes.
        raise kopf.TemporaryError(str(e), delay=min(300, 5 * 2**retry)) from None


@kopf.timer(GROUP, VERSION, PLURAL, interval=get_settings().model_poll_seconds, initial_delay=5)
async def resync_model_deployment(meta: kopf.Meta, logger: kopf.Logger, **_: Any) -> None:
    """Re-resolve the alias (a moved alias rolls out) and restore drifted children."""
    try:
        await reconcile(meta["namespace"], meta["name"], logger, resolve=True)
    except kopf.TemporaryError:
        pass  # status already says why; the next tick retries


def _owner_name(body: kopf.Body) -> str | None:
    for ref in body.get("metadata", {}).get("ownerReferences", []):
        if ref.get("kind") == KIND and ref.get("controller"):
            return str(ref["name"])
    return None


async def _reconcile_owner(body: kopf.Body, logger: kopf.Logger) -> None:
    owner = _owner_name(body)
    ns = body.get("metadata", {}).get("namespace")
    if owner is None or ns is None:
        return
    await reconcile(ns, owner, logger, resolve=False)


_CHILD_LABELS = {
    "app.kubernetes.io/managed-by": "modelops",
    "app.kubernetes.io/component": COMPONENT,
}


@kopf.on.event("apps", "v1", "deployments", labels=_CHILD_LABELS)
async def on_predictor_deployment_event(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
    """Readiness changes flow into the owner's status; a hand edit or deletion is undone."""
    await _reconcile_owner(body, logger)


@kopf.on.event("", "v1", "services", labels=_CHILD_LABELS)
@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels=_CHILD_LABELS)
@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=_CHILD_LABELS)
async def on_predictor_child_event(
    type: str | None, body: kopf.Body, logger: kopf.Logger, **_: Any
) -> None:
    if type in ("DELETED", "MODIFIED"):
        await _reconcile_owner(body, logger)
