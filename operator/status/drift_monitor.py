"""Pure status policy for DriftMonitors: job results -> lastRun, history and conditions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from modelops.operator.api.base import Condition
from modelops.operator.api.v1alpha1.drift_monitor import (
    DriftHistoryEntry,
    DriftMonitor,
    DriftMonitorStatus,
    DriftResult,
    PerformanceResult,
    PerformanceValue,
)
from modelops.operator.status.conditions import (
    LAST_RUN_SUCCEEDED,
    NO_RUN_YET,
    READY,
    RUN_FAILED,
    Problem,
    keep_transition_times,
    last_run_problem,
    last_run_verdict,
    make_condition,
    scheduled_ready,
    with_progress,
)
from modelops.operator.status.runs import parse_time

DRIFT_DETECTED = "DriftDetected"
PERFORMANCE_DEGRADED = "PerformanceDegraded"
BREACHED = "Breached"
WITHIN_THRESHOLDS = "WithinThresholds"
TOO_FEW_LABELS = "TooFewLabels"
NOT_COMPUTED = "NotComputed"
TARGET_NOT_FOUND = "TargetNotFound"
TARGET_NOT_DEPLOYED = "TargetNotDeployed"
NO_DRIFT = "NoDrift"
HISTORY_LIMIT = 10
# A result's lists are what a job said: capped, so no run can grow status without bound.
LIST_LIMIT = 100


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def to_performance(doc: Any) -> PerformanceResult | None:
    """The job's performance section, kept to its known fields and sizes."""
    if not isinstance(doc, dict):
        return None
    values = []
    for m in (doc.get("metrics") or [])[:8]:
        if not isinstance(m, dict):
            continue
        passed = m.get("passed")
        values.append(
            PerformanceValue(
                name=str(m.get("name"))[:32],
                value=_number(m.get("value")),
                min=_number(m.get("min")),
                max=_number(m.get("max")),
                passed=passed if isinstance(passed, bool) else None,
            )
        )
    reason = doc.get("reason")
    predictions, labelled = doc.get("predictions"), doc.get("labelled")
    version = doc.get("modelVersion")
    return PerformanceResult(
        model_version=str(version)[:16] if version is not None else None,
        window=str(doc["window"])[:16] if doc.get("window") else None,
        predictions=predictions if isinstance(predictions, int) else None,
        labelled=labelled if isinstance(labelled, int) else None,
        join_rate=_number(doc.get("joinRate")),
        reason=(
            reason
            if reason in (BREACHED, WITHIN_THRESHOLDS, TOO_FEW_LABELS, NOT_COMPUTED)
            else None
        ),
        message=str(doc.get("message") or "")[:1000] or None,
        metrics=values,
    )


def column_scores(doc: dict[str, Any]) -> dict[str, float] | None:
    """{column: score} from the result's columnScores (absent when the message had no room)."""
    raw = doc.get("columnScores")
    if not isinstance(raw, dict):
        return None
    scores = {}
    for column, entry in list(raw.items())[:LIST_LIMIT]:
        score = entry.get("score") if isinstance(entry, dict) else None
        if isinstance(score, int | float) and not isinstance(score, bool):
            scores[str(column)[:253]] = float(score)
    return scores


def to_drift_result(doc: dict[str, Any], job_name: str, now: datetime) -> DriftResult:
    columns = doc.get("driftedColumns")
    return DriftResult(
        job_name=job_name,
        start_time=parse_time(doc.get("startTime"), now),
        completion_time=parse_time(doc.get("completionTime"), now),
        rows_reference=doc.get("rowsReference"),
        rows_current=doc.get("rowsCurrent"),
        dataset_drift=doc.get("datasetDrift"),
        drift_share=doc.get("driftShare"),
        drifted_columns=(
            [str(c) for c in columns][:LIST_LIMIT] if isinstance(columns, list) else None
        ),
        report_uri=doc.get("reportUri"),
        report_error=doc.get("reportError") or None,
        performance=to_performance(doc.get("performance")),
        error=doc.get("error") or None,
    )


# Each onDrift action the job took: (warning?, reason, message) per outcome.
_ACTION_EVENTS = {
    "tag": ("ModelVersionTagged", "TagFailed", "tag the model version"),
    "webhook": ("WebhookSent", "WebhookFailed", "post the webhook"),
}


def action_events(doc: dict[str, Any], job_name: str) -> list[tuple[bool, str, str]]:
    """Events for the onDrift actions the run reports having taken (the job takes them, in the
    tenant's namespace with the tenant's credentials; the operator only relays how they went)."""
    taken = doc.get("actions")
    if not isinstance(taken, dict):
        return []
    out: list[tuple[bool, str, str]] = []
    for key, (ok_reason, failed_reason, what) in _ACTION_EVENTS.items():
        outcome = taken.get(key)
        if not isinstance(outcome, dict):
            continue
        if outcome.get("ok") is True:
            out.append((False, ok_reason, f"{job_name}: did {what}"))
        else:
            error = str(outcome.get("error") or "unknown error")[:300]
            out.append((True, failed_reason, f"{job_name}: could not {what}: {error}"))
    return out


def already_recorded(status: DriftMonitorStatus | None, job_name: str) -> bool:
    """A job's real result is recorded once; an error recorded for it may still be replaced
    by the result its pod reports later."""
    for entry in (status.history if status else None) or []:
        if entry.job_name == job_name and entry.error is None:
            return True
    return False


def record_run(status: DriftMonitorStatus | None, result: DriftResult) -> DriftMonitorStatus:
    """lastRun and history with one more run (replacing an entry of the same Job)."""
    current = status or DriftMonitorStatus()
    entry = DriftHistoryEntry(
        time=result.completion_time,  # type: ignore[arg-type]
        drift_share=result.drift_share,
        dataset_drift=result.dataset_drift,
        job_name=result.job_name,
        error=result.error,
    )
    others = [h for h in current.history or [] if h.job_name != result.job_name]
    history = sorted([entry, *others], key=lambda h: h.time, reverse=True)[:HISTORY_LIMIT]
    newest = history[0].job_name == result.job_name
    return current.model_copy(
        update={"last_run": result if newest else current.last_run, "history": history}
    )


def _no_result(last: DriftResult | None) -> tuple[str, str]:
    if last is None:
        return NO_RUN_YET, "No run has finished yet"
    return RUN_FAILED, "The last run failed"


def conditions(
    dm: DriftMonitor,
    status: DriftMonitorStatus,
    target_problem: Problem | None,
    now: datetime,
) -> list[Condition]:
    gen = dm.metadata.get("generation")

    def cond(type_: str, value: bool | None, reason: str, message: str) -> Condition:
        return make_condition(type_, value, reason, message, gen, now)

    last = status.last_run
    if last is None or last.error:
        drift = cond(DRIFT_DETECTED, None, *_no_result(last))
        success = ""
    else:
        success = f"Compared {last.rows_current} current with {last.rows_reference} reference rows"
        share = last.drift_share or 0.0
        drifted = ", ".join(last.drifted_columns or []) or "none"
        threshold = dm.spec.threshold.drift_share
        if last.dataset_drift:
            message = f"Drift share {share:.3f} >= {threshold}: drifted columns {drifted}"
            drift = cond(DRIFT_DETECTED, True, DRIFT_DETECTED, message)
        else:
            message = f"Drift share {share:.3f} < {threshold}; drifted columns: {drifted}"
            drift = cond(DRIFT_DETECTED, False, NO_DRIFT, message)
    found = [drift]
    if dm.spec.performance is not None:
        found.append(performance_condition(last, cond))
    error = last.error if last else None
    ran = cond(LAST_RUN_SUCCEEDED, *last_run_verdict(last is not None, error, success))
    ready = cond(
        READY,
        *scheduled_ready(
            [target_problem, last_run_problem(error)],
            dm.spec.suspend,
            f"Checks run on schedule {dm.spec.schedule}",
        ),
    )
    listed = with_progress([ready, ran, *found], gen, now)
    return keep_transition_times(listed, status.conditions or [])


def performance_condition(
    last: DriftResult | None, cond: Callable[[str, bool | None, str, str], Condition]
) -> Condition:
    """True when a measure breached its bound; Unknown without a verdict (no run, a failed
    run, or too few labels: a window nobody labelled is not a pass)."""
    perf = last.performance if last is not None and not last.error else None
    if perf is None or perf.reason is None:
        return cond(PERFORMANCE_DEGRADED, None, *_no_result(last))
    labelled = f"{perf.labelled} of {perf.predictions} predictions labelled"
    if perf.reason in (TOO_FEW_LABELS, NOT_COMPUTED):
        return cond(PERFORMANCE_DEGRADED, None, perf.reason, f"{perf.message} ({labelled})")
    figures = ", ".join(
        f"{m.name} {m.value:.4g}" for m in perf.metrics or [] if m.value is not None
    )
    if perf.reason == BREACHED:
        return cond(PERFORMANCE_DEGRADED, True, BREACHED, f"{perf.message} ({labelled})")
    return cond(PERFORMANCE_DEGRADED, False, WITHIN_THRESHOLDS, f"{figures} ({labelled})")
