"""Pure status policy for FeatureMaterializations: runs -> freshness and conditions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelops.operator.api.base import Condition
from modelops.operator.api.v1alpha1.feature_materialization import (
    FeatureMaterialization,
    FeatureMaterializationStatus,
    MaterializationRun,
    ViewFreshness,
)
from modelops.operator.api.v1alpha1.schedule import duration_seconds
from modelops.operator.status.conditions import (
    LAST_RUN_SUCCEEDED,
    NO_RUN_YET,
    READY,
    keep_transition_times,
    last_run_problem,
    last_run_verdict,
    make_condition,
    scheduled_ready,
    with_progress,
)
from modelops.operator.status.runs import parse_time

STALE = "Stale"
# A result's lists are what a job said: capped, so no run can grow status without bound.
LIST_LIMIT = 100
FRESH = "Fresh"
TOO_OLD = "MaxStalenessExceeded"


def to_run(doc: dict[str, Any], job_name: str, now: datetime) -> MaterializationRun:
    views = doc.get("featureViews")
    return MaterializationRun(
        job_name=job_name,
        start_time=parse_time(doc.get("startTime"), now),
        completion_time=parse_time(doc.get("completionTime"), now),
        feature_views=[str(v) for v in views][:LIST_LIMIT] if isinstance(views, list) else None,
        materialized_until=(
            parse_time(doc["materializedUntil"], now) if doc.get("materializedUntil") else None
        ),
        error=doc.get("error") or None,
    )


def already_recorded(status: FeatureMaterializationStatus | None, job_name: str) -> bool:
    last = status.last_run if status else None
    return last is not None and last.job_name == job_name and last.error is None


def record_run(
    status: FeatureMaterializationStatus | None,
    run: MaterializationRun,
    views: dict[str, Any],
    now: datetime,
) -> FeatureMaterializationStatus:
    """A newer run replaces lastRun; per-view freshness only ever moves forward."""
    current = status or FeatureMaterializationStatus()
    last = current.last_run
    if last is not None and last.completion_time and run.completion_time:
        if run.completion_time < last.completion_time and last.job_name != run.job_name:
            return current
    freshness = {v.name: v.materialized_until for v in current.feature_views or []}
    for name, until in (views or {}).items():
        when = parse_time(until, now) if until else None
        if when is not None and (freshness.get(name) is None or when > freshness[name]):  # type: ignore[operator]
            freshness[name] = when
    per_view = [ViewFreshness(name=n, materialized_until=t) for n, t in sorted(freshness.items())]
    known = [t for t in freshness.values() if t is not None]
    return current.model_copy(
        update={
            "last_run": run,
            "feature_views": per_view or current.feature_views,
            "materialized_until": min(known) if known else current.materialized_until,
            "view_count": len(run.feature_views) if run.feature_views else current.view_count,
        }
    )


def conditions(
    fm: FeatureMaterialization, status: FeatureMaterializationStatus, now: datetime
) -> list[Condition]:
    gen = fm.metadata.get("generation")

    def cond(type_: str, value: bool | None, reason: str, message: str) -> Condition:
        return make_condition(type_, value, reason, message, gen, now)

    last = status.last_run
    error = last.error if last else None
    views = ", ".join((last.feature_views if last else None) or []) or "all views"
    ran = cond(
        LAST_RUN_SUCCEEDED, *last_run_verdict(last is not None, error, f"Materialized {views}")
    )
    limit = duration_seconds(fm.spec.max_staleness)
    if status.materialized_until is None:
        stale = cond(STALE, None, NO_RUN_YET, "Nothing materialized yet")
    else:
        age = (now - status.materialized_until).total_seconds()
        until = status.materialized_until.isoformat().replace("+00:00", "Z")
        # The messages name the time, not the age, so status is not rewritten every tick.
        if age > limit:
            stale = cond(
                STALE,
                True,
                TOO_OLD,
                f"Materialized until {until}, older than maxStaleness {fm.spec.max_staleness}",
            )
        else:
            stale = cond(
                STALE,
                False,
                FRESH,
                f"Materialized until {until}, within maxStaleness {fm.spec.max_staleness}",
            )
    too_old = (TOO_OLD, stale.message) if stale.status == "True" else None
    ready = cond(
        READY,
        *scheduled_ready(
            [last_run_problem(error), too_old],
            fm.spec.suspend,
            f"Runs on schedule {fm.spec.schedule}",
        ),
    )
    listed = with_progress([ready, ran, stale], gen, now)
    return keep_transition_times(listed, status.conditions or [])
