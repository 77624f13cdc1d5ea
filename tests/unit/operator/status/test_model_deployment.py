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


def test_under_an_hpa_ready_waits_for_min_replicas_not_the_deployments_first_count() -> None:
    # The Deployment is created at 1 replica; the HPA's first sync scales it to minReplicas.
    scaling = {"minReplicas": 2, "maxReplicas": 4}
    md = make_md({"model": {"uri": "models:/fraud@champion"}, "autoscaling": scaling})
    early = compute(ok(deployment(desired=1, ready=1, updated=1)), md)
    assert conds(early)["Ready"] == ("False", s.ROLLING_OUT)
    assert early.replica_summary == "1/2"
    scaled = compute(ok(deployment(desired=2, ready=2)), md)
    assert conds(scaled)["Ready"] == ("True", s.READY_REASON)
    # Above the floor, the HPA's count is what counts.
    assert compute(ok(deployment(desired=3, ready=3, updated=3)), md).replica_summary == "3/3"
    suspended = make_md(
        {"model": {"uri": "models:/fraud@champion"}, "autoscaling": scaling, "suspend": True}
    )
    assert s.replica_floor(suspended) == 0


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


# The periodic pass: what a settled ModelDeployment owes it.


def settled_md(uri: str = "models:/fraud@champion", generation: int = 3, **status: Any) -> Any:
    """A ModelDeployment whose last pass saw generation 3 through to Ready, serving V7."""
    md = make_md({"model": {"uri": uri}}, generation=generation)
    served = V7.model_copy(update={"uri": uri})
    st = compute(s.Observed(r.Resolution(served), r.Compatibility(True), deployment(), served), md)
    md.status = st.model_copy(update={"observed_generation": 3, **status})
    return md


@pytest.mark.parametrize(
    ("uri", "fixed"),
    [
        ("models:/fraud/7", True),
        ("runs:/abc/model", True),
        ("s3://bucket/model", True),
        ("models:/fraud@champion", False),
        ("models:/fraud/Production", False),
        ("models:/fraud/latest", False),
    ],
)
def test_only_aliases_stages_and_latest_can_move(uri: str, fixed: bool) -> None:
    assert s.immutable(uri) is fixed


def test_a_settled_pinned_version_owes_the_periodic_pass_nothing() -> None:
    md = settled_md("models:/fraud/7")
    assert s.settled(md)
    assert s.periodic(md, since_full=10, resync_seconds=3600) == "none"
    assert s.periodic(settled_md(), since_full=10, resync_seconds=3600) == "poll"


def test_a_full_pass_when_unsettled_or_once_per_resync_interval() -> None:
    assert s.periodic(settled_md(), since_full=3600, resync_seconds=3600) == "full"
    assert s.periodic(settled_md(), since_full=None, resync_seconds=3600) == "full"
    changed = settled_md(generation=4)  # a spec change not yet seen through
    assert not s.settled(changed)
    assert s.periodic(changed, since_full=1, resync_seconds=3600) == "full"
    failing = settled_md(conditions=[])
    assert s.periodic(failing, since_full=1, resync_seconds=3600) == "full"


def md_seeing(dep: dict[str, Any] | None, uri: str = "models:/fraud/7", **changes: Any) -> Any:
    """A ModelDeployment whose last pass of generation 3 saw `dep` as its Deployment."""
    md = make_md({"model": {"uri": uri}}, generation=3)
    served = V7.model_copy(update={"uri": uri})
    observed = s.Observed(r.Resolution(served), r.Compatibility(True), dep, served)
    md.status = compute(observed, md).model_copy(update={"observed_generation": 3, **changes})
    return md


def test_pods_still_starting_owe_the_periodic_pass_nothing_but_a_poll() -> None:
    starting = md_seeing(deployment(desired=1, ready=0, updated=1))
    assert s.waiting(starting) and not s.settled(starting)
    assert s.periodic(starting, since_full=10, resync_seconds=3600) == "none"
    polled = md_seeing(deployment(desired=1, ready=0, updated=1), uri="models:/fraud@champion")
    assert s.periodic(polled, since_full=10, resync_seconds=3600) == "poll"
    rolling = md_seeing(deployment(desired=2, ready=2, updated=1))
    assert s.waiting(rolling)
    # Once per resync interval all the same: a watch event missed is restored then.
    assert s.periodic(starting, since_full=3600, resync_seconds=3600) == "full"


def test_what_a_status_pass_cannot_mend_still_gets_full_passes() -> None:
    missing = md_seeing(None)  # the Deployment is gone: only a full pass makes it again
    stuck = deployment(desired=1, ready=0, updated=1)
    stuck["status"]["conditions"].append(
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    )
    for md in (missing, md_seeing(stuck), md_seeing(deployment(ready=0), observed_generation=2)):
        assert not s.waiting(md)
        assert s.periodic(md, since_full=10, resync_seconds=3600) == "full"


def test_a_recent_full_pass_stands_for_the_one_an_unsettled_object_owes() -> None:
    fresh = make_md({"model": {"uri": "models:/fraud/7"}})
    assert fresh.status is None  # as listed before its create handler's pass
    assert s.periodic(fresh, since_full=5, resync_seconds=3600, recent=30) == "none"
    assert s.periodic(fresh, since_full=30, resync_seconds=3600, recent=30) == "full"
    assert s.periodic(fresh, since_full=5, resync_seconds=3600) == "full"
    aliased = make_md({"model": {"uri": "models:/fraud@champion"}})
    assert s.periodic(aliased, since_full=5, resync_seconds=3600, recent=30) == "none"


def test_a_resolved_numbered_version_is_not_looked_up_again() -> None:
    md = settled_md("models:/fraud/7")
    again = s.still_resolved(md)
    assert again is not None and again.model is not None
    assert again.model.resolved_uri == "models:/fraud/7"
    assert s.still_resolved(settled_md()) is None  # an alias can move
    assert s.still_resolved(settled_md("models:/fraud/7", generation=4)) is None
    other = make_md({"model": {"uri": "models:/fraud/8"}})
    other.status = md.status
    assert s.still_resolved(other) is None  # the spec names another version now


def test_the_pre_flight_verdict_stands_for_the_same_version_and_spec() -> None:
    md = settled_md()
    same = r.Resolution(V7)
    verdict = s.still_compatible(md, same)
    assert verdict is not None and verdict.compatible is True
    moved = r.Resolution(V7.model_copy(update={"resolved_uri": "models:/fraud/8", "version": "8"}))
    assert s.still_compatible(md, moved) is None
    assert s.still_compatible(settled_md(generation=4), same) is None


def test_a_failed_pass_is_never_settled_and_a_suspension_is() -> None:
    from modelops.operator.api.base import Condition

    def with_ready(status: str, reason: str) -> Any:
        md = settled_md("models:/fraud/7")
        assert md.status is not None
        conditions = [c for c in md.status.conditions or [] if c.type != "Ready"]
        ready = Condition(
            type="Ready", status=status, reason=reason, message="m", last_transition_time=NOW
        )
        md.status = md.status.model_copy(update={"conditions": [*conditions, ready]})
        return md

    refused = with_ready("False", "ApplyFailed")
    assert s.failing(refused) and not s.settled(refused)
    assert s.periodic(refused, since_full=1, resync_seconds=3600) == "full"
    suspended = with_ready("False", "Suspended")
    assert s.settled(suspended) and not s.failing(suspended)


def test_a_failed_pre_flight_is_checked_again() -> None:
    md = settled_md()
    assert md.status is not None
    flipped = [
        c.model_copy(update={"status": "False", "reason": "Incompatible"})
        if c.type == "ModelCompatible"
        else c
        for c in md.status.conditions or []
    ]
    md.status = md.status.model_copy(update={"conditions": flipped})
    assert s.still_compatible(md, r.Resolution(V7)) is None


def test_a_candidate_alias_is_polled_even_beside_a_pinned_model() -> None:
    md = settled_md("models:/fraud/7")
    md.spec.rollout.candidate = "models:/fraud@challenger"
    assert s.movable(md) == ["models:/fraud@challenger"]
    assert s.periodic(md, since_full=10, resync_seconds=3600) == "poll"
    md.spec.rollout.candidate = "models:/fraud/8"
    assert s.periodic(md, since_full=10, resync_seconds=3600) == "none"
