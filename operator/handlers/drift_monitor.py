"""kopf adapters for DriftMonitor: schedule the drift CronJob, read finished runs into status."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from modelops.operator import metrics
from modelops.operator.api import kinds
from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor, DriftMonitorStatus
from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment
from modelops.operator.clients import kube
from modelops.operator.handlers import events, job_results, parsing, resync, retraining, scaffold
from modelops.operator.resources.drift_monitor import (
    COMPONENT,
    build_drift_cronjob,
    drift_target,
)
from modelops.operator.settings import get_settings
from modelops.operator.status import allowlists
from modelops.operator.status import drift_monitor as policy
from modelops.operator.status.conditions import Problem

KIND = kinds.DRIFT_MONITOR


async def _write_status(dm: DriftMonitor, status: DriftMonitorStatus) -> None:
    old = dm.status.wire() if dm.status else {}
    await scaffold.write_status(KIND.kind, dm.metadata, old, status.wire())


async def reconcile(namespace: str, name: str, logger: logging.Logger | Any) -> None:
    """Apply the CronJob for the target's current model version; status says what blocks it."""

    seen: list[DriftMonitor] = []

    async def work(body: dict[str, Any]) -> None:
        seen.append(await _reconcile(body, logger))

    await scaffold.reconcile(KIND.kind, namespace, name, work)
    if seen:
        # Outside the pass's lock, which recording the Job's end takes again.
        await retraining.settle_quietly(seen[0])


async def _reconcile(body: dict[str, Any], logger: logging.Logger | Any) -> DriftMonitor:
    dm = parsing.parse(DriftMonitor, body)
    settings = get_settings()
    allowlists.check_scheduled(dm.spec.job, settings)
    namespace = dm.metadata["namespace"]
    target_name = dm.spec.model_deployment_ref.name
    md_body = await asyncio.to_thread(kube.get, kinds.MODEL_DEPLOYMENT.kind, namespace, target_name)
    status = dm.status or DriftMonitorStatus()
    problem: Problem | None = None
    if md_body is None:
        problem = (
            policy.TARGET_NOT_FOUND,
            f"ModelDeployment {target_name} does not exist in {namespace}",
        )
    else:
        md = ModelDeployment.model_validate(
            {k: md_body.get(k) for k in ("apiVersion", "kind", "metadata", "spec", "status")}
        )
        target = drift_target(md, settings)
        if target.model_uri is None and dm.spec.reference.uri is None:
            problem = (
                policy.TARGET_NOT_DEPLOYED,
                f"ModelDeployment {target_name} serves no model version yet",
            )
        else:
            cron = build_drift_cronjob(dm, target, settings)
            await asyncio.to_thread(kube.apply_child, cron)
            status = status.model_copy(
                update={
                    "cron_job_name": cron["metadata"]["name"],
                    "model_version": target.model_version,
                }
            )
    status = status.model_copy(
        update={
            "observed_generation": dm.metadata.get("generation"),
            "conditions": policy.conditions(dm, status, problem, scaffold.now()),
        }
    )
    await _write_status(dm, status)
    if problem is not None:
        logger.info(f"DriftMonitor not scheduled: {problem[1]}")
    return dm


@kopf.on.event(*KIND.resource)
async def on_deleted(type: str, namespace: str | None, name: str, **_: Any) -> None:
    """A deleted resource's series go with it."""
    if type == "DELETED" and namespace is not None:
        metrics.forget(KIND.kind, namespace, name)


@kopf.on.resume(*KIND.resource)
@kopf.on.create(*KIND.resource)
@kopf.on.update(*KIND.resource, field="spec")
async def on_drift_monitor_change(meta: kopf.Meta, logger: kopf.Logger, **_: Any) -> None:
    await reconcile(meta["namespace"], meta["name"], logger)


@resync.every(KIND.kind, get_settings().model_poll_seconds)
async def resync_drift_monitor(
    namespace: str, name: str, logger: logging.Logger, _listed: dict[str, Any] | None = None
) -> None:
    """Follow the target's rollouts (the reference is the served version's training data)."""
    await reconcile(namespace, name, logger)


async def record_result(
    namespace: str, name: str, uid: str, job_name: str, doc: dict[str, Any], logger: Any
) -> None:
    async with scaffold.fresh(KIND.kind, DriftMonitor, namespace, name) as found:
        if found is None or found[1].metadata.get("uid") != uid:
            return  # gone, or a namesake created since the run was scheduled
        if policy.already_recorded(found[1].status, job_name):
            return
        body, dm = found
        now = scaffold.now()
        result = policy.to_drift_result(doc, job_name, now)
        scores = policy.column_scores(doc)
        status = policy.record_run(dm.status, result)
        # Decided under the lock and written before the Job exists: a result seen twice
        # (its pod's and its Job's events) can start one run at most.
        run = retraining.decide(body, dm, status, result)
        status = status.model_copy(
            update={
                "observed_generation": dm.metadata.get("generation"),
                "conditions": policy.conditions(dm, status, None, now),
                **({"retraining": run} if run is not None else {}),
            }
        )
        await _write_status(dm, status)
    if run is not None:
        await retraining.launch(body, dm, run, result)
    if result.error:
        events.warn(body, "DriftCheckFailed", f"{job_name}: {result.error}")
        return
    metrics.DRIFT_SHARE.labels(namespace, name).set(result.drift_share or 0.0)
    metrics.DATASET_DRIFT.labels(namespace, name).set(1 if result.dataset_drift else 0)
    if scores is not None:
        metrics.record_columns(namespace, name, scores, list(result.drifted_columns or []))
    _performance(body, namespace, name, job_name, result.performance)
    summary = (
        f"{job_name}: drift share {result.drift_share} "
        f"(threshold {dm.spec.threshold.drift_share}), drifted columns: "
        f"{', '.join(result.drifted_columns or []) or 'none'}"
    )
    if not result.dataset_drift:
        events.info(body, "NoDrift", summary)
        return
    events.warn(body, "DriftDetected", summary)
    for warning, reason, message in policy.action_events(doc, job_name):
        (events.warn if warning else events.info)(body, reason, message)


def _performance(body: dict[str, Any], namespace: str, name: str, job_name: str, perf: Any) -> None:
    if perf is None:
        return
    if perf.join_rate is not None:
        metrics.PERFORMANCE_LABELLED.labels(namespace, name).set(perf.join_rate)
    for m in perf.metrics or []:
        if m.value is not None:
            metrics.MODEL_PERFORMANCE.labels(namespace, name, m.name).set(m.value)
    labelled = f"{perf.labelled} of {perf.predictions} predictions labelled"
    if perf.reason == policy.BREACHED:
        events.warn(body, policy.PERFORMANCE_DEGRADED, f"{job_name}: {perf.message} ({labelled})")
    elif perf.reason in (policy.TOO_FEW_LABELS, policy.NOT_COMPUTED):
        events.info(body, perf.reason, f"{job_name}: {perf.message} ({labelled})")
    elif perf.reason == policy.WITHIN_THRESHOLDS:
        events.info(body, "PerformanceWithinThresholds", f"{job_name}: {labelled}")


def _recorded(body: dict[str, Any], job_name: str) -> bool:
    history = (body.get("status") or {}).get("history") or []
    return any(h.get("jobName") == job_name for h in history)


job_results.watch_results(COMPONENT, KIND.kind, record_result, _recorded)
