"""plan(): apply what is desired, delete what no longer is."""

from __future__ import annotations

from modelops.operator.planning import plan


def obj(api: str, kind: str, name: str) -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}}


def test_removed_autoscaling_deletes_the_hpa_and_keeps_the_rest() -> None:
    desired = [obj("apps/v1", "Deployment", "m"), obj("v1", "Service", "m")]
    observed = [*desired, obj("autoscaling/v2", "HorizontalPodAutoscaler", "m")]
    p = plan(desired, observed)
    assert p.apply == desired
    assert p.delete == [("autoscaling", "HorizontalPodAutoscaler", "m")]


def test_another_api_version_of_the_same_object_is_not_deleted() -> None:
    desired = [obj("autoscaling/v2", "HorizontalPodAutoscaler", "m")]
    observed = [obj("autoscaling/v1", "HorizontalPodAutoscaler", "m")]
    assert plan(desired, observed).delete == []


def test_nothing_observed_means_nothing_deleted() -> None:
    assert plan([obj("v1", "Service", "m")], []).delete == []
