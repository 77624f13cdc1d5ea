"""Pure policy for retraining: what a finished drift run starts, what holds it back (a run in
progress, the cooldown), and how a training Job's end reads in status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from modelops.operator.api.v1alpha1.drift_monitor import DriftMonitor, DriftResult, RetrainStatus
from modelops.operator.api.v1alpha1.schedule import duration_seconds
from modelops.operator.status.drift_monitor import BREACHED

Reason = Literal["Drift", "PerformanceBreach"]
TAG = "modelops.retrain_id"


def trigger(dm: DriftMonitor, result: DriftResult) -> Reason | None:
    """What in a successful run asks for retraining, per the spec's on* settings."""
    spec = dm.spec
    if spec.retrain is None or result.error:
        return None
    perf = result.performance
    breach = perf is not None and perf.reason == BREACHED
    if breach and spec.on_performance_breach is not None and spec.on_performance_breach.retrain:
        return "PerformanceBreach"
    if result.dataset_drift and spec.on_drift.retrain:
        return "Drift"
    return None


def held_back(current: RetrainStatus | None, cooldown: str, now: datetime) -> str | None:
    """Why no run may start now: one at a time, and none within the cooldown after the last
    one finished (a breach repeated on every scheduled run must not become a retrain storm)."""
    if current is None:
        return None
    if current.phase == "Running":
        return f"retraining run {current.job_name} is still running"
    finished = current.finished_at or current.started_at
    until = finished + timedelta(seconds=duration_seconds(cooldown))
    if now < until:
        return (
            f"cooling down after {current.job_name} until "
            f"{until.isoformat().replace('+00:00', 'Z')}"
        )
    return None


def job_name(monitor: str, retrain_id: str) -> str:
    # The API's name limit (46) leaves room: 46 + len("-retrain-") + 8 = 63.
    return f"{monitor}-retrain-{retrain_id[:8]}"


def started(
    monitor: str, retrain_id: str, reason: Reason, trigger_job: str | None, now: datetime
) -> RetrainStatus:
    return RetrainStatus(
        phase="Running",
        job_name=job_name(monitor, retrain_id),
        retrain_id=retrain_id,
        reason=reason,
        trigger=trigger_job,
        started_at=now,
        message=f"Started by {reason} found in {trigger_job}",
    )


def finished(
    current: RetrainStatus, version: str | None, message: str, now: datetime
) -> RetrainStatus:
    """Succeeded only with a version proven to be this run's (tagged with its id)."""
    return current.model_copy(
        update={
            "phase": "Succeeded" if version is not None else "Failed",
            "version": version,
            "finished_at": now,
            "message": message,
        }
    )


def job_outcome(job: dict[str, object]) -> tuple[bool, str] | None:
    """(succeeded, the Job's own reason) once a Job has finished; None while it runs."""
    status = job.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    for c in conditions if isinstance(conditions, list) else []:
        if not isinstance(c, dict) or c.get("status") != "True":
            continue
        if c.get("type") == "Complete":
            return True, "the Job completed"
        if c.get("type") == "Failed":
            why = c.get("message") or c.get("reason") or "failed"
            return False, f"the Job failed: {why}"
    return None
