"""plan(): apply what is desired and not already so, delete what no longer is."""

from __future__ import annotations

import copy

from modelops.operator.planning import APPLIED_HASH, contains, plan, stamped


def obj(api: str, kind: str, name: str, **spec: object) -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": dict(spec)}


def as_applied(desired: dict) -> dict:
    """What the server returns for an applied child: our fields, defaults and status."""
    out = copy.deepcopy(stamped(desired))
    out["metadata"].update(uid="u1", resourceVersion="7", generation=1)
    out["spec"]["defaulted"] = True
    out["status"] = {"replicas": 1}
    return out


def test_removed_autoscaling_deletes_the_hpa_and_keeps_the_rest() -> None:
    desired = [obj("apps/v1", "Deployment", "m"), obj("v1", "Service", "m")]
    observed = [*desired, obj("autoscaling/v2", "HorizontalPodAutoscaler", "m")]
    p = plan(desired, observed)
    assert [d["kind"] for d in p.apply] == ["Deployment", "Service"]
    assert p.delete == [("autoscaling", "HorizontalPodAutoscaler", "m")]


def test_another_api_version_of_the_same_object_is_not_deleted() -> None:
    desired = [obj("autoscaling/v2", "HorizontalPodAutoscaler", "m")]
    observed = [obj("autoscaling/v1", "HorizontalPodAutoscaler", "m")]
    assert plan(desired, observed).delete == []


def test_nothing_observed_means_nothing_deleted() -> None:
    assert plan([obj("v1", "Service", "m")], []).delete == []


def test_a_child_as_applied_is_not_applied_again() -> None:
    desired = obj("apps/v1", "Deployment", "m", replicas=2, ports=[{"port": 80}])
    assert plan([desired], [as_applied(desired)]).apply == []


def test_a_hand_edit_of_an_applied_field_is_applied_back() -> None:
    desired = obj("apps/v1", "Deployment", "m", replicas=2)
    edited = as_applied(desired)
    edited["spec"]["replicas"] = 5
    assert [d["spec"]["replicas"] for d in plan([desired], [edited]).apply] == [2]


def test_a_field_dropped_from_the_desired_child_is_applied_away() -> None:
    """The observed child still has the field (a subset check alone would keep it): the hash
    of what was applied tells."""
    before = obj("v1", "Service", "m", type="ClusterIP", extra="x")
    after = obj("v1", "Service", "m", type="ClusterIP")
    assert contains(as_applied(before)["spec"], after["spec"])
    assert [d["spec"] for d in plan([after], [as_applied(before)]).apply] == [after["spec"]]


def test_the_hash_is_of_the_content() -> None:
    a, b = obj("v1", "Service", "m", type="A"), obj("v1", "Service", "m", type="B")
    assert (
        stamped(a)["metadata"]["annotations"][APPLIED_HASH]
        == stamped(dict(a))["metadata"]["annotations"][APPLIED_HASH]
    )
    assert (
        stamped(a)["metadata"]["annotations"][APPLIED_HASH]
        != stamped(b)["metadata"]["annotations"][APPLIED_HASH]
    )


def test_lists_must_match_in_length_and_order() -> None:
    assert contains([{"a": 1, "b": 2}], [{"a": 1}])
    assert not contains([{"a": 1}, {"a": 2}], [{"a": 1}])
    assert not contains([{"a": 2}, {"a": 1}], [{"a": 1}, {"a": 2}])
    assert not contains({"a": "1"}, {"a": 1})
