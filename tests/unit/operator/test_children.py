"""children.observe: a child's own change (re-apply) told from a change of its status."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from modelops.operator.handlers import children


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    children.forget_all()
    yield
    children.forget_all()


def deployment(uid: str = "u1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "m",
            "uid": uid,
            "resourceVersion": "1",
            "labels": {"a": "b"},
            "annotations": {"modelops.dev/applied-hash": "x"},
        },
        "spec": {"replicas": 1},
        "status": {"readyReplicas": 0},
    }


def test_the_watch_listing_at_start_is_left_to_the_owners_resume() -> None:
    assert children.observe(None, deployment()) == "none"


def test_a_status_change_and_server_bookkeeping_are_status_only() -> None:
    d = deployment()
    children.observe(None, d)
    later = copy.deepcopy(d)
    later["status"]["readyReplicas"] = 1
    later["metadata"]["resourceVersion"] = "2"
    later["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
    assert children.observe("MODIFIED", later) == "status"


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["spec"].update(replicas=3),
        lambda d: d["metadata"]["labels"].update(a="c"),
        lambda d: d["metadata"]["annotations"].update(note="hand"),
        lambda d: d["metadata"].update(ownerReferences=[]),
    ],
)
def test_a_hand_edit_is_a_spec_change(edit: Any) -> None:
    d = deployment()
    children.observe(None, d)
    edited = copy.deepcopy(d)
    edit(edited)
    assert children.observe("MODIFIED", edited) == "spec"


def test_the_echo_of_our_own_apply_is_nothing_new() -> None:
    d = deployment()
    children.observe(None, d)
    applied = copy.deepcopy(d)
    applied["spec"]["replicas"] = 2
    applied["metadata"]["resourceVersion"] = "2"
    children.remember(applied)
    assert children.observe("MODIFIED", applied) == "none"


def test_the_same_version_listed_again_after_a_lost_watch_is_nothing_new() -> None:
    d = deployment()
    children.observe(None, d)
    assert children.observe(None, copy.deepcopy(d)) == "none"


def test_a_forgotten_child_is_taken_for_edited_at_its_next_event() -> None:
    d = deployment()
    children.observe(None, d)
    children.forget("u1")
    later = copy.deepcopy(d)
    later["metadata"]["resourceVersion"] = "2"
    assert children.observe("MODIFIED", later) == "spec"


def test_a_deletion_or_a_child_made_by_another_is_a_spec_change() -> None:
    assert children.observe("ADDED", deployment("new")) == "spec"
    assert children.observe("DELETED", deployment("new")) == "spec"


def test_a_change_missed_while_the_watch_was_away_shows_on_the_relisting() -> None:
    d = deployment()
    children.observe(None, d)
    edited = copy.deepcopy(d)
    edited["spec"]["replicas"] = 5
    assert children.observe(None, edited) == "spec"


def test_a_creation_seen_before_its_apply_returned_is_known_as_ours_after() -> None:
    d = deployment()
    assert children.observe("ADDED", d) == "spec"  # the watch was first
    assert not children.as_applied(d)
    children.remember(copy.deepcopy(d))  # then the apply returned
    moved = copy.deepcopy(d)
    moved["status"]["readyReplicas"] = 1
    moved["metadata"]["resourceVersion"] = "2"
    assert children.as_applied(d) and children.as_applied(moved)


def test_an_edit_or_a_forgotten_child_is_not_as_applied() -> None:
    d = deployment()
    children.remember(d)
    edited = copy.deepcopy(d)
    edited["spec"]["replicas"] = 4
    assert not children.as_applied(edited)
    assert not children.as_applied(deployment("other"))
    children.observe("DELETED", d)
    assert not children.as_applied(d)
