"""kopf adapters for FeatureMaterialization: schedule runs, record them, watch freshness."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import kopf

from modelops.operator import metrics
from modelops.operator.api import kinds
from modelops.operator.api.v1alpha1.feature_materialization import (
    FeatureMaterialization,
    FeatureMaterializationStatus,
)
from modelops.operator.clients import kube
from modelops.operator.handlers import events, job_results, parsing, resync, scaffold
from modelops.operator.resources.feature_materialization import (
    COMPONENT,
    build_materialize_cronjob,
)
from modelops.operator.settings import get_settings
from modelops.operator.status import allowlists
from modelops.operator.status import feature_materialization as policy

KIND = kinds.FEATURE_MATERIALIZATION
# Freshness decays with the clock alone, so Stale is re-evaluated on its own timer.
STALENESS_INTERVAL = 30.0


def _export_freshness(fm: FeatureMaterialization, status: FeatureMaterializationStatus) -> None:
    ns, name = fm.metadata["namespace"], fm.metadata["name"]
    now = datetime.now(UTC)
    for view in status.feature_views or []:
        if view.materialized_until is not None:
            age = (now - view.materialized_until).total_seconds()
            metrics.FEATURE_FRESHNESS.labels(ns, name, view.name).set(age)


async def _write(fm: FeatureMaterialization, status: FeatureMaterializationStatus) -> None:
    status = status.model_copy(
        update={
            "observed_generation": fm.metadata.get("generation"),
            "conditions": policy.conditions(fm, status, scaffold.now()),
        }
    )
    _export_freshness(fm, status)
    old = fm.status.wire() if fm.status else {}
    await scaffold.write_status(KIND.kind, fm.metadata, old, status.wire())


async def reconcile(namespace: str, name: str, logger: logging.Logger | Any, apply: bool) -> None:
    async def work(body: dict[str, Any]) -> None:
        fm = parsing.parse(FeatureMaterialization, body)
        allowlists.check_scheduled(fm.spec.job, get_settings())
        status = fm.status or FeatureMaterializationStatus()
        if apply:
            cron = build_materialize_cronjob(fm, get_settings())
            await asyncio.to_thread(kube.apply_child, cron)
            status = status.model_copy(update={"cron_job_name": cron["metadata"]["name"]})
        await _write(fm, status)

    await scaffold.reconcile(KIND.kind, namespace, name, work)


@kopf.on.event(*KIND.resource)
async def on_deleted(type: str, namespace: str | None, name: str, **_: Any) -> None:
    """A deleted resource's series go with it."""
    if type == "DELETED" and namespace is not None:
        metrics.forget(KIND.kind, namespace, name)


@kopf.on.resume(*KIND.resource)
@kopf.on.create(*KIND.resource)
@kopf.on.update(*KIND.resource, field="spec")
async def on_feature_materialization_change(meta: kopf.Meta, logger: kopf.Logger, **_: Any) -> None:
    await reconcile(meta["namespace"], meta["name"], logger, apply=True)


@resync.every(KIND.kind, STALENESS_INTERVAL)
async def resync_feature_materialization(
    namespace: str, name: str, logger: logging.Logger, _listed: dict[str, Any] | None = None
) -> None:
    """Re-evaluate Stale and restore a drifted CronJob."""
    await reconcile(namespace, name, logger, apply=True)


async def record_result(
    namespace: str, name: str, uid: str, job_name: str, doc: dict[str, Any], logger: Any
) -> None:
    async with scaffold.fresh(KIND.kind, FeatureMaterialization, namespace, name) as found:
        if found is None or found[1].metadata.get("uid") != uid:
            return  # gone, or a namesake created since the run was scheduled
        if policy.already_recorded(found[1].status, job_name):
            return
        body, fm = found
        now = scaffold.now()
        run = policy.to_run(doc, job_name, now)
        views: dict[str, Any] = doc["views"] if isinstance(doc.get("views"), dict) else {}
        await _write(fm, policy.record_run(fm.status, run, views, now))
    if run.error:
        events.warn(body, "MaterializationFailed", f"{job_name}: {run.error}")
    else:
        until = run.materialized_until.isoformat() if run.materialized_until else "unknown"
        views_text = ", ".join(run.feature_views or []) or "no views"
        events.info(body, "Materialized", f"{job_name}: {views_text} up to {until}")


def _recorded(body: dict[str, Any], job_name: str) -> bool:
    last = (body.get("status") or {}).get("lastRun") or {}
    return bool(last.get("jobName") == job_name)


job_results.watch_results(COMPONENT, KIND.kind, record_result, _recorded)
