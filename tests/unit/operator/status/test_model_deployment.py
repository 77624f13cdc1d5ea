"""compute_status: observed facts -> conditions, table-tested without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelops.operator.api.v1alpha1.model_deployment import ModelDeploymentStatus, ResolvedModel
from modelops.operator.status import model_deployment as s
from modelops.operator.status import resolution as r

from ..conftest import make_md

NOW = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)
V7 = ResolvedModel(
    uri="models:/fraud@champion", resolved_uri="models:/fraud/7", name="fraud", version="7"
)


def deployment(
    desired: int = 2, ready: int = 2, updated: int = 2, generation: int = 1, observed: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": desired},
        "status": {
            "observedGeneration": observed,
            "replicas": max(desired, updated),
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": "True" if ready else "False"}],
        },
    }


def compute(observed: s.Observed, md: Any = None, now: datetime = NOW) -> ModelDeploymentStatus:
    return s.compute_status(md or make_md(), observed, now, url="http://u", selector="a=b")


def conds(st: ModelDeploymentStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in st.conditions or []}


def ok(dep: dict[str, Any] | None) -> s.Observed:
    return s.Observed(r.Resolution(V7), r.Compatibility(True), dep, V7)


def test_all_replicas_ready_is_ready() -> None:
    st = compute(ok(deployment()))
    assert conds(st) == {
        "Ready": ("True", s.READY_REASON),
        "ModelResolved": ("True", r.RESOLVED),
        "ModelCompatible": ("True", s.COMPATIBLE),
        "Available": ("True", s.MINIMUM_REPLICAS_AVAILABLE),
        "Progressing": ("False", s.ROLLOUT_COMPLETE),
        "Degraded": ("False", s.AS_EXPECTED),
    }
    assert (st.replicas, st.ready_replicas, st.replica_summary) == (2, 2, "2/2")
    assert st.observed_generation == 3
    assert st.model == V7
    assert all(c.observed_generation == 3 for c in st.conditions or [])


@pytest.mark.parametrize(
    ("dep", "ready", "progressing"),
    [
        (deployment(ready=1), ("False", s.ROLLING_OUT), ("True", s.ROLLING_OUT)),
        (deployment(updated=1), ("False", s.ROLLING_OUT), ("True", s.ROLLING_OUT)),
        (deployment(generation=2, observed=1), ("False", s.ROLLING_OUT), ("True", s.ROLLING_OUT)),
        (
            deployment(ready=0, updated=0),
            ("False", s.MINIMUM_REPLICAS_UNAVAILABLE),
            ("True", s.ROLLING_OUT),
        ),
    ],
)
def test_rollout_in_progress_is_not_ready(
    dep: dict[str, Any], ready: tuple[str, str], progressing: tuple[str, str]
) -> None:
    c = conds(compute(ok(dep)))
    assert c["Ready"] == ready
    assert c["Progressing"] == progressing


def test_registry_down_keeps_serving_the_pinned_version_but_reports_it() -> None:
    observed = s.Observed(
        r.Resolution(None, r.REGISTRY_UNAVAILABLE, "connection refused"),
        r.Compatibility(True),
        deployment(),
        V7,
    )
    st = compute(observed)
    c = conds(st)
    assert c["ModelResolved"] == ("False", r.REGISTRY_UNAVAILABLE)
    assert c["Degraded"] == ("True", r.REGISTRY_UNAVAILABLE)
    assert c["Ready"] == ("False", r.REGISTRY_UNAVAILABLE)
    assert c["Available"] == ("True", s.MINIMUM_REPLICAS_AVAILABLE)
    assert st.model == V7, "the version still served stays in status"
    assert st.last_failure is not None and st.last_failure.reason == r.REGISTRY_UNAVAILABLE


def test_model_missing_before_anything_runs() -> None:
    observed = s.Observed(
        r.Resolution(None, r.MODEL_NOT_FOUND, "no alias champion"),
        r.Compatibility(None),
        None,
        None,
    )
    st = compute(observed)
    c = conds(st)
    assert c["Ready"] == ("False", r.MODEL_NOT_FOUND)
    assert c["Available"] == ("False", s.DEPLOYMENT_MISSING)
    assert c["Progressing"][0] == "False"
    assert c["ModelCompatible"] == ("Unknown", s.NOT_CHECKED)
    assert st.model is None


def test_incompatible_model_is_degraded_with_the_packages_named() -> None:
    observed = s.Observed(
        r.Resolution(V7),
        r.Compatibility(False, "scikit-learn==1.2.2 (runtime ships 1.9)"),
        None,
        None,
    )
    st = compute(observed)
    c = conds(st)
    assert c["ModelCompatible"] == ("False", s.INCOMPATIBLE)
    assert c["Degraded"] == ("True", s.INCOMPATIBLE)
    assert c["Ready"][0] == "False"
    degraded = next(x for x in st.conditions or [] if x.type == "Degraded")
    assert "scikit-learn==1.2.2" in degraded.message


def test_suspended_is_not_ready_with_reason_suspended() -> None:
    md = make_md({"model": {"uri": "models:/fraud@champion"}, "suspend": True})
    st = compute(ok(deployment(desired=0, ready=0, updated=0)), md)
    c = conds(st)
    assert c["Ready"] == ("False", s.SUSPENDED)
    assert c["Available"] == ("False", s.SUSPENDED)
    assert st.replicas == 0


def test_progress_deadline_exceeded_is_degraded() -> None:
    dep = deployment(ready=1)
    dep["status"]["conditions"].append(
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    )
    c = conds(compute(ok(dep)))
    assert c["Degraded"] == ("True", s.ROLLOUT_FAILED)
    assert c["Progressing"] == ("False", s.ROLLOUT_FAILED)


def test_transition_time_kept_while_status_unchanged_and_moved_on_change() -> None:
    first = compute(ok(deployment()))
    md = make_md()
    md.status = first
    later = NOW + timedelta(minutes=5)
    same = compute(ok(deployment()), md, later)
    assert same.wire() == first.wire(), "an unchanged world must not rewrite status"
    changed = compute(ok(deployment(ready=1)), md, later)
    times = {c.type: c.last_transition_time for c in changed.conditions or []}
    assert times["Ready"] == later and times["Progressing"] == later
    assert times["ModelResolved"] == NOW


@pytest.mark.parametrize(
    ("fresh", "expected"),
    [
        ((True, "Fresh", "ok"), ("True", "Fresh")),
        ((False, "FeaturesStale", "old"), ("False", "FeaturesStale")),
        ((None, "NotMaterializedYet", ""), ("Unknown", "NotMaterializedYet")),
    ],
)
def test_features_fresh_is_reported_without_blocking_ready(
    fresh: tuple[bool | None, str, str], expected: tuple[str, str]
) -> None:
    observed = s.Observed(r.Resolution(V7), r.Compatibility(True), deployment(), V7, fresh)
    c = conds(compute(observed))
    assert c["FeaturesFresh"] == expected
    assert c["Ready"] == ("True", s.READY_REASON)
    assert "FeaturesFresh" not in conds(compute(ok(deployment())))
