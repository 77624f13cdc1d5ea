"""FeatureMaterialization status policy: freshness moves forward, Stale follows the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelops.operator.api.v1alpha1.feature_materialization import (
    FeatureMaterialization,
    FeatureMaterializationStatus,
)
from modelops.operator.api.v1alpha1.schedule import duration_seconds
from modelops.operator.status import conditions as shared
from modelops.operator.status import feature_materialization as fs

NOW = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)


def fm(**spec: object) -> FeatureMaterialization:
    return FeatureMaterialization.model_validate(
        {
            "metadata": {"name": "f", "namespace": "n", "generation": 1},
            "spec": {"featureStore": {"configMapRef": {"name": "repo"}}, **spec},
        }
    )


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def run(job: str, until: datetime, views: dict[str, datetime] | None = None, **doc: object):
    views = views or {"v": until}
    d = {
        "featureViews": list(views),
        "materializedUntil": iso(until),
        "completionTime": iso(until),
        **doc,
    }
    return fs.to_run(d, job, NOW), {k: iso(v) for k, v in views.items()}


def conds(f: FeatureMaterialization, st: FeatureMaterializationStatus, now: datetime = NOW):
    return {c.type: (c.status, c.reason) for c in fs.conditions(f, st, now)}


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h", 3600), ("2d", 172800)])
def test_durations(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


def test_fresh_then_stale_as_the_clock_moves() -> None:
    r, views = run("j1", NOW - timedelta(minutes=5))
    st = fs.record_run(None, r, views, NOW)
    assert st.materialized_until == NOW - timedelta(minutes=5)
    f = fm(maxStaleness="30m")
    assert conds(f, st)["Stale"] == ("False", fs.FRESH)
    assert conds(f, st)["Ready"] == ("True", shared.SCHEDULED)
    later = NOW + timedelta(minutes=40)
    assert conds(f, st, later)["Stale"] == ("True", fs.TOO_OLD)
    assert conds(f, st, later)["Ready"] == ("False", fs.TOO_OLD)


def test_per_view_freshness_only_moves_forward_and_the_oldest_view_counts() -> None:
    t1, t2 = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    r, views = run("j1", t1, {"a": t2, "b": t1})
    st = fs.record_run(None, r, views, NOW)
    assert st.materialized_until == t1
    assert {v.name: v.materialized_until for v in st.feature_views or []} == {"a": t2, "b": t1}
    r2, views2 = run("j2", NOW, {"b": NOW, "a": t1})  # a window backfill of older data for a
    st = fs.record_run(st, r2, views2, NOW)
    assert {v.name: v.materialized_until for v in st.feature_views or []} == {"a": t2, "b": NOW}
    assert st.materialized_until == t2
    assert st.view_count == 2


def test_failed_run_keeps_freshness_and_is_not_ready() -> None:
    r, views = run("j1", NOW - timedelta(minutes=1))
    st = fs.record_run(None, r, views, NOW)
    bad = fs.to_run({"error": "could not connect to Redis", "completionTime": iso(NOW)}, "j2", NOW)
    st = fs.record_run(st, bad, {}, NOW)
    c = conds(fm(), st)
    assert c["LastRunSucceeded"] == ("False", shared.RUN_FAILED)
    assert c["Ready"] == ("False", shared.RUN_FAILED)
    assert c["Stale"] == ("False", fs.FRESH)
    assert st.materialized_until == NOW - timedelta(minutes=1)
    assert not fs.already_recorded(st, "j2") and not fs.already_recorded(st, "j1")


def test_nothing_yet() -> None:
    c = conds(fm(), FeatureMaterializationStatus())
    assert c == {
        "Ready": ("True", shared.SCHEDULED),
        "LastRunSucceeded": ("Unknown", shared.NO_RUN_YET),
        "Stale": ("Unknown", shared.NO_RUN_YET),
    }


def test_messages_do_not_change_while_nothing_changes() -> None:
    r, views = run("j1", NOW - timedelta(minutes=1))
    st = fs.record_run(None, r, views, NOW)
    first = fs.conditions(fm(), st, NOW)
    st = st.model_copy(update={"conditions": first})
    again = fs.conditions(fm(), st, NOW + timedelta(seconds=30))
    assert [c.model_dump() for c in again] == [c.model_dump() for c in first]
