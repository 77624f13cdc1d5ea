"""kopf adapters for DriftMonitor: schedule the drift CronJob, read finished runs into status."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import urllib.request
from typing import Any

import kopf

from modelops.operator import drift_status, metrics
from modelops.operator.api.base import GROUP, VERSION
from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor, DriftMonitorStatus
from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment
from modelops.operator.handlers import job_results, locks, parsing, scaffold
from modelops.operator.k8s import apply as k8s
from modelops.operator.resources.drift_monitor import (
    COMPONENT,
    build_drift_cronjob,
    drift_target,
)
from modelops.operator.settings import get_settings

PLURAL = "driftmonitors"
KIND = "DriftMonitor"


def _parse(body: dict[str, Any]) -> DriftMonitor:
    return parsing.parse(DriftMonitor, body)


async def _write_status(dm: DriftMonitor, status: DriftMonitorStatus) -> None:
    old = dm.status.wire() if dm.status else {}
    await scaffold.write_status(KIND, dm.metadata, old, status.wire())


async def reconcile(namespace: str, name: str, logger: logging.Logger | Any) -> None:
    """Apply the CronJob for the target's current model version; status says what blocks it."""

    async def work(body: dict[str, Any]) -> None:
        await _reconcile(body, logger)

    await scaffold.reconcile(KIND, namespace, name, work)


async def _reconcile(body: dict[str, Any], logger: logging.Logger | Any) -> None:
    dm = _parse(body)
    settings = get_settings()
    namespace = dm.metadata["namespace"]
    target_name = dm.spec.model_deployment_ref.name
    md_body = await asyncio.to_thread(k8s.get, "ModelDeployment", namespace, target_name)
    status = dm.status or DriftMonitorStatus()
    problem: tuple[str, str] | None = None
    if md_body is None:
        problem = (
            drift_status.TARGET_NOT_FOUND,
            f"ModelDeployment {target_name} does not exist in {namespace}",
        )
    else:
        md = ModelDeployment.model_validate(
            {k: md_body.get(k) for k in ("apiVersion", "kind", "metadata", "spec", "status")}
        )
        target = drift_target(md, settings)
        if target.model_uri is None and dm.spec.reference.uri is None:
            problem = (
                drift_status.TARGET_NOT_DEPLOYED,
                f"ModelDeployment {target_name} serves no model version yet",
            )
        else:
            cron = build_drift_cronjob(dm, target, settings)
            await asyncio.to_thread(k8s.apply, cron)
            status = status.model_copy(
                update={
                    "cron_job_name": cron["metadata"]["name"],
                    "model_version": target.model_version,
                }
            )
    status = status.model_copy(
        update={
            "observed_generation": dm.metadata.get("generation"),
            "conditions": drift_status.conditions(dm, status, problem, scaffold.now()),
        }
    )
    await _write_status(dm, status)
    if problem is not None:
        logger.info(f"DriftMonitor not scheduled: {problem[1]}")


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def on_drift_monitor_change(meta: kopf.Meta, logger: kopf.Logger, **_: Any) -> None:
    await reconcile(meta["namespace"], meta["name"], logger)


@kopf.timer(GROUP, VERSION, PLURAL, interval=get_settings().model_poll_seconds, initial_delay=5)
async def resync_drift_monitor(meta: kopf.Meta, logger: kopf.Logger, **_: Any) -> None:
    """Follow the target's rollouts (the reference is the served version's training data)."""
    await reconcile(meta["namespace"], meta["name"], logger)


async def record_result(
    namespace: str, name: str, job_name: str, doc: dict[str, Any], logger: Any
) -> None:
    async with locks.lock_for(KIND, namespace, name):
        body = await asyncio.to_thread(k8s.get, KIND, namespace, name)
        if body is None:
            return
        dm = _parse(body)
        if drift_status.already_recorded(dm.status, job_name):
            return
        now = scaffold.now()
        result = drift_status.to_drift_result(doc, job_name, now)
        status = drift_status.record_run(dm.status, result)
        status = status.model_copy(
            update={
                "observed_generation": dm.metadata.get("generation"),
                "conditions": drift_status.conditions(dm, status, None, now),
            }
        )
        await _write_status(dm, status)
    if result.error:
        kopf.warn(body, reason="DriftCheckFailed", message=f"{job_name}: {result.error}")
        return
    metrics.DRIFT_SHARE.labels(namespace, name).set(result.drift_share or 0.0)
    metrics.DATASET_DRIFT.labels(namespace, name).set(1 if result.dataset_drift else 0)
    summary = (
        f"{job_name}: drift share {result.drift_share} "
        f"(threshold {dm.spec.threshold.drift_share}), drifted columns: "
        f"{', '.join(result.drifted_columns or []) or 'none'}"
    )
    if not result.dataset_drift:
        kopf.info(body, reason="NoDrift", message=summary)
        return
    kopf.warn(body, reason="DriftDetected", message=summary)
    await _on_drift(dm, body, result, logger)


async def _on_drift(dm: DriftMonitor, body: dict[str, Any], result: Any, logger: Any) -> None:
    """The configured actions; each failure is an Event, never a crash or a lost result."""
    settings = get_settings()
    ns = dm.metadata["namespace"]
    payload = {
        "namespace": ns,
        "driftMonitor": dm.metadata["name"],
        "modelDeployment": dm.spec.model_deployment_ref.name,
        "modelVersion": dm.status.model_version if dm.status else None,
        **result.wire(),
    }
    if dm.spec.on_drift.tag_model_version:
        try:
            await asyncio.to_thread(_tag_model_version, dm, result)
            kopf.info(body, reason="ModelVersionTagged", message="Tagged modelops.drift=true")
        except Exception as exc:  # noqa: BLE001
            kopf.warn(body, reason="TagFailed", message=f"Could not tag the model version: {exc}")
    ref = dm.spec.on_drift.webhook_secret_ref
    if ref is not None:
        try:
            secret = await asyncio.to_thread(k8s.get, "Secret", ns, ref.name)
            if secret is None or ref.key not in (secret.get("data") or {}):
                raise ValueError(f"Secret {ref.name} has no key {ref.key}")
            url = base64.b64decode(secret["data"][ref.key]).decode().strip()
            await asyncio.to_thread(_post, url, payload, settings.webhook_timeout_seconds)
            kopf.info(body, reason="WebhookSent", message=f"Posted the result to {ref.name}")
        except Exception as exc:  # noqa: BLE001
            kopf.warn(body, reason="WebhookFailed", message=f"Webhook from {ref.name}: {exc}")


def _tag_model_version(dm: DriftMonitor, result: Any) -> None:
    from mlflow import MlflowClient

    md = k8s.get("ModelDeployment", dm.metadata["namespace"], dm.spec.model_deployment_ref.name)
    model = ((md or {}).get("status") or {}).get("model") or {}
    if not model.get("name") or not model.get("version"):
        raise ValueError("the target serves no registered model version")
    tracking = (md or {}).get("spec", {}).get("model", {}).get("trackingUri") or (
        get_settings().mlflow_tracking_uri
    )
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    client.set_model_version_tag(model["name"], model["version"], "modelops.drift", "true")
    client.set_model_version_tag(
        model["name"], model["version"], "modelops.drift_share", str(result.drift_share)
    )


def _post(url: str, payload: dict[str, Any], timeout: float) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        if response.status >= 300:
            raise ValueError(f"HTTP {response.status}")


def _recorded(body: dict[str, Any], job_name: str) -> bool:
    history = (body.get("status") or {}).get("history") or []
    return any(h.get("jobName") == job_name for h in history)


job_results.watch_results(COMPONENT, KIND, record_result, _recorded)
