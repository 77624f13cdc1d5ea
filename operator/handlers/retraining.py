"""kopf adapters for retraining: launch the user's training Job when a drift run asks for it,
and read the Job's end (and the version it registered) into the monitor's status."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta
from typing import Any

import kopf

from modelops.operator.api import kinds
from modelops.operator.api.v1alpha1.drift_monitor import (
    DriftMonitor,
    DriftMonitorStatus,
    DriftResult,
    RetrainStatus,
)
from modelops.operator.api.v1alpha1.model_deployment import ModelDeployment
from modelops.operator.api.v1alpha1.schedule import duration_seconds
from modelops.operator.clients import kube, registry
from modelops.operator.handlers import events, parsing, scaffold
from modelops.operator.resources.common import managed_labels
from modelops.operator.resources.drift_monitor import DEFAULT_WINDOW, DriftTarget, drift_target
from modelops.operator.resources.retraining import COMPONENT, build_retrain_job
from modelops.operator.settings import get_settings
from modelops.operator.status import retraining as policy
from modelops.operator.status.allowlists import tracking_uri_allowed
from modelops.operator.status.runs import controller, terminated_message

KIND = kinds.DRIFT_MONITOR
log = logging.getLogger(__name__)
LAST_WORDS = 500
CREATE_GRACE = timedelta(seconds=60)


def decide(
    body: dict[str, Any], dm: DriftMonitor, status: DriftMonitorStatus, result: DriftResult
) -> RetrainStatus | None:
    """A new run to launch for this result, or None (posting why a wanted run was held back)."""
    reason = policy.trigger(dm, result)
    if reason is None or dm.spec.retrain is None:
        return None
    now = scaffold.now()
    why_not = policy.held_back(status.retraining, dm.spec.retrain.cooldown, now)
    if why_not is not None:
        events.info(body, "RetrainSkipped", f"{reason} in {result.job_name}: {why_not}")
        return None
    return policy.started(dm.metadata["name"], secrets.token_hex(8), reason, result.job_name, now)


def figures(result: DriftResult) -> dict[str, Any]:
    """What the run found, for the training code to read (MODELOPS_RETRAIN_FIGURES)."""
    out: dict[str, Any] = {
        "driftShare": result.drift_share,
        "datasetDrift": result.dataset_drift,
        "driftedColumns": result.drifted_columns or [],
    }
    perf = result.performance
    if perf is not None:
        out["performance"] = {m.name: m.value for m in perf.metrics or []}
        out["labelled"] = perf.labelled
    return out


async def _target(dm: DriftMonitor) -> DriftTarget | None:
    namespace = dm.metadata["namespace"]
    md_body = await asyncio.to_thread(
        kube.get, kinds.MODEL_DEPLOYMENT.kind, namespace, dm.spec.model_deployment_ref.name
    )
    if md_body is None:
        return None
    md = ModelDeployment.model_validate(
        {k: md_body.get(k) for k in ("apiVersion", "kind", "metadata", "spec", "status")}
    )
    return drift_target(md, get_settings())


async def launch(
    body: dict[str, Any], dm: DriftMonitor, run: RetrainStatus, result: DriftResult
) -> None:
    """Create the Job the status already names; a failure to create it ends the run."""
    try:
        target = await _target(dm)
    except Exception as exc:  # the apiserver: the run ends, the next breach may start one
        await _finish(dm, run, None, f"could not read the ModelDeployment: {exc}"[:1000])
        return
    if target is None or target.model_name is None:
        await _finish(dm, run, None, "the ModelDeployment serves no registered model to retrain")
        return
    end = (result.completion_time or scaffold.now()).timestamp()
    window = duration_seconds(dm.spec.current.window or DEFAULT_WINDOW)
    job = build_retrain_job(dm, target, run, figures(result), (end - window, end), get_settings())
    try:
        await asyncio.to_thread(kube.apply_child, job)
    except Exception as exc:
        await _finish(dm, run, None, f"could not create Job {run.job_name}: {exc}"[:1000])
        return
    events.info(body, "RetrainStarted", f"{run.job_name}: {run.message}")


async def _finish(dm: DriftMonitor, run: RetrainStatus, version: str | None, message: str) -> None:
    ns, name = dm.metadata["namespace"], dm.metadata["name"]
    async with scaffold.fresh(KIND.kind, DriftMonitor, ns, name) as found:
        if found is None:
            return
        body, fresh = found
        current = fresh.status.retraining if fresh.status else None
        if current is None or current.job_name != run.job_name or current.phase != "Running":
            return  # recorded already (the Job's event and the periodic pass both look)
        done = policy.finished(current, version, message, scaffold.now())
        status = (fresh.status or DriftMonitorStatus()).model_copy(update={"retraining": done})
        old = fresh.status.wire() if fresh.status else {}
        await scaffold.write_status(KIND.kind, fresh.metadata, old, status.wire())
    if version is not None:
        events.info(body, "RetrainSucceeded", f"{run.job_name}: {message}")
    else:
        events.warn(body, "RetrainFailed", f"{run.job_name}: {message}")


async def settle(dm: DriftMonitor) -> None:
    """Record the end of the running retraining Job, if it has ended. Called on the Job's
    events and on every periodic pass (a missed event, a registry that was down)."""
    run = dm.status.retraining if dm.status else None
    if run is None or run.phase != "Running":
        return
    ns = dm.metadata["namespace"]
    job = await asyncio.to_thread(kube.get, kinds.JOB.kind, ns, run.job_name)
    if job is None:
        # Status names the run before the Job is created: a pass in between is no loss.
        if scaffold.now() - run.started_at < CREATE_GRACE:
            return
        await _finish(dm, run, None, f"Job {run.job_name} is gone")
        return
    ref = controller(job)
    if ref is None or ref.get("uid") != dm.metadata.get("uid"):
        await _finish(dm, run, None, f"Job {run.job_name} was not made by this monitor")
        return
    outcome = policy.job_outcome(job)
    if outcome is None:
        return
    succeeded, message = outcome
    if not succeeded:
        said = await _last_words(ns, job)
        await _finish(dm, run, None, f"{message}; the container said: {said}" if said else message)
        return
    assert dm.spec.retrain is not None
    target = await _target(dm)
    if target is None or target.model_name is None:
        await _finish(dm, run, None, "the ModelDeployment is gone: no registry to check")
        return
    settings = get_settings()
    if not tracking_uri_allowed(
        target.tracking_uri, settings.mlflow_tracking_uri, settings.allowed_tracking_uris
    ):
        # The operator asks only registries the platform allows (the spec may have changed
        # since the run started).
        await _finish(dm, run, None, f"trackingUri {target.tracking_uri} is not allowed here")
        return
    try:
        version, message = await asyncio.to_thread(
            registry.retrained_version,
            target.model_name,
            dm.spec.retrain.alias,
            policy.TAG,
            run.retrain_id,
            target.tracking_uri,
            settings,
        )
    except Exception as exc:  # the registry is down: the next pass asks again
        log.warning(f"Could not check {run.job_name}'s registered version: {exc}")
        return
    await _finish(dm, run, version, message)


async def settle_quietly(dm: DriftMonitor) -> None:
    """settle() for the periodic pass: a failure is logged and tried again next pass."""
    try:
        await settle(dm)
    except Exception as exc:
        log.warning(f"Could not settle the retraining run of {dm.metadata['name']}: {exc}")


async def _last_words(namespace: str, job: dict[str, Any]) -> str | None:
    """The end of what the training container printed (its termination message falls back to
    its last log lines), from a pod of this Job: why it failed, in status."""
    uid = job["metadata"].get("uid")
    pods = await asyncio.to_thread(
        kube.list_labelled, kinds.POD.kind, namespace, f"batch.kubernetes.io/controller-uid={uid}"
    )
    for pod in pods:
        said = terminated_message(pod)
        if said:
            return said.strip()[-LAST_WORDS:]
    return None


@kopf.on.event(*kinds.JOB.resource, labels=managed_labels(COMPONENT), id="retrain-jobs")
async def on_retrain_job(body: kopf.Body, **_: Any) -> None:
    if policy.job_outcome(dict(body)) is None:
        return
    ref = controller(dict(body))
    if ref is None or ref.get("kind") != KIND.kind:
        return
    dm_body = await asyncio.to_thread(
        kube.get, KIND.kind, body["metadata"]["namespace"], ref["name"]
    )
    if dm_body is None or dm_body["metadata"].get("uid") != ref.get("uid"):
        return
    await settle_quietly(parsing.parse(DriftMonitor, dm_body))
